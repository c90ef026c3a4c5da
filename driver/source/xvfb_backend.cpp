// Xvfb backend: an Xvfb per monitor, RandR for the mode and the EDID property (randr_mode.cpp),
// XDamage for change detection, MIT-SHM GetImage straight into the frame-ring slot the producer
// hands out.
#include "funkhaus/vdisplay/xvfb_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <xcb/damage.h>
#include <xcb/randr.h>
#include <xcb/shm.h>
#include <xcb/xcb.h>
#include <xcb/xcbext.h>  // xcb_poll_for_reply

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "funkhaus/abi/token.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/vdisplay/edid.h"
#include "funkhaus/vdisplay/frame_pacer.h"
#include "funkhaus/vdisplay/xauth.h"
#include "funkhaus/vdisplay/xvfb_process.h"
#include "randr_mode.h"

namespace funkhaus::vdisplay {
namespace {

constexpr uint64_t kRetryNs = 1'000'000'000;  // after a failed X server restart

class XvfbMonitor final : public Monitor {
 public:
  XvfbMonitor(const XvfbBackendOptions& options, const MonitorSpec& spec, FrameProducer producer)
      : options_(options), spec_(spec), producer_(std::move(producer)) {
    setPeriod();
  }
  ~XvfbMonitor() override {
    shutDown();
    if (!auth_file_.empty()) unlink(auth_file_.c_str());
  }

  // Starts the X server and publishes the first frame.
  Result<void> start() {
    const auto& l = producer_.layout();
    const uint64_t last_end = l.slots_offset + l.slot_stride * (l.slot_count - 1) +
                              l.payload_offset + bgraFrameBytes(spec_.fb_width, spec_.fb_height);
    if (last_end > UINT32_MAX)
      return makeError("frame ring of {} bytes: MIT-SHM addresses offsets below 4 GiB only",
                       l.total_size);
    if (auto mode = producer_.setMode(bgraGeometry(spec_.mode.width, spec_.mode.height)); !mode)
      return mode.error();
    if (!options_.auth_dir.empty()) {
      auto cookie = newCookie();
      if (!cookie) return cookie.error();
      cookie_ = *cookie;
      const std::string path = fmt::format("{}/monitor-{}.xauth", options_.auth_dir, spec_.id);
      if (auto written = writeXauthority(path, cookie_); !written) return written.error();
      auth_file_ = path;
    }
    if (auto up = bringUp(std::nullopt); !up) return up.error();
    return firstFrame();
  }

  uint32_t displayNumber() const override { return display_; }
  std::string xauthority() const override { return auth_file_; }
  uint32_t generation() const override { return producer_.generation(); }
  uint32_t fbWidth() const override { return fb_width_; }
  uint32_t fbHeight() const override { return fb_height_; }
  int pollFd() const override { return conn_ != nullptr ? xcb_get_file_descriptor(conn_) : -1; }
  MonitorCounters counters() const override { return counters_; }

  uint64_t nextWakeNs() const override {
    if (conn_ == nullptr) return retry_at_ns_;
    // Damage is grabbed as soon as the pacer allows; while a grab is in flight only its reply
    // (the fd) and the ticks it skips matter.
    uint64_t wake = pacer_.nextDueNs(damaged_ && !grab_);
    if (grab_) wake = std::min(wake, grab_->sent_ns + replyTimeoutNs());
    return wake;
  }

  void service(uint64_t now) override {
    if (conn_ == nullptr) {
      if (now >= retry_at_ns_) recover("retrying the X server start");
      return;
    }
    drain();
    if (xcb_connection_has_error(conn_) != 0) return recover("X server connection lost");
    if (grab_ && now > grab_->sent_ns + replyTimeoutNs())
      return recover("X server did not answer a grab in time");
    switch (pacer_.decide(now, damaged_, grab_.has_value())) {
      case FramePacer::Action::kNone:
        return;
      case FramePacer::Action::kGrab:  // the screen changed: grab now, not at the next tick
        startGrab(now);
        return;
      case FramePacer::Action::kRepeat:
        // Nothing changed: the last picture goes out again without a copy (repeatLast
        // re-publishes its slot, or flags a payload-free repeat while capture holds it).
        if (!producer_.canRepeat()) {
          pacer_.grabbed(now);
          startGrab(now);
        } else if (auto token = producer_.repeatLast(now); token && *token != abi::kNoToken) {
          ++counters_.repeats;
          ++counters_.frames_out;
          if (options_.on_frame) options_.on_frame(0, monotonicNs());  // fps only
        } else {
          ++counters_.drops;
        }
        return;
    }
  }

