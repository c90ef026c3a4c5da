// spawnSelf() and the child roles every Windows test may use (exit, sleep).
#include "child_process.h"

// After windows.h (child_process.h).
#include <tlhelp32.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>

#include "test_util.h"

namespace funkhaus::test {
namespace {

std::map<std::string, ChildRole::Function>& roles() {
  static std::map<std::string, ChildRole::Function> table;
  return table;
}

// One kill-on-close job for every child: when this program ends, so do they.
HANDLE job() {
  static HANDLE handle = [] {
    HANDLE j = CreateJobObjectW(nullptr, nullptr);
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    SetInformationJobObject(j, JobObjectExtendedLimitInformation, &limits, sizeof limits);
    return j;
  }();
  return handle;
}

std::wstring widen(const std::string& s) { return std::wstring(s.begin(), s.end()); }

std::wstring selfPath() {
  wchar_t path[MAX_PATH];
  const DWORD n = GetModuleFileNameW(nullptr, path, MAX_PATH);
  return std::wstring(path, n);
}

int exitRole(int argc, char** argv) { return argc > 1 ? std::atoi(argv[1]) : 0; }
int sleepRole(int, char**) {
  Sleep(INFINITE);
  return 0;
}
ChildRole exit_role("exit", exitRole);
ChildRole sleep_role("sleep", sleepRole);

}  // namespace

ChildRole::ChildRole(const char* name, Function function) { roles()[name] = function; }

int runChild(int argc, char** argv) {
  auto it = roles().find(argv[0]);
  if (it == roles().end()) {
    std::fprintf(stderr, "unknown child role %s\n", argv[0]);
    return 100;
  }
  return it->second(argc, argv);
}

std::string selfProgram() {
  char path[MAX_PATH];
  const DWORD n = GetModuleFileNameA(nullptr, path, MAX_PATH);
  return std::string(path, n);
}

std::string handleArg(HANDLE handle) { return std::to_string(reinterpret_cast<uintptr_t>(handle)); }

HANDLE handleFromArg(const char* arg) {
  return reinterpret_cast<HANDLE>(static_cast<uintptr_t>(std::strtoull(arg, nullptr, 10)));
}

Child spawnSelf(const std::string& role, const std::vector<std::string>& args,
                const std::vector<HANDLE>& inherit) {
  std::wstring command = L"\"" + selfPath() + L"\" --child " + widen(role);
  for (const auto& a : args) command += L" " + widen(a);
  // Inheritable for this CreateProcess only, and only these handles (PROC_THREAD_ATTRIBUTE_
  // HANDLE_LIST): nothing else this program holds leaks into the child.
  for (HANDLE h : inherit) SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
  SIZE_T size = 0;
  InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
  std::vector<char> storage(size);
  auto* attributes = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(storage.data());
  InitializeProcThreadAttributeList(attributes, 1, 0, &size);
  std::vector<HANDLE> list = inherit;
  if (!list.empty())
    UpdateProcThreadAttribute(attributes, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, list.data(),
                              list.size() * sizeof(HANDLE), nullptr, nullptr);
  STARTUPINFOEXW startup{};
  startup.StartupInfo.cb = sizeof startup;
  startup.lpAttributeList = attributes;
  PROCESS_INFORMATION info{};
  const BOOL ok =
      CreateProcessW(nullptr, command.data(), nullptr, nullptr, list.empty() ? FALSE : TRUE,
                     CREATE_SUSPENDED | EXTENDED_STARTUPINFO_PRESENT, nullptr, nullptr,
                     &startup.StartupInfo, &info);
  const DWORD err = GetLastError();
  DeleteProcThreadAttributeList(attributes);
  for (HANDLE h : inherit) SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
  if (!ok) throw std::runtime_error("CreateProcess failed: error " + std::to_string(err));
  AssignProcessToJobObject(job(), info.hProcess);
  ResumeThread(info.hThread);
  CloseHandle(info.hThread);
  return Child{platform::UniqueHandle(info.hProcess), info.dwProcessId};
}

int exitCodeOf(const Child& child, DWORD timeout_ms) {
  if (WaitForSingleObject(child.process.get(), timeout_ms) != WAIT_OBJECT_0) return -1;
  DWORD code = 0;
  GetExitCodeProcess(child.process.get(), &code);
  return static_cast<int>(code);
}

std::string uniqueToken(const char* what) {
  static int counter = 0;
  return std::string(what) + "-" + std::to_string(GetCurrentProcessId()) + "-" +
         std::to_string(GetTickCount64()) + "-" + std::to_string(++counter);
}

int runUnixShell(const std::string& script, int timeout_ms) {
  static int counter = 0;
  const std::string status_file = "/tmp/funkhaus-unix-" + std::to_string(GetCurrentProcessId()) +
                                  "-" + std::to_string(++counter);
  // One argument of the Windows command line (Wine splits it as CommandLineToArgvW does: only a
  // double quote needs its backslash). The script runs in a subshell, so that its `exit` still
  // lets the status be written.
  std::string quoted;
  for (char c : script) {
    if (c == '"') quoted += '\\';
    quoted += c;
  }
  std::wstring command = L"Z:\\bin\\sh -c \"(" + widen(quoted) + L"); echo $? > " +
                         widen(status_file) + L".new && mv " + widen(status_file) + L".new " +
                         widen(status_file) + L"\"";
  STARTUPINFOW startup{};
  startup.cb = sizeof startup;
  PROCESS_INFORMATION info{};
  // Wine starts a Unix program detached: no handle on it comes back (the members are not ours
  // to close), so its answer comes through a file.
  if (!CreateProcessW(nullptr, command.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr,
                      &startup, &info))
    return -1;
  std::wstring windows_path = L"Z:" + widen(status_file);
  for (wchar_t& c : windows_path)
    if (c == L'/') c = L'\\';
  for (int waited_ms = 0; waited_ms < timeout_ms; waited_ms += 10) {
    FILE* f = _wfopen(windows_path.c_str(), L"r");
    if (f == nullptr) {
      Sleep(10);
      continue;
    }
    int status = -1;
    if (std::fscanf(f, "%d", &status) != 1) status = -1;
    std::fclose(f);
    DeleteFileW(windows_path.c_str());
    return status;
  }
  return -1;
}

int sigkillUnixProcess(const std::string& token) {
  // The shell's own command line holds the pattern, not the token (its first letter is
  // bracketed), nor does the name of the file it leaves the count in.
  const std::string pattern = "[" + token.substr(0, 1) + "]" + token.substr(1);
  static int counter = 0;
  const std::string count_file = "/tmp/funkhaus-sigkill-" + std::to_string(GetCurrentProcessId()) +
                                 "-" + std::to_string(++counter);
  if (runUnixShell("n=0; for p in /proc/[0-9]*; do if grep -q -a '" + pattern +
                       "' $p/cmdline 2>/dev/null; then kill -9 ${p#/proc/} && n=$((n+1)); fi; "
                       "done; echo $n > " +
                       count_file,
                   30'000) != 0)
    return -1;
  std::wstring windows_path = L"Z:" + widen(count_file);
  for (wchar_t& c : windows_path)
    if (c == L'/') c = L'\\';
  FILE* f = _wfopen(windows_path.c_str(), L"r");
  if (f == nullptr) return -1;
  int killed = -1;
  if (std::fscanf(f, "%d", &killed) != 1) killed = -1;
  std::fclose(f);
  DeleteFileW(windows_path.c_str());
  return killed;
}

uint32_t deadPid() {
  Child child = spawnSelf("exit", {"0"});
  exitCodeOf(child);
  return child.id;  // its last handle closes with `child`: the id is gone
}

uint32_t livePeerPid() {
  static Child sleeper = spawnSelf("sleep", {});
  return sleeper.id;
}

std::map<std::string, DWORD> childrenOf(DWORD parent) {
  std::map<std::string, DWORD> children;
  platform::UniqueHandle snapshot(CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
  PROCESSENTRY32 entry{};
  entry.dwSize = sizeof entry;
  for (BOOL more = Process32First(snapshot.get(), &entry); more;
       more = Process32Next(snapshot.get(), &entry))
    if (entry.th32ParentProcessID == parent) children[entry.szExeFile] = entry.th32ProcessID;
  return children;
}

bool waitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    Sleep(20);
  }
  return true;
}

}  // namespace funkhaus::test
