// funkhausd.exe as a service under Wine's service manager, end to end: installed with
// --install-service, started (RUNNING only once its capture, encode and net workers are ready,
// which run in a Job Object), Linux's ffmpeg plays its RTSP stream (barcodes read), funkhausctl.exe
// shows the workers over the control pipe and restarts one, the encode worker ended as
// `taskkill /F` ends it and repaired, a session change (user control code 128 +
// WTS_SESSION_LOGON) moves the workers, a stop leaves no worker, and --uninstall-service removes
// the service.
#include <windows.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "child_process.h"
#include "ffmpeg_client.h"
#include "funkhaus/platform/handle.h"

namespace funkhaus {
namespace {

using namespace std::chrono_literals;
using platform::UniqueHandle;
using test::childrenOf;
using test::waitFor;

std::string binDirectory() {
  const std::string self = test::selfProgram();
  return self.substr(0, self.find_last_of('\\'));
}

// Runs `command` (a whole command line); its exit code, -1 if it did not end within 120 s.
int runProgram(std::string command) {
  STARTUPINFOA startup{};
  startup.cb = sizeof startup;
  PROCESS_INFORMATION info{};
  if (!CreateProcessA(nullptr, command.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr,
                      &startup, &info))
    return -2;
  UniqueHandle process(info.hProcess), thread(info.hThread);
  if (WaitForSingleObject(process.get(), 120'000) != WAIT_OBJECT_0) return -1;
  DWORD code = 0;
  GetExitCodeProcess(process.get(), &code);
  return static_cast<int>(code);
}

// Runs `command` with its standard output read: the exit code (-1: it did not end within 60 s)
// and what it printed.
std::pair<int, std::string> runCaptured(std::string command) {
  SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  HANDLE read_end = nullptr, write_end = nullptr;
  if (!CreatePipe(&read_end, &write_end, &inherit, 0)) return {-2, ""};
  UniqueHandle reader(read_end), writer(write_end);
  SetHandleInformation(read_end, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOA startup{};
  startup.cb = sizeof startup;
  startup.dwFlags = STARTF_USESTDHANDLES;
  startup.hStdOutput = write_end;
  startup.hStdError = write_end;
  startup.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  PROCESS_INFORMATION info{};
  if (!CreateProcessA(nullptr, command.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr,
                      &startup, &info))
    return {-2, ""};
  UniqueHandle process(info.hProcess), thread(info.hThread);
  writer.reset();  // the child holds the only write end: its exit ends our reads
  std::string out;
  char buffer[4096];
  DWORD n = 0;
  while (ReadFile(read_end, buffer, sizeof buffer, &n, nullptr) && n > 0) out.append(buffer, n);
  if (WaitForSingleObject(process.get(), 60'000) != WAIT_OBJECT_0) return {-1, out};
  DWORD code = 0;
  GetExitCodeProcess(process.get(), &code);
  return {static_cast<int>(code), out};
}

// Runs funkhausctl.exe with `args` against the pipe `pipe` (empty: its default).
std::pair<int, std::string> funkhausctl(const std::string& pipe, const std::string& args) {
  std::string command = "\"" + binDirectory() + "\\funkhausctl.exe\"";
  if (!pipe.empty()) command += " --socket " + pipe;
  return runCaptured(command + " " + args);
}

// funkhausctl status --json (discarded if it is not JSON).
nlohmann::json statusJson(const std::string& pipe) {
  const auto [code, out] = funkhausctl(pipe, "status --json");
  EXPECT_EQ(code, 0) << out;
  return nlohmann::json::parse(out, nullptr, false);
}

// The workers funkhausctl status --json shows in the console session: name -> pid (-1: none).
std::map<std::string, int64_t> workersShown(const std::string& pipe) {
  std::map<std::string, int64_t> shown;
  const auto status = statusJson(pipe);
  if (status.is_discarded() || !status.contains("sessions") || status["sessions"].empty()) {
    ADD_FAILURE() << "no session in " << status.dump();
    return shown;
  }
  for (const auto& w : status["sessions"][0]["workers"])
    shown[w["name"].get<std::string>()] = w["pid"].is_null() ? -1 : w["pid"].get<int64_t>();
  return shown;
}

// Runs funkhausd.exe with `args`.
int funkhausd(const std::string& args) {
  return runProgram("\"" + binDirectory() + "\\funkhausd.exe\" " + args);
}

// Lines of funkhausd's log that end in `text` (a worker's own lines, which funkhausd logs too,
// end otherwise).
size_t countLines(const std::string& file, const std::string& text) {
  std::ifstream in(file);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    n += line.size() >= text.size() &&
         line.compare(line.size() - text.size(), text.size(), text) == 0;
  }
  return n;
}

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

struct ScHandleCloser {
  void operator()(SC_HANDLE h) const { CloseServiceHandle(h); }
};
using ScHandle = std::unique_ptr<std::remove_pointer_t<SC_HANDLE>, ScHandleCloser>;

SERVICE_STATUS_PROCESS statusOf(SC_HANDLE service) {
  SERVICE_STATUS_PROCESS status{};
  DWORD needed = 0;
  QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, reinterpret_cast<BYTE*>(&status),
                       sizeof status, &needed);
  return status;
}

TEST(FunkhausdService, InstalledStartedRepairedMovedStoppedAndRemoved) {
  // Unique: Wine reuses process ids, and deleting a service is asynchronous.
  const std::string name = "funkhaus-test-" + std::to_string(GetCurrentProcessId()) + "-" +
                           std::to_string(GetTickCount64());
  char temp[MAX_PATH];
  const std::string log = std::string(temp, GetTempPathA(MAX_PATH, temp)) + name + ".log";
  const std::string pipe = "\\\\.\\pipe\\" + name;
  DeleteFileA(log.c_str());
  ASSERT_EQ(funkhausd("--install-service --service-name " + name + " --log \"" + log +
                      "\" --width 640 --height 360 --rtsp-port 0 --control-pipe " + pipe),
            0);
  // Removed however the test ends (a no-op after the removal it checks).
  struct Removal {
    std::string args;
    ~Removal() {
      if (!args.empty()) funkhausd(args);
    }
  } removal{"--uninstall-service --service-name " + name};
  ScHandle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
  ASSERT_TRUE(scm);
  const std::wstring wide(name.begin(), name.end());
  ScHandle service(OpenServiceW(scm.get(), wide.c_str(), SERVICE_ALL_ACCESS));
  ASSERT_TRUE(service) << "installed";

  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(StartServiceW(service.get(), 0, nullptr));
  ASSERT_TRUE(waitFor([&] { return statusOf(service.get()).dwCurrentState == SERVICE_RUNNING; }));
  const double running_ms = msSince(start);
  EXPECT_EQ(countLines(log, "funkhausd: workers ready"), 1u) << "RUNNING only once ready";
  const DWORD pid = statusOf(service.get()).dwProcessId;
  auto workers = childrenOf(pid);
  ASSERT_EQ(workers.count("funkhaus-capture.exe"), 1u);
  ASSERT_EQ(workers.count("funkhaus-encode.exe"), 1u);
  ASSERT_EQ(workers.count("funkhaus-net.exe"), 1u);
  std::vector<UniqueHandle> first;  // the first workers, to see them end
  for (const auto& [exe, id] : workers) {
    UniqueHandle process(OpenProcess(SYNCHRONIZE | PROCESS_QUERY_INFORMATION, FALSE, id));
    ASSERT_TRUE(process.valid()) << exe;
    BOOL in_job = FALSE;
    EXPECT_TRUE(IsProcessInJob(process.get(), nullptr, &in_job) && in_job) << exe;
    first.push_back(std::move(process));
  }

  // Linux's ffmpeg plays the stream (the port funkhausctl shows): every barcode readable.
  const auto shown_status = statusJson(pipe);
  ASSERT_TRUE(shown_status.contains("net")) << shown_status.dump();
  const auto port = shown_status["net"]["rtsp_port"].get<uint16_t>();
  const auto played = test::playWithFfmpeg(port, "tcp", 10, 640, 360);
  EXPECT_EQ(played.size(), 10u);
  const double first_frames_ms = msSince(start);

  // funkhausctl over the control pipe: the workers, running, with the pids they have.
  auto shown = workersShown(pipe);
  EXPECT_EQ(shown["capture"], static_cast<int64_t>(workers["funkhaus-capture.exe"]));
  EXPECT_EQ(shown["encode"], static_cast<int64_t>(workers["funkhaus-encode.exe"]));
  EXPECT_EQ(shown["net"], static_cast<int64_t>(workers["funkhaus-net.exe"]));
  const auto [table_code, table] = funkhausctl(pipe, "status");
  EXPECT_EQ(table_code, 0) << table;
  for (const char* row : {"capture", "encode", "net ", "running", "viewers: rtsp://HOST:"})
    EXPECT_NE(table.find(row), std::string::npos) << row << " not in\n" << table;
  // A restart through it: the capture worker comes back with another pid.
  const auto restarting = std::chrono::steady_clock::now();
  const auto [restart_code, restarted] = funkhausctl(pipe, "restart capture");
  EXPECT_EQ(restart_code, 0) << restarted;
  ASSERT_TRUE(waitFor([&] { return countLines(log, "capture: ready") == 2; }))
      << "funkhausctl restart capture did not restart it";
  const double restart_ms = msSince(restarting);
  shown = workersShown(pipe);
  EXPECT_NE(shown["capture"], static_cast<int64_t>(workers["funkhaus-capture.exe"]));
  workers = childrenOf(pid);
  EXPECT_EQ(shown["capture"], static_cast<int64_t>(workers["funkhaus-capture.exe"]));
  const auto [bad_code, bad] = funkhausctl(pipe, "restart nosuchworker");
  EXPECT_NE(bad_code, 0) << bad;

  // taskkill /F of the encode worker: TerminateProcess. funkhausd starts it again.
  const DWORD encode = workers["funkhaus-encode.exe"];
  UniqueHandle victim(OpenProcess(PROCESS_TERMINATE, FALSE, encode));
  ASSERT_TRUE(victim.valid());
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(TerminateProcess(victim.get(), 1));
  ASSERT_EQ(countLines(log, "encode: ready"), 1u);
  ASSERT_TRUE(waitFor([&] { return countLines(log, "encode: ready") == 2; }))
      << "the encode worker was not started again";
  const double repaired_ms = msSince(killed);
  workers = childrenOf(pid);
  EXPECT_NE(workers["funkhaus-encode.exe"], encode);
  EXPECT_EQ(statusOf(service.get()).dwCurrentState, static_cast<DWORD>(SERVICE_RUNNING));

  // A session change (Wine delivers no SERVICE_CONTROL_SESSIONCHANGE): both workers move.
  SERVICE_STATUS status{};
  const auto changed = std::chrono::steady_clock::now();
  ASSERT_TRUE(ControlService(service.get(), 128 + 5, &status));  // WTS_SESSION_LOGON
  ASSERT_TRUE(waitFor([&] {
    return countLines(log, "capture: ready") == 3 && countLines(log, "encode: ready") == 3 &&
           countLines(log, "net: ready") == 2;
  })) << "the workers did not move";
  const double moved_ms = msSince(changed);
  const auto moved = childrenOf(pid);
  EXPECT_NE(moved.at("funkhaus-capture.exe"), workers["funkhaus-capture.exe"]);
  EXPECT_NE(moved.at("funkhaus-encode.exe"), workers["funkhaus-encode.exe"]);
  EXPECT_NE(moved.at("funkhaus-net.exe"), workers["funkhaus-net.exe"]);

  const auto stopping = std::chrono::steady_clock::now();
  ASSERT_TRUE(ControlService(service.get(), SERVICE_CONTROL_STOP, &status));
  ASSERT_TRUE(waitFor([&] { return statusOf(service.get()).dwCurrentState == SERVICE_STOPPED; }));
  const double stopped_ms = msSince(stopping);
  EXPECT_EQ(statusOf(service.get()).dwWin32ExitCode, static_cast<DWORD>(NO_ERROR));
  for (const auto& [exe, id] : moved) {
    UniqueHandle process(OpenProcess(SYNCHRONIZE, FALSE, id));
    EXPECT_TRUE(!process.valid() || WaitForSingleObject(process.get(), 5000) == WAIT_OBJECT_0)
        << exe << " outlived the service";
  }
  for (const auto& process : first) EXPECT_EQ(WaitForSingleObject(process.get(), 0), WAIT_OBJECT_0);
  EXPECT_TRUE(waitFor([&] { return childrenOf(pid).empty(); }, 10s)) << "no worker left";
  const auto [gone_code, gone_reply] = funkhausctl(pipe, "status");
  EXPECT_EQ(gone_code, 2) << gone_reply;
  EXPECT_NE(gone_reply.find("no such pipe"), std::string::npos) << gone_reply;

  service.reset();
  ASSERT_EQ(funkhausd(removal.args), 0);
  removal.args.clear();
  ScHandle gone(OpenServiceW(scm.get(), wide.c_str(), SERVICE_QUERY_STATUS));
  EXPECT_FALSE(gone) << "the service is still there";
  std::printf(
      "[figures] service start -> RUNNING (workers ready) %.0f ms; -> 10 frames played by "
      "ffmpeg %.0f ms; funkhausctl restart capture -> ready again %.0f ms; encode "
      "TerminateProcess -> ready again %.0f ms; session change -> the workers ready again %.0f "
      "ms; stop -> STOPPED %.0f ms\n",
      running_ms, first_frames_ms, restart_ms, repaired_ms, moved_ms, stopped_ms);
  DeleteFileA(log.c_str());
}

// The NSIS installer (packaging/windows, made by cpack after the build): a silent install puts
// the programs under Program Files, registers the service and starts it with its workers; a
// silent uninstall stops it, deletes it and leaves no file and no process.
TEST(FunkhausInstaller, SilentInstallStartsTheServiceAndSilentUninstallLeavesNothing) {
  const std::string installer = FUNKHAUS_INSTALLER;
  ASSERT_NE(GetFileAttributesA(installer.c_str()), INVALID_FILE_ATTRIBUTES)
      << installer << " is not there: `cpack -G NSIS --config build-windows/CPackConfig.cmake -B "
      << "build-windows/installer` makes it (scripts/test-windows.sh does)";
  char programs[MAX_PATH];
  const DWORD n = GetEnvironmentVariableA("ProgramFiles", programs, MAX_PATH);
  ASSERT_GT(n, 0u);
  const std::string dir = std::string(programs, n) + "\\funkhaus";
  ScHandle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
  ASSERT_TRUE(scm);
  // Uninstalled however the test ends (its uninstaller removes the service too), and first if a
  // run that was killed left it installed in this Wine prefix.
  struct Removal {
    std::string uninstaller;
    ~Removal() { uninstall(); }
    void uninstall() const {
      if (GetFileAttributesA(uninstaller.c_str()) == INVALID_FILE_ATTRIBUTES) return;
      if (runProgram("\"" + uninstaller + "\" /S") == 0)
        waitFor([&] { return GetFileAttributesA(uninstaller.c_str()) == INVALID_FILE_ATTRIBUTES; },
                60s);
    }
  } removal{dir + "\\Uninstall.exe"};
  removal.uninstall();
  // A run killed between registering the service and installing the uninstaller: this build's
  // funkhausd removes the service.
  if (ScHandle(OpenServiceW(scm.get(), L"funkhaus", SERVICE_QUERY_STATUS)))
    funkhausd("--uninstall-service");
  ASSERT_FALSE(ScHandle(OpenServiceW(scm.get(), L"funkhaus", SERVICE_QUERY_STATUS)))
      << "a funkhaus service is installed already, and it cannot be removed";

  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(runProgram("\"" + installer + "\" /S"), 0);
  const double installed_ms = msSince(start);
  for (const char* exe : {"funkhausd.exe", "funkhausctl.exe", "funkhaus-capture.exe",
                          "funkhaus-encode.exe", "funkhaus-net.exe"})
    EXPECT_NE(GetFileAttributesA((dir + "\\bin\\" + exe).c_str()), INVALID_FILE_ATTRIBUTES) << exe;
  ScHandle service(OpenServiceW(scm.get(), L"funkhaus", SERVICE_QUERY_STATUS));
  ASSERT_TRUE(service) << "the installer registered the service";
  ASSERT_TRUE(waitFor([&] { return statusOf(service.get()).dwCurrentState == SERVICE_RUNNING; }))
      << "the installer started it";
  const double running_ms = msSince(start);
  const DWORD pid = statusOf(service.get()).dwProcessId;
  const auto workers = childrenOf(pid);
  EXPECT_EQ(workers.size(), 3u);
  // The installed funkhausctl on the default pipe shows them.
  const auto [ctl_code, table] = runCaptured("\"" + dir + "\\bin\\funkhausctl.exe\" status");
  EXPECT_EQ(ctl_code, 0) << table;
  for (const auto& [exe, id] : workers)
    EXPECT_NE(table.find(" " + std::to_string(id) + " "), std::string::npos)
        << exe << " pid " << id << " not in\n"
        << table;
  std::vector<UniqueHandle> processes;
  processes.emplace_back(OpenProcess(SYNCHRONIZE, FALSE, pid));
  for (const auto& [exe, id] : workers) processes.emplace_back(OpenProcess(SYNCHRONIZE, FALSE, id));

  // The uninstaller runs a copy of itself from %TEMP% and returns at once: wait for its work.
  const auto uninstalling = std::chrono::steady_clock::now();
  ASSERT_EQ(runProgram("\"" + removal.uninstaller + "\" /S"), 0);
  EXPECT_TRUE(
      waitFor([&] { return GetFileAttributesA(dir.c_str()) == INVALID_FILE_ATTRIBUTES; }, 60s))
      << dir << " is still there";
  const double uninstalled_ms = msSince(uninstalling);
  service.reset();
  EXPECT_FALSE(ScHandle(OpenServiceW(scm.get(), L"funkhaus", SERVICE_QUERY_STATUS)))
      << "the service is still registered";
  for (const auto& process : processes)
    EXPECT_TRUE(process.valid() && WaitForSingleObject(process.get(), 10'000) == WAIT_OBJECT_0)
        << "a process of the service outlived the uninstall";
  std::printf(
      "[figures] silent install %.0f ms, service RUNNING (workers ready) %.0f ms after the "
      "installer started; silent uninstall %.0f ms\n",
      installed_ms, running_ms, uninstalled_ms);
}

}  // namespace
}  // namespace funkhaus
