// Driver: the control logic of funkhaus-vdisplay without any I/O of its own — host connections
// by id, their monitors, lowest-free monitor ids, mode bounds, ring checks, the watchdog.
// Used on the driver's main thread (driver_loop feeds it; unit tests drive it directly).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "funkhaus/common/clock.h"
#include "funkhaus/vdisplay/id_allocator.h"
#include "funkhaus/vdisplay/monitor.h"
#include "funkhaus/vdisplay/protocol.h"
#include "funkhaus/vdisplay/watchdog.h"

namespace funkhaus::vdisplay {

inline constexpr uint32_t kDriverVersion = (0u << 16) | (1u << 8) | 0u;  // 0.1.0

struct DriverOptions {
  uint32_t max_monitors = 8;                            // 1..abi::kVdisplayMaxMonitors
  Duration watchdog = std::chrono::milliseconds(3000);  // a silent host loses its monitors
  uint32_t serial_seed = 0;  // instance part of the EDID serials: seed << 8 | monitor id
};

class Driver {
 public:
  Driver(const DriverOptions& options, std::unique_ptr<MonitorBackend> backend, const Clock& clock);
  ~Driver();  // removes every monitor (X servers stopped)
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // A new host connection; the watchdog starts watching it.
  uint64_t addHost();
  // The host's connection closed: its monitors are removed now.
  void removeHost(uint64_t host);
  bool hasHost(uint64_t host) const { return hosts_.count(host) != 0; }

  // Handles one parsed request of `host` (a valid request feeds its watchdog).
  Reply handle(uint64_t host, Request request);

  // Removes the monitors of every host whose watchdog expired and returns those hosts (the
  // caller decides what happens to their connections; they are no longer watched).
  std::vector<uint64_t> expireHosts();
  std::optional<TimePoint> nextWatchdogDeadline() const { return watchdog_.nextDeadline(); }

  // For the event loop and the status page.
  std::vector<Monitor*> monitors() const;
  size_t monitorCount() const { return monitors_.size(); }
  size_t monitorCountOf(uint64_t host) const;
  // Counters of live monitors plus those of every monitor removed so far.
  MonitorCounters totals() const;
  const DriverOptions& options() const { return options_; }

 private:
  struct Entry {
    uint64_t owner = 0;
    MonitorSpec spec;
    uint64_t ring_capacity = 0;
    uint64_t ring_device = 0;  // the ring memfd's identity: one ring feeds one monitor
    uint64_t ring_inode = 0;
    std::unique_ptr<Monitor> monitor;
  };

  Reply dispatch(uint64_t host, Request& request);
  Reply getInfo(const Request& r) const;
  Reply addMonitor(uint64_t host, Request& r);
  Reply removeMonitor(uint64_t host, const Request& r);
  Reply clearAll(uint64_t host, const Request& r);
  Reply ping(uint64_t host, const Request& r);
  Reply setMode(uint64_t host, const Request& r);
  Reply getMonitor(uint64_t host, const Request& r);

  // The monitor `id` if `host` owns it, else a refusal.
  Entry* owned(uint64_t host, uint32_t id, const Request& r, Reply* refused);
  abi::VdisplayMonitorReply describe(uint32_t id, const Entry& e, uint32_t mode_change) const;
  Result<MonitorSpec> makeSpec(uint32_t id, const Mode& mode, uint32_t flags, uint32_t fb_width,
                               uint32_t fb_height) const;
  void destroy(uint32_t id);
  uint32_t removeAllOf(uint64_t host);

  DriverOptions options_;
  std::unique_ptr<MonitorBackend> backend_;
  HostWatchdog watchdog_;
  IdAllocator ids_;
  std::map<uint64_t, bool> hosts_;
  std::map<uint32_t, Entry> monitors_;
  uint64_t next_host_ = 1;
  MonitorCounters retired_;
};

}  // namespace funkhaus::vdisplay