  Result<uint32_t> setMode(const MonitorSpec& next) override {
    finishGrabBlocking();
    uint32_t change = 0;
    if (conn_ != nullptr && next.mode.width <= fb_width_ && next.mode.height <= fb_height_) {
      if (auto applied = applyMode(next); applied) {
        change = abi::kVdisplayModeInPlace;
      } else {
        spdlog::warn("monitor {}: RandR mode change failed ({}); restarting its X server", spec_.id,
                     applied.error().message);
      }
    }
    if (auto geometry = producer_.setMode(bgraGeometry(next.mode.width, next.mode.height));
        !geometry)
      return geometry.error();
    spec_ = next;
    setPeriod();
    if (change == 0) {
      ++counters_.restarts;
      tearDownServer();
      if (auto up = bringUp(display_); !up) {
        ++counters_.errors;
        retry_at_ns_ = monotonicNs() + kRetryNs;
        return makeError(
            "X server restart for {}x{} failed: {}; the monitor keeps trying in the "
            "new mode",
            next.mode.width, next.mode.height, up.error().message);
      }
      change = abi::kVdisplayModeRestarted;
    }
    // The mode has changed whatever happens to its first frame; a failed grab restarts the
    // server on its own (recover), so report the change.
    if (auto first = firstFrame(); !first)
      spdlog::warn("monitor {}: first frame after the mode change: {}", spec_.id,
                   first.error().message);
    return change;
  }

 private:
  struct Grab {
    unsigned int sequence = 0;
    FrameProducer::WriteSlot slot;
    uint64_t capture_ns = 0;  // the damage it grabs: when the driver learned of it
    uint64_t sent_ns = 0;
  };

  uint64_t replyTimeoutNs() const {
    return static_cast<uint64_t>(options_.reply_timeout.count()) * 1'000'000u;
  }
  void setPeriod() { pacer_.setPeriod(1'000'000'000'000ull / spec_.mode.refresh_millihz); }

  // --- X server lifetime ---

  Result<void> bringUp(std::optional<uint32_t> display) {
    fb_width_ = std::max(spec_.fb_width, spec_.mode.width);
    fb_height_ = std::max(spec_.fb_height, spec_.mode.height);
    XvfbConfig config;
    config.binary = options_.xvfb_binary;
    config.width = fb_width_;
    config.height = fb_height_;
    config.display = display;
    config.auth_file = auth_file_;
    config.start_timeout = options_.start_timeout;
    config.keepalive = options_.keepalive;
    auto server = XvfbProcess::start(config);
    if (!server && display) {
      spdlog::warn("monitor {}: display :{} unavailable ({}); letting Xvfb pick one", spec_.id,
                   *display, server.error().message);
      config.display.reset();
      server = XvfbProcess::start(config);
    }
    if (!server) return server.error();
    server_.emplace(std::move(*server));
    display_ = server_->display();
    if (auto connected = connect(); !connected) {
      const std::string log = server_->logTail(300);
      tearDownServer();
      return makeError("X server :{}: {} (its log: {})", display_, connected.error().message, log);
    }
    if (auto mode = applyMode(spec_); !mode) {
      tearDownServer();
      return makeError("X server :{}: {}", display_, mode.error().message);
    }
    return {};
  }

  // Publishes a frame of the current mode before returning (ADD_MONITOR and SET_MODE reply
  // only once the host can read the monitor's picture).
  // A ring whose consumer holds every slot just delays that frame (retried at once, then at
  // the refresh rate); an X server that does not deliver is an error.
  Result<void> firstFrame() {
    const uint64_t now = monotonicNs();
    markDamaged(now);
    pacer_.grabbed(now);
    startGrab(now);
    if (!grab_) {
      spdlog::warn("monitor {}: no free ring slot for its first frame; it follows", spec_.id);
      pacer_.tickAt(now);
      return {};
    }
    if (!finishGrabBlocking()) return makeError("X server :{} did not deliver a frame", display_);
    return {};
  }

  void shutDown() {
    tearDownServer();
    conn_ = nullptr;
  }

  // Disconnects, stops the server and only then gives back a slot it may have been writing.
  void tearDownServer() {
    if (conn_ != nullptr) {
      xcb_disconnect(conn_);
      conn_ = nullptr;
    }
    if (server_) {
      server_->stop();
      server_.reset();
    }
    if (grab_) {
      producer_.cancel(grab_->slot);
      grab_.reset();
    }
    created_mode_ = XCB_NONE;
  }

