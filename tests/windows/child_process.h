// Child processes of the Windows test program: the .exe starts itself with
// `--child ROLE ARGS...` (CreateProcess; Windows has no fork), handing it the handles it names
// on its command line. Used by the Windows tests on their main thread.
#pragma once

#include <windows.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "funkhaus/platform/handle.h"
#include "funkhaus/platform/process.h"

namespace funkhaus::test {

struct Child {
  platform::UniqueHandle process;
  platform::ProcessId id = 0;
};

// This test program's path, for a launcher that starts it as `--child ROLE ...` itself.
std::string selfProgram();

// Starts this program as `--child ROLE ARGS...`; the child inherits exactly `inherit` (same
// handle values: pass them in `args`). Kill-on-close Job Object: it never outlives the tests.
Child spawnSelf(const std::string& role, const std::vector<std::string>& args,
                const std::vector<HANDLE>& inherit = {});

// Waits for the child to end (at most timeout_ms) and returns its exit code; -1 on timeout.
int exitCodeOf(const Child& child, DWORD timeout_ms = 60'000);

// A token no other process's command line holds: pass it among a child's arguments to find its
// Unix process (sigkillUnixProcess).
std::string uniqueToken(const char* what);

// Kills the Wine process whose command line holds `token` with Linux's SIGKILL, behind Wine's
// back (as `kill -9` from Linux, or a crash of wine itself): Wine runs Unix programs that
// CreateProcess is given (Z: is /), here /bin/sh over /proc. Returns how many processes it
// killed (the shell says so in a file under /tmp, then removed); -1: it did not answer in 30 s.
int sigkillUnixProcess(const std::string& token);

// Asks `done` every 20 ms until it says yes (true) or `limit` is over (false).
bool waitFor(const std::function<bool()>& done,
             std::chrono::seconds limit = std::chrono::seconds(30));

// The running children of process `parent`: their .exe name -> process id (one per name).
std::map<std::string, DWORD> childrenOf(DWORD parent);

// Runs `script` with /bin/sh on Linux, outside Wine (Wine runs the Unix programs CreateProcess
// is given), and waits for it: its exit status, -1 if it did not end within `timeout_ms`.
int runUnixShell(const std::string& script, int timeout_ms = 60'000);

// A handle value as a command-line argument and back.
std::string handleArg(HANDLE handle);
HANDLE handleFromArg(const char* arg);

// The child side: runs ROLE (argv[0]) with its arguments (argv[1..]); the exit code is the
// result, 100 for an unknown role.
int runChild(int argc, char** argv);

// Registers a role, at namespace scope in a test file: `ChildRole role("name", function);`.
struct ChildRole {
  using Function = int (*)(int argc, char** argv);
  ChildRole(const char* name, Function function);
};

}  // namespace funkhaus::test
