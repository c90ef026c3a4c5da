// The Linux service notifier: sd_notify (a no-op without NOTIFY_SOCKET).
#include <systemd/sd-daemon.h>

#include "funkhaus/supervisor/service_notifier.h"

namespace funkhaus::supervisor {
namespace {

class SystemdNotifier final : public ServiceNotifier {
 public:
  void ready() override { sd_notify(0, "READY=1"); }
  void status(const std::string& text) override { sd_notifyf(0, "STATUS=%s", text.c_str()); }
  bool watchdogEnabled() const override { return watchdog_; }
  void watchdog() override { sd_notify(0, "WATCHDOG=1"); }
  void stopping() override { sd_notify(0, "STOPPING=1"); }

 private:
  bool watchdog_ = sd_watchdog_enabled(0, nullptr) > 0;
};

}  // namespace

std::unique_ptr<ServiceNotifier> ServiceNotifier::createPlatform() {
  return std::make_unique<SystemdNotifier>();
}

}  // namespace funkhaus::supervisor