  void recover(const char* reason) {
    spdlog::warn("monitor {} (:{}): {}; restarting its X server", spec_.id, display_, reason);
    ++counters_.errors;
    ++counters_.restarts;
    tearDownServer();
    if (auto up = bringUp(display_); !up) {
      spdlog::error("monitor {}: X server restart failed: {}", spec_.id, up.error().message);
      ++counters_.errors;
      retry_at_ns_ = monotonicNs() + kRetryNs;
      return;
    }
    const uint64_t now = monotonicNs();
    pacer_.tickAt(now);
    markDamaged(now);
  }

  // Waits (bounded) until every request sent so far has been processed by the server.
  Result<void> sync() {
    const auto cookie = xcb_get_input_focus(conn_);
    xcb_flush(conn_);
    const uint64_t deadline = monotonicNs() + replyTimeoutNs();
    for (;;) {
      void* reply = nullptr;
      xcb_generic_error_t* error = nullptr;
      if (xcb_poll_for_reply(conn_, cookie.sequence, &reply, &error) != 0) {
        std::free(reply);
        std::free(error);
        return {};
      }
      if (xcb_connection_has_error(conn_) != 0) return makeError("X connection broke");
      const uint64_t now = monotonicNs();
      if (now >= deadline)
        return makeError("X server did not answer within {} ms", options_.reply_timeout.count());
      pollfd p{xcb_get_file_descriptor(conn_), POLLIN, 0};
      const int wait_ms =
          static_cast<int>(std::min<uint64_t>((deadline - now) / 1'000'000 + 1, 50));
      poll(&p, 1, wait_ms);
      if (options_.keepalive) options_.keepalive();
    }
  }

  Result<void> connect() {
    int screen_number = 0;
    const std::string name = ":" + std::to_string(display_);
    if (auth_file_.empty()) {
      conn_ = xcb_connect(name.c_str(), &screen_number);
    } else {
      xcb_auth_info_t auth{};
      auth.namelen = static_cast<int>(sizeof kCookieName - 1);
      auth.name = const_cast<char*>(kCookieName);
      auth.datalen = static_cast<int>(cookie_.data.size());
      auth.data = reinterpret_cast<char*>(cookie_.data.data());
      conn_ = xcb_connect_to_display_with_auth_info(name.c_str(), &auth, &screen_number);
    }
    if (xcb_connection_has_error(conn_) != 0) return makeError("cannot connect to {}", name);
    const xcb_setup_t* setup = xcb_get_setup(conn_);
    auto it = xcb_setup_roots_iterator(setup);
    for (int i = 0; i < screen_number && it.rem > 0; ++i) xcb_screen_next(&it);
    if (it.rem == 0) return makeError("{} has no screen {}", name, screen_number);
    root_ = it.data->root;
    if (it.data->root_depth != 24)
      return makeError("{} has depth {}, expected 24", name, it.data->root_depth);
    xcb_prefetch_extension_data(conn_, &xcb_shm_id);
    xcb_prefetch_extension_data(conn_, &xcb_damage_id);
    xcb_prefetch_extension_data(conn_, &xcb_randr_id);
    if (auto s = sync(); !s) return s.error();
    const auto* shm = xcb_get_extension_data(conn_, &xcb_shm_id);
    const auto* damage = xcb_get_extension_data(conn_, &xcb_damage_id);
    const auto* randr = xcb_get_extension_data(conn_, &xcb_randr_id);
    if (shm == nullptr || !shm->present) return makeError("{} lacks MIT-SHM", name);
    if (damage == nullptr || !damage->present) return makeError("{} lacks DAMAGE", name);
    if (randr == nullptr || !randr->present) return makeError("{} lacks RANDR", name);
    damage_event_ = static_cast<uint8_t>(damage->first_event + XCB_DAMAGE_NOTIFY);

    const auto shm_version = xcb_shm_query_version(conn_);
    const auto damage_version = xcb_damage_query_version(conn_, 1, 1);
    const auto randr_version = xcb_randr_query_version(conn_, 1, 6);
    const auto atom = xcb_intern_atom(conn_, 0, 4, "EDID");
    int ring_fd = fcntl(producer_.handle(), F_DUPFD_CLOEXEC, 3);  // xcb closes it once sent
    if (ring_fd < 0) return makeError("dup of the ring fd: {}", std::strerror(errno));
    seg_ = xcb_generate_id(conn_);
    const auto attach = xcb_shm_attach_fd_checked(conn_, seg_, ring_fd, 0);
    damage_ = xcb_generate_id(conn_);
    const auto create =
        xcb_damage_create_checked(conn_, damage_, root_, XCB_DAMAGE_REPORT_LEVEL_NON_EMPTY);
    if (auto s = sync(); !s) return s.error();
    XPtr<xcb_shm_query_version_reply_t> sv(
        xcb_shm_query_version_reply(conn_, shm_version, nullptr));
    XPtr<xcb_damage_query_version_reply_t> dv(
        xcb_damage_query_version_reply(conn_, damage_version, nullptr));
    XPtr<xcb_randr_query_version_reply_t> rv(
        xcb_randr_query_version_reply(conn_, randr_version, nullptr));
    XPtr<xcb_intern_atom_reply_t> edid_atom(xcb_intern_atom_reply(conn_, atom, nullptr));
    if (!sv || sv->major_version < 1 || (sv->major_version == 1 && sv->minor_version < 2))
      return makeError("{}: MIT-SHM 1.2 (fd passing) is missing", name);
    if (!dv) return makeError("{}: DAMAGE version query failed", name);
    if (!rv || rv->major_version < 1 || (rv->major_version == 1 && rv->minor_version < 2))
      return makeError("{}: RandR 1.2 is missing", name);
    if (!edid_atom) return makeError("{}: cannot intern the EDID atom", name);
    edid_atom_ = edid_atom->atom;
    if (XPtr<xcb_generic_error_t> e(xcb_request_check(conn_, attach)); e)
      return makeError("{}: MIT-SHM attach of the ring failed (X error {})", name, e->error_code);
    if (XPtr<xcb_generic_error_t> e(xcb_request_check(conn_, create)); e)
      return makeError("{}: DAMAGE create failed (X error {})", name, e->error_code);
    return {};
  }

