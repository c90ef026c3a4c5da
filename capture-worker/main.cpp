// funkhaus-capture: the capture worker process (see capture_worker.h).
#include "funkhaus/capture/capture_worker.h"

int main(int argc, char** argv) { return funkhaus::capture::runCaptureWorker(argc, argv); }
