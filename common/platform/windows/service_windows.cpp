// funkhausd under the SCM (supervisor/windows_service.h): CreateService / DeleteService, and
// StartServiceCtrlDispatcher with a handler that posts each control onto the service's loop.
// The SCM calls ServiceMain on a thread of its own and the handler on the dispatcher's (the main)
// thread; the status is reported under one mutex.
#include <utility>
// Asio before windows.h (winsock2.h first).
#include <boost/asio.hpp>
// Then windows.h.
#include <windows.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "command_line.h"
#include "funkhaus/supervisor/windows_service.h"
#include "pipe_io.h"
#include "windows_error.h"

namespace funkhaus::supervisor {
namespace {

namespace asio = boost::asio;
namespace win = platform::windows;

struct ServiceHandleCloser {
  void operator()(SC_HANDLE handle) const { CloseServiceHandle(handle); }
};
using ServiceHandle = std::unique_ptr<std::remove_pointer_t<SC_HANDLE>, ServiceHandleCloser>;

// The one service this process runs: what ServiceMain and the handler share.
struct Running {
  std::wstring name;
  ServiceBody* body = nullptr;
  int exit_code = 0;
  std::mutex mutex;  // guards everything below
  SERVICE_STATUS_HANDLE handle = nullptr;
  SERVICE_STATUS status{};
  asio::io_context* io = nullptr;  // while the body runs
};
Running* g_running = nullptr;

void report(DWORD state, int exit_code = 0, DWORD wait_hint_ms = 0) {
  std::lock_guard lock(g_running->mutex);
  SERVICE_STATUS& s = g_running->status;
  s.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  s.dwCurrentState = state;
  s.dwControlsAccepted =
      state == SERVICE_START_PENDING || state == SERVICE_STOPPED
          ? 0
          : SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_SESSIONCHANGE;
  s.dwWin32ExitCode = exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
  s.dwServiceSpecificExitCode = static_cast<DWORD>(exit_code);
  s.dwCheckPoint = state == SERVICE_RUNNING || state == SERVICE_STOPPED ? 0 : s.dwCheckPoint + 1;
  s.dwWaitHint = wait_hint_ms;
  SetServiceStatus(g_running->handle, &s);
}

class ScmNotifier final : public ServiceNotifier {
 public:
  void ready() override { report(SERVICE_RUNNING); }
  void status(const std::string&) override {}  // the SCM has no status line
  bool watchdogEnabled() const override { return false; }
  void watchdog() override {}
  void stopping() override { report(SERVICE_STOP_PENDING, 0, 30'000); }
};

void post(ServiceControl control, uint32_t event) {
  std::lock_guard lock(g_running->mutex);
  if (g_running->io == nullptr) return;  // not running yet, or done
  asio::post(*g_running->io,
             [body = g_running->body, control, event] { body->onControl(control, event); });
}

DWORD WINAPI onControl(DWORD control, DWORD event_type, LPVOID, LPVOID) {
  switch (control) {
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    case SERVICE_CONTROL_STOP:
      post(ServiceControl::kStop, 0);
      return NO_ERROR;
    case SERVICE_CONTROL_SHUTDOWN:
      post(ServiceControl::kShutdown, 0);
      return NO_ERROR;
    case SERVICE_CONTROL_SESSIONCHANGE:
      post(ServiceControl::kSessionChange, event_type);
      return NO_ERROR;
    default:
      if (control >= kSessionControlBase && control <= 255) {
        post(ServiceControl::kSessionChange, control - kSessionControlBase);
        return NO_ERROR;
      }
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI serviceMain(DWORD, LPWSTR*) {
  g_running->handle = RegisterServiceCtrlHandlerExW(g_running->name.c_str(), onControl, nullptr);
  if (g_running->handle == nullptr) {
    g_running->exit_code = -1;
    return;
  }
  report(SERVICE_START_PENDING, 0, 30'000);
  int exit_code = 0;
  {
    asio::io_context io;
    {
      std::lock_guard lock(g_running->mutex);
      g_running->io = &io;
    }
    ScmNotifier notifier;
    exit_code = g_running->body->run(io, notifier);
    std::lock_guard lock(g_running->mutex);
    g_running->io = nullptr;
  }
  g_running->exit_code = exit_code;
  report(SERVICE_STOPPED, exit_code);
}

std::wstring commandLine(const ServiceInstall& install) {
  std::wstring line = win::quoteArgument(win::widen(install.binary));
  for (const std::string& arg : install.args) line += L" " + win::quoteArgument(win::widen(arg));
  return line;
}

}  // namespace

Result<void> installService(const ServiceInstall& install) {
  ServiceHandle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE));
  if (!scm) return makeError("the service manager: {}", win::lastErrorText());
  const std::wstring line = commandLine(install);
  ServiceHandle service(CreateServiceW(
      scm.get(), win::widen(install.name).c_str(), win::widen(install.display_name).c_str(),
      SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
      line.c_str(), nullptr, nullptr, nullptr, nullptr, nullptr));
  if (!service) return makeError("creating service {}: {}", install.name, win::lastErrorText());
  // funkhausd exits non-zero only when its restarts escalated past what it repairs itself:
  // then the SCM starts it again, after 5 s (the failure count resets after a day). A service
  // only half set up is deleted again.
  SC_ACTION restart{SC_ACTION_RESTART, 5000};
  SERVICE_FAILURE_ACTIONSW actions{};
  actions.dwResetPeriod = 24 * 3600;
  actions.cActions = 1;
  actions.lpsaActions = &restart;
  if (!ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_FAILURE_ACTIONS, &actions)) {
    const std::string why = win::lastErrorText();
    DeleteService(service.get());
    return makeError("service {}: restart on failure: {}", install.name, why);
  }
  // A STOPPED with a non-zero exit code is a failure too, not only a crash. Wine 8's service
  // manager does not know this setting (ERROR_INVALID_LEVEL): there only a crash restarts it.
  SERVICE_FAILURE_ACTIONS_FLAG on_exit_code{TRUE};
  if (!ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &on_exit_code) &&
      GetLastError() != ERROR_INVALID_LEVEL) {
    const std::string why = win::lastErrorText();
    DeleteService(service.get());
    return makeError("service {}: restart after a failed exit: {}", install.name, why);
  }
  return {};
}

Result<void> uninstallService(const std::string& name) {
  ServiceHandle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
  if (!scm) return makeError("the service manager: {}", win::lastErrorText());
  ServiceHandle service(OpenServiceW(scm.get(), win::widen(name).c_str(),
                                     DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS));
  if (!service) return makeError("service {}: {}", name, win::lastErrorText());
  SERVICE_STATUS status{};
  if (QueryServiceStatus(service.get(), &status) && status.dwCurrentState != SERVICE_STOPPED) {
    ControlService(service.get(), SERVICE_CONTROL_STOP, &status);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (QueryServiceStatus(service.get(), &status) && status.dwCurrentState != SERVICE_STOPPED &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (status.dwCurrentState != SERVICE_STOPPED)
      return makeError("service {} did not stop within 30 s", name);
  }
  if (!DeleteService(service.get()))
    return makeError("deleting service {}: {}", name, win::lastErrorText());
  return {};
}

Result<int> runService(const std::string& name, ServiceBody& body) {
  Running running;
  running.name = win::widen(name);
  running.body = &body;
  g_running = &running;
  std::wstring table_name = running.name;
  SERVICE_TABLE_ENTRYW table[] = {{table_name.data(), serviceMain}, {nullptr, nullptr}};
  const BOOL dispatched = StartServiceCtrlDispatcherW(table);
  const DWORD error = GetLastError();
  g_running = nullptr;
  if (!dispatched) {
    if (error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
      return makeError("not started by the service manager (run it with `sc start {}`)", name);
    return makeError("the service dispatcher: {}", win::errorText(error));
  }
  if (running.exit_code < 0)
    return makeError("service {}: no control handler: {}", name, win::lastErrorText());
  return running.exit_code;
}

}  // namespace funkhaus::supervisor