  // Gives the screen the mode and the EDID property (randr_mode.h).
  Result<void> applyMode(const MonitorSpec& spec) {
    if (conn_ == nullptr) return makeError("no X server");
    return applyRandrMode({conn_, root_, edid_atom_, [this] { return sync(); }}, spec,
                          &created_mode_);
  }

  // --- frames ---

  void startGrab(uint64_t now) {
    auto ws = producer_.beginFrame();
    if (!ws) {
      ++counters_.drops;
      return;
    }
    const auto& l = producer_.layout();
    const uint64_t offset = l.slots_offset + l.slot_stride * ws->slot + l.payload_offset;
    xcb_damage_subtract(conn_, damage_, XCB_NONE, XCB_NONE);
    const auto cookie =
        xcb_shm_get_image(conn_, root_, 0, 0, static_cast<uint16_t>(spec_.mode.width),
                          static_cast<uint16_t>(spec_.mode.height), ~0u, XCB_IMAGE_FORMAT_Z_PIXMAP,
                          seg_, static_cast<uint32_t>(offset));
    xcb_flush(conn_);
    grab_ = Grab{cookie.sequence, *ws, damage_ns_ != 0 ? damage_ns_ : now, now};
    damaged_ = false;
    damage_ns_ = 0;
  }

  // The screen changed (or must be grabbed anyway) as of `now`: the next grab carries the time
  // of the first change since the last grab as its capture time.
  void markDamaged(uint64_t now) {
    damaged_ = true;
    if (damage_ns_ == 0 || now < damage_ns_) damage_ns_ = now;
  }

  void completeGrab(void* raw_reply, xcb_generic_error_t* raw_error) {
    XPtr<xcb_shm_get_image_reply_t> reply(static_cast<xcb_shm_get_image_reply_t*>(raw_reply));
    XPtr<xcb_generic_error_t> error(raw_error);
    const Grab grab = *grab_;
    grab_.reset();
    const uint64_t bytes = bgraFrameBytes(spec_.mode.width, spec_.mode.height);
    if (!reply || reply->depth != 24 || reply->size != bytes) {
      producer_.cancel(grab.slot);
      ++counters_.errors;
      spdlog::warn("monitor {}: grab failed ({})", spec_.id,
                   error   ? fmt::format("X error {}", error->error_code)
                   : reply ? fmt::format("{} bytes at depth {}", reply->size, reply->depth)
                           : std::string("no reply"));
      markDamaged(grab.capture_ns);  // the change it should have grabbed is still to be grabbed
      return;
    }
    FrameMeta meta;
    meta.capture_time_ns = grab.capture_ns;
    meta.payload_size = bytes;
    meta.geometry = bgraGeometry(spec_.mode.width, spec_.mode.height);
    meta.colour = abi::ColourSpace::kSrgb;  // X11 TrueColor: full-range RGB
    const uint64_t token = producer_.publish(grab.slot, meta);
    if (token == abi::kNoToken) {
      ++counters_.drops;
      return;
    }
    ++counters_.grabs;
    ++counters_.frames_out;
    if (options_.on_frame) options_.on_frame(grab.capture_ns, monotonicNs());
  }

