// The funkhaus-input worker: command line, the choice of sinks and the stage on the worker runtime
// that reads the input ring. Runs as its own process (main.cpp), started by funkhausd with the
// channel at fd 3.
#pragma once

#include <string>

#include "funkhaus/common/result.h"

namespace funkhaus::input {

// Where keys, pointer, buttons and wheel go. Text goes to XTEST whenever there is a display;
// pads, touch and pen to uinput whenever funkhausd handed over uinput fds.
enum class KeyboardMouse {
  kAuto,    // XTEST when the X display opens, else uinput
  kXtest,   // XTEST only: no display is an error
  kUinput,  // uinput only
};

struct InputOptions {
  KeyboardMouse keyboard_mouse = KeyboardMouse::kAuto;
  std::string display;  // empty: $DISPLAY
};

// Parses --keyboard-mouse auto|xtest|uinput and --display. An error carries the message for
// stderr (exit kExitBadConfig); `--help` is reported as an error whose message is the help text,
// with *help set.
Result<InputOptions> parseInputOptions(int argc, const char* const* argv, bool* help = nullptr);

// Runs the worker on the worker runtime: attaches the input ring, releases what a predecessor
// left pressed, applies input until stop or SIGTERM. Returns the process exit code.
int runInputWorker(int argc, const char* const* argv);

}  // namespace funkhaus::input
