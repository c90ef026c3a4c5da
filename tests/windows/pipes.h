// Named pipes for the Windows tests: a message-mode pipe's server end of one instance, a client
// end opened by name (as a worker opens its channel), and names no other test uses.
#pragma once

#include <windows.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "funkhaus/platform/handle.h"
#include "funkhaus/platform/handle_passing.h"

namespace funkhaus::test {

inline platform::UniqueHandle pipeServer(const std::wstring& name) {
  return platform::UniqueHandle(CreateNamedPipeW(
      name.c_str(), PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1,
      65536, 65536, 0, nullptr));
}

// A pipe name (ASCII) as a command-line argument and back.
inline std::string narrowName(const std::wstring& name) { return {name.begin(), name.end()}; }
inline std::wstring wideName(const std::string& name) { return {name.begin(), name.end()}; }

// The client end, as a worker opens its channel; invalid if it cannot be opened.
inline platform::UniqueHandle pipeClient(const std::wstring& name) {
  auto client = platform::openMessageChannel(narrowName(name));
  return client ? std::move(*client) : platform::UniqueHandle();
}

inline std::wstring pipeName(const char* what) {
  static int counter = 0;
  return L"\\\\.\\pipe\\funkhaus-test-" + std::to_wstring(GetCurrentProcessId()) + L"-" +
         std::to_wstring(++counter) + std::wstring(what, what + std::strlen(what));
}

// Waits until the child `process` has opened the pipe `name`, whose server end is `server`.
// False: it ended first (a watchdog then opens the pipe here to end ConnectNamedPipe's wait).
inline bool awaitChildClient(HANDLE server, const std::wstring& name, HANDLE process) {
  std::atomic<bool> connected{false};
  platform::UniqueHandle stand_in;
  std::thread watchdog([&] {
    while (!connected.load())
      if (WaitForSingleObject(process, 10) == WAIT_OBJECT_0) {
        if (!connected.load()) stand_in = pipeClient(name);
        return;
      }
  });
  const bool ok = ConnectNamedPipe(server, nullptr) || GetLastError() == ERROR_PIPE_CONNECTED;
  connected.store(true);
  watchdog.join();
  ULONG client = 0;
  return ok && GetNamedPipeClientProcessId(server, &client) && client == GetProcessId(process);
}

}  // namespace funkhaus::test