  void handleEvent(xcb_generic_event_t* event) {
    const uint8_t type = event->response_type & 0x7f;
    if (type == damage_event_) {
      markDamaged(monotonicNs());  // read as soon as it came: poll wakes on the X connection
    } else if (type == 0) {
      const auto* e = reinterpret_cast<xcb_generic_error_t*>(event);
      spdlog::debug("monitor {}: X error {} (major {}, minor {})", spec_.id, e->error_code,
                    e->major_code, e->minor_code);
      ++counters_.errors;
    }
  }

  // Everything that has arrived: events and the grab's reply. Never blocks.
  void drain() {
    for (;;) {
      bool progress = false;
      while (xcb_generic_event_t* event = xcb_poll_for_event(conn_)) {
        handleEvent(event);
        std::free(event);
        progress = true;
      }
      if (grab_) {
        void* reply = nullptr;
        xcb_generic_error_t* error = nullptr;
        if (xcb_poll_for_reply(conn_, grab_->sequence, &reply, &error) != 0) {
          completeGrab(reply, error);
          progress = true;
        }
      }
      // Reading for the reply may have queued an event the fd no longer announces: a damage
      // left there would wait for the next wake-up.
      if (xcb_generic_event_t* event = xcb_poll_for_queued_event(conn_)) {
        handleEvent(event);
        std::free(event);
        progress = true;
      }
      if (!progress) return;
    }
  }

  // Waits (bounded) for the grab in flight, if any; false if it failed or timed out (then the
  // server is restarted).
  bool finishGrabBlocking() {
    if (!grab_) return true;
    const uint64_t deadline = grab_->sent_ns + replyTimeoutNs();
    const uint64_t grabs = counters_.grabs;
    while (grab_ && conn_ != nullptr) {
      drain();
      if (!grab_) break;
      if (xcb_connection_has_error(conn_) != 0) {
        recover("X server connection lost");
        return false;
      }
      const uint64_t now = monotonicNs();
      if (now >= deadline) {
        recover("X server did not answer a grab in time");
        return false;
      }
      pollfd p{xcb_get_file_descriptor(conn_), POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<uint64_t>((deadline - now) / 1'000'000 + 1, 50)));
      if (options_.keepalive) options_.keepalive();
    }
    return counters_.grabs > grabs;
  }

  XvfbBackendOptions options_;
  MonitorSpec spec_;
  FrameProducer producer_;
  std::string auth_file_;  // the Xauthority file of this monitor's servers ("" if none)
  XCookie cookie_;
  std::optional<XvfbProcess> server_;
  xcb_connection_t* conn_ = nullptr;
  uint32_t display_ = 0;
  uint32_t fb_width_ = 0;
  uint32_t fb_height_ = 0;
  xcb_window_t root_ = XCB_NONE;
  xcb_shm_seg_t seg_ = 0;
  xcb_damage_damage_t damage_ = 0;
  uint8_t damage_event_ = 0;
  xcb_atom_t edid_atom_ = XCB_NONE;
  xcb_randr_mode_t created_mode_ = XCB_NONE;
  std::optional<Grab> grab_;
  bool damaged_ = true;
  uint64_t damage_ns_ = 0;  // the first damage not grabbed yet (CLOCK_MONOTONIC), 0: none
  FramePacer pacer_;        // when the next grab or repeat goes out
  uint64_t retry_at_ns_ = 0;
  MonitorCounters counters_;
};

class XvfbBackend final : public MonitorBackend {
 public:
  explicit XvfbBackend(const XvfbBackendOptions& options) : options_(options) {}
  const char* name() const override { return "xvfb"; }
  uint32_t capabilities() const override {
    return abi::kVdisplayCapHdrEdid | abi::kVdisplayCapResizeInPlace | abi::kVdisplayCapRandrEdid |
           (options_.auth_dir.empty() ? 0 : abi::kVdisplayCapXauth);
  }
  Result<std::unique_ptr<Monitor>> create(const MonitorSpec& spec,
                                          FrameProducer producer) override {
    auto monitor = std::make_unique<XvfbMonitor>(options_, spec, std::move(producer));
    if (auto started = monitor->start(); !started) return started.error();
    return std::unique_ptr<Monitor>(std::move(monitor));
  }

 private:
  XvfbBackendOptions options_;
};

}  // namespace

std::unique_ptr<MonitorBackend> createXvfbBackend(const XvfbBackendOptions& options) {
  return std::make_unique<XvfbBackend>(options);
}

}  // namespace funkhaus::vdisplay
