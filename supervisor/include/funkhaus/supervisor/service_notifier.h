// ServiceNotifier: what funkhausd tells the service manager that runs it (systemd on Linux,
// the SCM on Windows): ready, a one-line status, watchdog pings, stopping. The real one is
// platform code (common/platform/linux/service_notifier_linux.cpp: sd_notify); tests record.
// funkhausd's event loop thread.
#pragma once

#include <memory>
#include <string>

namespace funkhaus::supervisor {

class ServiceNotifier {
 public:
  virtual ~ServiceNotifier() = default;
  virtual void ready() = 0;
  virtual void status(const std::string& text) = 0;
  virtual bool watchdogEnabled() const = 0;
  virtual void watchdog() = 0;
  virtual void stopping() = 0;

  // This platform's notifier (a no-op when no service manager listens).
  static std::unique_ptr<ServiceNotifier> createPlatform();
};

}  // namespace funkhaus::supervisor
