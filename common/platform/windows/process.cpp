// ProcessHandle on Windows: OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION), the
// process handle is signalled once the process has ended, GetExitCodeProcess for its code. A
// handle keeps the process object (and its id) alive, as a zombie does on Linux.
#include "funkhaus/platform/process.h"

#include <windows.h>

#include <cstdio>

#include "windows_error.h"

namespace funkhaus::platform {

ProcessId currentProcessId() { return static_cast<ProcessId>(GetCurrentProcessId()); }

std::string describeExit(const ExitStatus& status) {
  if (status.signaled) return "killed by signal " + std::to_string(status.code);
  const auto code = static_cast<uint32_t>(status.code);
  if (code >= 0xC0000000u) {  // an NTSTATUS (0xC0000005: access violation), as Windows shows it
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08X", code);
    return std::string("exit code ") + hex;
  }
  return "exit code " + std::to_string(status.code);
}

Result<ProcessHandle> ProcessHandle::open(ProcessId pid) {
  if (pid == 0) return makeError(ErrorCode::kPeerLost, "process {}: not a valid process id", pid);
  HANDLE h = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (h == nullptr) {
    const DWORD err = GetLastError();
    if (err == ERROR_INVALID_PARAMETER)  // what OpenProcess says for an id nobody has
      return makeError(ErrorCode::kPeerLost, "process {}: no such process", pid);
    return makeError("process {}: OpenProcess failed: {}", pid, windows::errorText(err));
  }
  return ProcessHandle(pid, UniqueHandle(h));
}

bool ProcessHandle::waitEnded(int64_t timeout_ns) const {
  if (!valid()) return true;
  return WaitForSingleObject(handle_.get(), windows::timeoutMs(timeout_ns)) == WAIT_OBJECT_0;
}

std::optional<ExitStatus> ProcessHandle::reap() {
  if (!valid() || !ended()) return std::nullopt;
  DWORD code = 0;
  const bool known = GetExitCodeProcess(handle_.get(), &code) != 0;
  close();
  if (!known) return ExitStatus{true, 0};  // gone, how unknown
  return ExitStatus{false, static_cast<int>(code)};
}

bool processGone(ProcessId pid) {
  auto handle = ProcessHandle::open(pid);
  if (!handle) return handle.error().code == ErrorCode::kPeerLost;
  return handle->ended();
}

}  // namespace funkhaus::platform
