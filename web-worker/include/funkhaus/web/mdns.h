// Announces the host as `_nvstream._tcp` on the HTTP port over mDNS through avahi-daemon
// (libavahi-client, its own threaded poll), so Moonlight lists it without an address. Without
// avahi-daemon or D-Bus: one log line, then it keeps waiting quietly for the daemon to appear.
// Created and destroyed on funkhaus-web's main thread; avahi's callbacks run on its own thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace funkhaus::web {

class MdnsAnnouncer {
 public:
  // Never fails: trouble is logged and retried.
  static std::unique_ptr<MdnsAnnouncer> start(const std::string& name, uint16_t http_port);
  virtual ~MdnsAnnouncer() = default;
  // True while the service is registered with avahi-daemon.
  virtual bool announced() const = 0;
};

}  // namespace funkhaus::web
