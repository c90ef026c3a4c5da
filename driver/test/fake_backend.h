// FakeBackend: a MonitorBackend without X servers for unit tests of the Driver logic. Its
// monitors publish a frame of their mode into the real ring on create and on every mode change.
// Test processes only.
#pragma once

#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "funkhaus/vdisplay/monitor.h"

namespace funkhaus::vdisplay::test {

struct FakeBackendState {
  int created = 0;    // monitors successfully created
  int destroyed = 0;  // monitors destroyed
  int mode_changes = 0;
  std::set<uint32_t> live_ids;
  std::string fail_next_create;         // non-empty: the next create fails with this message
  std::string fail_next_mode;           // the next mode change fails, nothing changes
  std::string fail_next_mode_switched;  // the next mode change switches, then fails
};

class FakeMonitor final : public Monitor {
 public:
  FakeMonitor(FakeBackendState& state, const MonitorSpec& spec, FrameProducer producer)
      : state_(state), spec_(spec), producer_(std::move(producer)) {
    state_.live_ids.insert(spec.id);
  }
  ~FakeMonitor() override {
    state_.live_ids.erase(spec_.id);
    ++state_.destroyed;
  }

  Result<void> publishFrame() {
    if (auto m = producer_.setMode(bgraGeometry(spec_.mode.width, spec_.mode.height)); !m)
      return m.error();
    auto ws = producer_.beginFrame();
    if (!ws) return makeError("fake: no free slot");
    const uint64_t bytes = bgraFrameBytes(spec_.mode.width, spec_.mode.height);
    std::memset(ws->payload.data(), static_cast<int>(spec_.id + 1), bytes);
    FrameMeta meta;
    meta.capture_time_ns = 1;
    meta.payload_size = bytes;
    meta.geometry = bgraGeometry(spec_.mode.width, spec_.mode.height);
    producer_.publish(*ws, meta);
    ++counters_.frames_out;
    return {};
  }

  uint32_t displayNumber() const override { return 100 + spec_.id; }
  std::string xauthority() const override { return "/fake/xauth-" + std::to_string(spec_.id); }
  uint32_t generation() const override { return producer_.generation(); }
  uint32_t fbWidth() const override { return std::max(spec_.fb_width, spec_.mode.width); }
  uint32_t fbHeight() const override { return std::max(spec_.fb_height, spec_.mode.height); }
  Result<uint32_t> setMode(const MonitorSpec& next) override {
    if (!state_.fail_next_mode.empty()) {
      auto message = std::exchange(state_.fail_next_mode, "");
      return makeError("{}", message);
    }
    if (!state_.fail_next_mode_switched.empty()) {
      auto message = std::exchange(state_.fail_next_mode_switched, "");
      spec_ = next;
      if (auto m = producer_.setMode(bgraGeometry(next.mode.width, next.mode.height)); !m)
        return m.error();
      return makeError("{}", message);
    }
    const bool in_place = next.mode.width <= fbWidth() && next.mode.height <= fbHeight();
    spec_ = next;
    ++state_.mode_changes;
    if (auto f = publishFrame(); !f) return f.error();
    return in_place ? abi::kVdisplayModeInPlace : abi::kVdisplayModeRestarted;
  }
  int pollFd() const override { return -1; }
  uint64_t nextWakeNs() const override { return UINT64_MAX; }
  void service(uint64_t) override {}
  MonitorCounters counters() const override { return counters_; }
  const MonitorSpec& spec() const { return spec_; }

 private:
  FakeBackendState& state_;
  MonitorSpec spec_;
  FrameProducer producer_;
  MonitorCounters counters_;
};

class FakeBackend final : public MonitorBackend {
 public:
  explicit FakeBackend(FakeBackendState& state) : state_(state) {}
  const char* name() const override { return "fake"; }
  uint32_t capabilities() const override { return abi::kVdisplayCapHdrEdid; }
  Result<std::unique_ptr<Monitor>> create(const MonitorSpec& spec,
                                          FrameProducer producer) override {
    if (!state_.fail_next_create.empty()) {
      auto message = std::exchange(state_.fail_next_create, "");
      return makeError("{}", message);
    }
    auto m = std::make_unique<FakeMonitor>(state_, spec, std::move(producer));
    if (auto f = m->publishFrame(); !f) return f.error();
    ++state_.created;
    return std::unique_ptr<Monitor>(std::move(m));
  }

 private:
  FakeBackendState& state_;
};

}  // namespace funkhaus::vdisplay::test
