// funkhausctl's end of funkhausd's control socket (Linux) or named pipe (Windows), and its
// terminal input; implemented in common/platform/{linux,windows}/. funkhausctl's main thread.
#pragma once

#include <string>

#include "funkhaus/common/result.h"

namespace funkhaus::supervisor {

// Sends one request line (without its newline) to funkhausd at `address` and returns the reply
// line. Errors say whether funkhausd is not there, refused us or broke off.
Result<std::string> callControl(const std::string& address, const std::string& line);

// Where funkhausd listens when funkhausctl is not told. Linux: the system funkhausd's socket if
// it exists, else this user's funkhausd's. Windows: kWindowsControlPipe (control_protocol.h).
std::string defaultControlAddress();

// --socket's help text: what the address is and its default on this platform.
std::string controlAddressHelp();

// Whether standard input is a terminal (a console on Windows).
bool inputIsTerminal();

// One line of standard input (without CR or LF) after `prompt` on standard error; `hide`: not
// echoed when the input is a terminal. Error: the input ended before anything was read.
Result<std::string> readInputLine(const char* prompt, bool hide);

}  // namespace funkhaus::supervisor
