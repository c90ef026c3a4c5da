// funkhaus-input: the input worker process (see input_worker.h).
#include "funkhaus/input/input_worker.h"

int main(int argc, char** argv) { return funkhaus::input::runInputWorker(argc, argv); }
