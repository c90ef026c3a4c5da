// The funkhaus-capture worker: command line and the paced capture stage on the worker runtime.
// Runs as its own process (main.cpp), started by funkhausd with the channel at fd 3.
#pragma once

#include <cstdint>
#include <string>

#include "funkhaus/capture/capture_source.h"
#include "funkhaus/common/result.h"

namespace funkhaus::capture {

struct CaptureOptions {
  SourceConfig source;
  uint32_t fps = 60;
};

// Parses the worker's arguments (CLI11): --source synthetic|x11, --width, --height, --fps,
// --barcode, --no-cursor. An error carries the message for stderr (exit kExitBadConfig);
// `--help` is reported as an error whose message is the help text, with *help set.
Result<CaptureOptions> parseCaptureOptions(int argc, const char* const* argv, bool* help = nullptr);

// Runs the worker on the worker runtime (channel at fd 3): attaches the frame ring, captures
// until stop or SIGTERM. Returns the process exit code (abi/exit_codes.h).
int runCaptureWorker(int argc, const char* const* argv);

}  // namespace funkhaus::capture
