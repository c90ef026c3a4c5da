// funkhausd under the Windows service manager (SCM): installing and removing the service, and
// running as it, with the controls it gets (stop, shut-down, session changes) posted onto the
// service's event loop. Windows only. Used by funkhausd.exe's main thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/service_notifier.h"

namespace funkhaus::supervisor {

struct ServiceInstall {
  std::string name;          // the service's key name (sc's name)
  std::string display_name;  // what services.msc shows
  std::string binary;        // absolute path of funkhausd.exe
  std::vector<std::string> args;
};

// Creates the service: its own process, LocalSystem, started at boot. Error: it exists, or
// the system's reason (e.g. not an administrator).
Result<void> installService(const ServiceInstall& install);
// Stops the service if it runs (up to 30 s) and deletes it. Error: no such service, or the
// system's reason.
Result<void> uninstallService(const std::string& name);

enum class ServiceControl { kStop, kShutdown, kSessionChange };
// User-defined control codes 128..255 stand for SERVICE_CONTROL_SESSIONCHANGE with the event
// type code - 128 (WTS_SESSION_LOGON = 5, ...): Wine never delivers the real one, and a test
// or an administrator can send these (`sc control NAME 133`).
inline constexpr uint32_t kSessionControlBase = 128;

class ServiceBody {
 public:
  virtual ~ServiceBody() = default;
  // Runs the service on the service's thread and `io` until it is done; returns its exit code
  // (0: stopped as asked). `notifier`: ready() reports SERVICE_RUNNING, stopping()
  // SERVICE_STOP_PENDING; STOPPED follows this returning.
  virtual int run(boost::asio::io_context& io, ServiceNotifier& notifier) = 0;
  // A control, on `io`'s thread: `event` is the WTS event type for kSessionChange.
  virtual void onControl(ServiceControl control, uint32_t event) = 0;
};

// Runs `body` as service `name` (StartServiceCtrlDispatcher): returns when it stopped, with its
// exit code. Error: this process was not started by the SCM, or the system's reason.
Result<int> runService(const std::string& name, ServiceBody& body);

}  // namespace funkhaus::supervisor
