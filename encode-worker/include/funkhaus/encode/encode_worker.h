// The funkhaus-encode process: command line, and the worker stage on the one worker runtime
// that attaches the rings and runs EncodeStage. Main thread of funkhaus-encode.
#pragma once

#include <string>

#include "funkhaus/common/result.h"
#include "funkhaus/encode/encoder.h"
#include "funkhaus/encode/repeat_policy.h"

namespace funkhaus::encode {

struct WorkerArguments {
  EncoderConfig config;
  RepeatOptions repeats;  // --idle-fps
  bool help = false;      // --help: print help_text and exit 0
  std::string help_text;
};

// --encoder NAME, --bitrate BPS, --fps N, --preset NAME, --idle-fps N. The error names the bad
// argument.
Result<WorkerArguments> parseArguments(int argc, const char* const* argv);

// Runs the worker on the worker runtime (channel at fd 3) until stop or SIGTERM; returns its
// exit code (abi/exit_codes.h). Expects the frame ring in and the video packet ring out.
int runEncodeWorker(const EncoderConfig& config, const RepeatOptions& repeats = {});

}  // namespace funkhaus::encode
