// funkhausctl's end on Windows: the control pipe (control_pipe.h), the console for hidden input.
#include <windows.h>

#include <cstdio>

#include "funkhaus/supervisor/control_client.h"
#include "funkhaus/supervisor/control_protocol.h"
#include "pipe_io.h"
#include "windows_error.h"

namespace funkhaus::supervisor {

using platform::windows::errorText;

Result<std::string> callControl(const std::string& address, const std::string& request) {
  const std::wstring name = platform::windows::widen(address);
  HANDLE handle = INVALID_HANDLE_VALUE;
  // Every instance busy (other funkhausctl calls): wait for one, 5 s at most.
  const ULONGLONG give_up = GetTickCount64() + 5000;
  for (;;) {
    handle = CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, 0,
                         nullptr);
    if (handle != INVALID_HANDLE_VALUE) break;
    const DWORD error = GetLastError();
    if (error == ERROR_PIPE_BUSY && GetTickCount64() < give_up) {
      WaitNamedPipeW(name.c_str(), 1000);
      continue;
    }
    if (error == ERROR_FILE_NOT_FOUND)
      return makeError(
          "cannot reach funkhausd at {}: no such pipe (is the funkhaus service "
          "running?)",
          address);
    if (error == ERROR_ACCESS_DENIED)
      return makeError(
          "permission denied at {}: only Administrators and members of group "
          "'funkhaus' may use funkhausctl",
          address);
    return makeError("cannot reach funkhausd at {}: {}", address, errorText(error));
  }
  platform::UniqueHandle pipe(handle);
  const std::string line = request + "\n";
  DWORD written = 0;
  if (!WriteFile(handle, line.data(), static_cast<DWORD>(line.size()), &written, nullptr) ||
      written != line.size())
    return makeError("writing to {}: {}", address, platform::windows::lastErrorText());
  std::string reply;
  char buffer[4096];
  while (reply.empty() || reply.back() != '\n') {
    DWORD n = 0;
    if (!ReadFile(handle, buffer, sizeof buffer, &n, nullptr)) {
      const DWORD error = GetLastError();
      if (platform::windows::pipeHungUp(error)) break;
      return makeError("reading from {}: {}", address, errorText(error));
    }
    if (n == 0) break;
    reply.append(buffer, n);
  }
  if (reply.empty()) return makeError("funkhausd closed the connection without a reply");
  return reply;
}

std::string defaultControlAddress() { return kWindowsControlPipe; }

std::string controlAddressHelp() {
  return std::string("Control pipe of funkhausd (default: ") + kWindowsControlPipe + ")";
}

bool inputIsTerminal() {
  DWORD mode = 0;
  return GetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), &mode) != 0;
}

Result<std::string> readInputLine(const char* prompt, bool hide) {
  const HANDLE input = GetStdHandle(STD_INPUT_HANDLE);
  DWORD saved = 0;
  const bool console = hide && GetConsoleMode(input, &saved) != 0;
  if (console) {
    std::fprintf(stderr, "%s", prompt);
    SetConsoleMode(input, saved & ~static_cast<DWORD>(ENABLE_ECHO_INPUT));
  }
  std::string text;
  int c = 0;
  while ((c = std::getchar()) != EOF && c != '\n') text.push_back(static_cast<char>(c));
  if (console) {
    SetConsoleMode(input, saved);
    std::fprintf(stderr, "\n");
  }
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (c == EOF && text.empty()) return makeError("no password given");
  return text;
}

}  // namespace funkhaus::supervisor
