// DisplayLeases: funkhausd's side of funkhaus-vdisplay's control plane — one virtual monitor
// leased for the active session, pings for the driver's watchdog, mode changes. Non-blocking
// on funkhausd's event loop thread; every reply from the driver is validated (untrusted).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <utility>

#include <boost/asio.hpp>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/vdisplay/protocol.h"

namespace funkhaus::supervisor {

struct MonitorSpec {
  vdisplay::Mode mode;
  uint32_t fb_width = 0;  // framebuffer reserved for in-place mode changes (0: the mode's)
  uint32_t fb_height = 0;
  bool hdr = false;
};

// A monitor as the driver described it, and the lease that owns it.
struct LeasedMonitor {
  uint64_t lease = 0;  // unique per lease; a stale lease never matches a newer monitor
  uint32_t id = 0;
  std::string display;     // ":N"
  std::string xauthority;  // XAUTHORITY for the session's apps, may be empty
  vdisplay::Mode mode;
  uint32_t generation = 0;
};

class DisplayLeases {
 public:
  using Done = std::function<void(Result<LeasedMonitor>)>;

  explicit DisplayLeases(boost::asio::io_context& io);
  ~DisplayLeases();

  // A new driver process: funkhausd's end of its control socket. Checks its versions
  // (GET_INFO) and pings it. Whatever was leased from an earlier driver is forgotten.
  void attach(UniqueFd socket);
  // The driver is gone: its monitors with it; no lease survives.
  void detach();
  bool attached() const { return socket_ != nullptr; }

  // Leases one monitor on `ring_fd` (the session's driver ring, kept open by the caller until
  // the reply). `done` runs on the loop with the monitor or why not. One lease at a time:
  // a lease while one exists replaces it (the old monitor is removed).
  void lease(const MonitorSpec& spec, int ring_fd, Done done);
  // Changes the leased monitor's mode (SET_MODE).
  void setMode(const vdisplay::Mode& mode, Done done);
  // Gives the lease back (REMOVE_MONITOR), also one still being added. Never removes a
  // monitor that belongs to another lease or to an earlier driver.
  void release();

  // The session's monitor as [vdisplay] configures it, on `ring_fd`; logged, then `updated`.
  void leaseSessionMonitor(const VdisplayConfig& config, int ring_fd, const std::string& session,
                           std::function<void()> updated);
  // A viewer's mode request (untrusted numbers: the driver validates the mode); refresh 0 keeps
  // the current rate. Nothing happens when the monitor has that mode already.
  void viewerMode(const vdisplay::Mode& mode, std::function<void()> updated);

  const std::optional<LeasedMonitor>& current() const { return current_; }
  // The driver's last complaint (version mismatch, refusals), for the status.
  const std::string& lastError() const { return last_error_; }

 private:
  struct Pending {
    vdisplay::VdisplayMessageType type;
    uint64_t lease = 0;
    Done done;
  };
  void send(vdisplay::Request request, Pending pending, int fd = -1);
  void read();
  // Handles every reply waiting; false when reading must stop (driver gone, or detached).
  bool drainReplies(uint64_t epoch);
  void onReply(vdisplay::Reply reply);
  void schedulePing();
  void fail(const std::string& why);
  LeasedMonitor monitorOf(const abi::VdisplayMonitorReply& r, uint64_t lease) const;

  boost::asio::io_context& io_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> socket_;
  boost::asio::steady_timer ping_timer_;
  uint64_t epoch_ = 0;  // bumps per driver: callbacks of an old one are ignored
  uint32_t next_request_ = 1;
  uint64_t next_lease_ = 1;
  uint64_t wanted_lease_ = 0;  // the lease being added or held; 0 = none wanted
  uint32_t ping_interval_ms_ = 1000;
  std::map<uint32_t, Pending> pending_;
  std::optional<LeasedMonitor> current_;
  std::string last_error_;
};

}  // namespace funkhaus::supervisor
