// Runs a shell command for a test and keeps what it printed on stdout (add " 2>&1" to the
// command for stderr too) and how it ended. Any thread.
#pragma once

#include <string>

namespace funkhaus::test {

struct ShellRun {
  int exit_code = -1;  // the exit status, or -1 when it could not run or died by a signal
  std::string out;
  bool ok() const { return exit_code == 0; }
};

ShellRun runShell(const std::string& command);

}  // namespace funkhaus::test
