// funkhaus-audio: the audio worker process (see audio_worker.h).
#include "funkhaus/audio/audio_worker.h"

int main(int argc, char** argv) { return funkhaus::audio::runAudioWorker(argc, argv); }
