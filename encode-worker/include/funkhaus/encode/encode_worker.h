// The funkhaus-encode process: command line, supervisor channel (fd 3), rings, and the loop
// that runs EncodeStage, obeys commands and heartbeats. Main thread of funkhaus-encode.
#pragma once

#include <string>

#include "funkhaus/common/result.h"
#include "funkhaus/encode/encoder.h"

namespace funkhaus::encode {

struct WorkerArguments {
  EncoderConfig config;
  bool help = false;  // --help: print help_text and exit 0
  std::string help_text;
};

// --encoder NAME, --bitrate BPS, --fps N, --preset NAME. The error names the bad argument.
Result<WorkerArguments> parseArguments(int argc, const char* const* argv);

// Runs the worker on the channel at fd 3 until stop or SIGTERM; returns its exit code
// (abi/exit_codes.h). Expects the roles kStatusPage, kFrameRingIn and kPacketRingOut.
int runEncodeWorker(const EncoderConfig& config);

}  // namespace funkhaus::encode
