// Driver logic on a fake backend, fake time and real frame rings: bounds, refusals that create
// nothing, lowest-free ids, ownership, watchdog, mode changes.
#include "funkhaus/vdisplay/driver.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_backend.h"
#include "funkhaus/abi/token.h"
#include "funkhaus/common/frame_ring.h"

namespace funkhaus::vdisplay {
namespace {

using namespace std::chrono_literals;
using test::FakeBackend;
using test::FakeBackendState;

SharedMemory ring(uint32_t w, uint32_t h, uint32_t slots = 3) {
  FrameRingConfig config;
  config.slot_count = slots;
  config.mode = *makeGeometry(abi::PixelFormat::kBgra, w, h);
  auto r = createFrameRing(config);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return std::move(*r);
}

UniqueFd dupOf(const SharedMemory& shm) {
  return UniqueFd(fcntl(shm.handle(), F_DUPFD_CLOEXEC, 0));
}

class DriverTest : public ::testing::Test {
 protected:
  DriverTest() { reset(8); }

  void reset(uint32_t max_monitors) {
    driver_.reset();
    DriverOptions options;
    options.max_monitors = max_monitors;
    options.watchdog = 3000ms;
    options.serial_seed = 0xABCDEF;
    driver_ = std::make_unique<Driver>(options, std::make_unique<FakeBackend>(state_), clock_);
  }

  Reply add(uint64_t host, const SharedMemory& shm, uint32_t w = 1280, uint32_t h = 720,
            uint32_t mhz = 60000, uint32_t flags = 0, uint32_t fb_w = 0, uint32_t fb_h = 0) {
    Request r;
    r.type = VdisplayMessageType::kAddMonitor;
    r.request_id = ++request_id_;
    r.body = abi::VdisplayAddMonitorRequest{w, h, mhz, flags, fb_w, fb_h, {}};
    r.ring = dupOf(shm);
    return driver_->handle(host, std::move(r));
  }
  Reply addFd(uint64_t host, UniqueFd fd, uint32_t w = 1280, uint32_t h = 720) {
    Request r;
    r.type = VdisplayMessageType::kAddMonitor;
    r.body = abi::VdisplayAddMonitorRequest{w, h, 60000, 0, 0, 0, {}};
    r.ring = std::move(fd);
    return driver_->handle(host, std::move(r));
  }
  Reply simple(uint64_t host, VdisplayMessageType type, uint32_t id = 0) {
    Request r;
    r.type = type;
    r.request_id = ++request_id_;
    if (type == VdisplayMessageType::kRemoveMonitor || type == VdisplayMessageType::kGetMonitor)
      r.body = abi::VdisplayMonitorRequest{id, 0};
    if (type == VdisplayMessageType::kPing) r.body = abi::VdisplayPingRequest{42};
    return driver_->handle(host, std::move(r));
  }
  Reply setMode(uint64_t host, uint32_t id, uint32_t w, uint32_t h, uint32_t mhz = 60000) {
    Request r;
    r.type = VdisplayMessageType::kSetMode;
    r.request_id = ++request_id_;
    r.body = abi::VdisplaySetModeRequest{id, w, h, mhz};
    return driver_->handle(host, std::move(r));
  }
  static const abi::VdisplayMonitorReply& monitor(const Reply& r) {
    return std::get<abi::VdisplayMonitorReply>(r.body);
  }
  void expectNothingCreated(const Reply& r, VdisplayStatusCode code, const std::string& words) {
    EXPECT_EQ(r.code, code) << r.message;
    EXPECT_NE(r.message.find(words), std::string::npos) << r.message;
    EXPECT_EQ(driver_->monitorCount(), 0u);
    EXPECT_EQ(state_.created, 0);
    EXPECT_TRUE(state_.live_ids.empty());
  }

  FakeBackendState state_;
  FakeClock clock_;
  std::unique_ptr<Driver> driver_;
  uint32_t request_id_ = 0;
};

TEST_F(DriverTest, GetInfoReportsVersionsAndLimits) {
  const uint64_t host = driver_->addHost();
  const Reply r = simple(host, VdisplayMessageType::kGetInfo);
  ASSERT_TRUE(r.ok()) << r.message;
  const auto& info = std::get<abi::VdisplayInfoReply>(r.body);
  EXPECT_EQ(info.abi_version, abi::kAbiVersion);
  EXPECT_EQ(info.protocol_version, abi::kVdisplayProtocolVersion);
  EXPECT_EQ(info.driver_version, kDriverVersion);
  EXPECT_EQ(info.max_monitors, 8u);
  EXPECT_EQ(info.watchdog_ms, 3000u);
  EXPECT_STREQ(info.backend, "fake");
}

TEST_F(DriverTest, AddPublishesIntoTheRingAndDescribesTheMonitor) {
  const uint64_t host = driver_->addHost();
  auto shm = ring(1920, 1080);
  const Reply r = add(host, shm, 1920, 1080, 60000, abi::kVdisplayMonitorHdr, 0, 0);
  ASSERT_TRUE(r.ok()) << r.message;
  const auto& m = monitor(r);
  EXPECT_EQ(m.monitor_id, 0u);
  EXPECT_EQ(m.display_number, 100u);
  EXPECT_STREQ(m.display_name, ":100");
  EXPECT_STREQ(m.xauthority, "/fake/xauth-0");
  EXPECT_EQ(m.width, 1920u);
  EXPECT_EQ(m.flags, abi::kVdisplayMonitorHdr);
  EXPECT_EQ(m.edid_size, 256u);  // HDR: base block + CTA-861
  EXPECT_EQ(edidBlockSum(std::span(m.edid, 128)), 0);
  EXPECT_EQ(m.edid[12] | m.edid[13] << 8 | m.edid[14] << 16 | uint32_t{m.edid[15]} << 24,
            0xABCDEF00u);  // serial: seed << 8 | id
  // The host's consumer sees a frame of the mode with the reported generation.
  auto consumer = FrameConsumer::attach(*SharedMemory::attachDup(shm.handle()));
  ASSERT_TRUE(consumer.ok()) << consumer.error().message;
  FrameConsumer::Frame f;
  ASSERT_EQ(consumer->acquireLatest(0, &f), FrameConsumer::Status::kFrame);
  EXPECT_EQ(f.geometry.width, 1920u);
  EXPECT_EQ(f.geometry.stride[0], 1920u * 4);
  EXPECT_EQ(abi::tokenGeneration(f.token), m.generation);
  consumer->release(f);
}

TEST_F(DriverTest, IdsAreLowestFreeAndReused) {
  const uint64_t host = driver_->addHost();
  std::vector<SharedMemory> rings;
  for (int i = 0; i < 4; ++i) rings.push_back(ring(640, 480));
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(monitor(add(host, rings[i], 640, 480)).monitor_id, i);
  ASSERT_TRUE(simple(host, VdisplayMessageType::kRemoveMonitor, 1).ok());
  EXPECT_EQ(monitor(add(host, rings[3], 640, 480)).monitor_id, 1u);
  // Thousands of cycles never exhaust ids, and each monitor is really destroyed.
  auto shm = ring(640, 480);
  for (int cycle = 0; cycle < 2000; ++cycle) {
    const Reply r = add(host, shm, 640, 480);
    ASSERT_TRUE(r.ok()) << cycle << ": " << r.message;
    ASSERT_EQ(monitor(r).monitor_id, 3u);
    ASSERT_TRUE(simple(host, VdisplayMessageType::kRemoveMonitor, 3).ok());
  }
  EXPECT_EQ(driver_->monitorCount(), 3u);
  EXPECT_EQ(state_.live_ids, (std::set<uint32_t>{0, 1, 2}));
}

TEST_F(DriverTest, OutOfBoundModesAreRefusedAndCreateNothing) {
  const uint64_t host = driver_->addHost();
  auto shm = ring(1920, 1080);
  expectNothingCreated(add(host, shm, 0, 1080), VdisplayStatusCode::kBadMode, "width 0");
  expectNothingCreated(add(host, shm, 1920, 0), VdisplayStatusCode::kBadMode, "height 0");
  expectNothingCreated(add(host, shm, 1366, 768), VdisplayStatusCode::kBadMode, "multiple of 8");
  expectNothingCreated(add(host, shm, 1280, 721), VdisplayStatusCode::kBadMode, "odd");
  expectNothingCreated(add(host, shm, 8192, 8192), VdisplayStatusCode::kBadMode, "out of range");
  expectNothingCreated(add(host, shm, 1920, 1080, 0), VdisplayStatusCode::kBadMode, "refresh 0");
  expectNothingCreated(add(host, shm, 1920, 1080, 241000), VdisplayStatusCode::kBadMode,
                       "refresh 241000");
  expectNothingCreated(add(host, shm, 640, 480, 60000, 0, 320, 480), VdisplayStatusCode::kBadMode,
                       "framebuffer");
  // The ring was never attached as producer by a refused request... except that a bounds
  // refusal happens before the ring is even looked at: its producer slot is still free.
  EXPECT_EQ(abi::atomicLoad(reinterpret_cast<abi::FrameRingHeader*>(shm.data())->producer_pid), 0u);
}

TEST_F(DriverTest, BadRingsAreRefusedAndCreateNothing) {
  const uint64_t host = driver_->addHost();
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd pipe_read(p[0]), pipe_write(p[1]);
  expectNothingCreated(addFd(host, std::move(pipe_write)), VdisplayStatusCode::kBadRing,
                       "not a sealable memfd");
  UniqueFd unsealed(memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_EQ(ftruncate(unsealed.get(), 1 << 20), 0);
  expectNothingCreated(addFd(host, std::move(unsealed)), VdisplayStatusCode::kBadRing,
                       "not sealed");
  auto garbage = SharedMemory::create("garbage", 1 << 20);
  ASSERT_TRUE(garbage.ok());
  expectNothingCreated(addFd(host, dupOf(*garbage)), VdisplayStatusCode::kBadRing, "bad magic");
  auto small = ring(640, 480);
  expectNothingCreated(add(host, small, 1920, 1080), VdisplayStatusCode::kRingTooSmall,
                       "1920x1080 BGRA needs 8294400");
  // Another live process (our parent stands in for it) is the ring's producer.
  auto taken = ring(640, 480);
  abi::atomicRef(reinterpret_cast<abi::FrameRingHeader*>(taken.data())->producer_pid)
      .store(static_cast<uint32_t>(getppid()));
  expectNothingCreated(add(host, taken, 640, 480), VdisplayStatusCode::kBadRing,
                       "producer is already attached");
  state_.fail_next_create = "Xvfb would not start";
  auto fine = ring(640, 480);
  expectNothingCreated(add(host, fine, 640, 480), VdisplayStatusCode::kBackendFailed,
                       "Xvfb would not start");
  // The id the failed create had is free again.
  EXPECT_EQ(monitor(add(host, fine, 640, 480)).monitor_id, 0u);
}

TEST_F(DriverTest, OneRingFeedsOneMonitor) {
  const uint64_t host = driver_->addHost();
  auto shm = ring(640, 480);
  ASSERT_TRUE(add(host, shm, 640, 480).ok());
  const Reply again = add(host, shm, 640, 480);  // another fd of the same memfd
  EXPECT_EQ(again.code, VdisplayStatusCode::kBadRing);
  EXPECT_NE(again.message.find("already feeds monitor 0"), std::string::npos) << again.message;
  EXPECT_EQ(state_.created, 1);
  ASSERT_TRUE(simple(host, VdisplayMessageType::kRemoveMonitor, 0).ok());
  EXPECT_TRUE(add(host, shm, 640, 480).ok());  // free again once its monitor is gone
}

TEST_F(DriverTest, TooManyMonitors) {
  reset(2);
  const uint64_t host = driver_->addHost();
  auto a = ring(640, 480), b = ring(640, 480), c = ring(640, 480);
  ASSERT_TRUE(add(host, a, 640, 480).ok());
  ASSERT_TRUE(add(host, b, 640, 480).ok());
  const Reply r = add(host, c, 640, 480);
  EXPECT_EQ(r.code, VdisplayStatusCode::kTooManyMonitors);
  EXPECT_NE(r.message.find("all 2 monitors are in use"), std::string::npos) << r.message;
  EXPECT_EQ(state_.created, 2);
}

TEST_F(DriverTest, MonitorsBelongToTheirHost) {
  const uint64_t a = driver_->addHost();
  const uint64_t b = driver_->addHost();
  auto ra = ring(640, 480), rb = ring(640, 480);
  ASSERT_TRUE(add(a, ra, 640, 480).ok());
  ASSERT_TRUE(add(b, rb, 640, 480).ok());
  Reply r = simple(b, VdisplayMessageType::kRemoveMonitor, 0);
  EXPECT_EQ(r.code, VdisplayStatusCode::kNotOwner);
  EXPECT_NE(r.message.find("another host"), std::string::npos);
  EXPECT_EQ(setMode(b, 0, 800, 600).code, VdisplayStatusCode::kNotOwner);
  EXPECT_EQ(simple(b, VdisplayMessageType::kGetMonitor, 0).code, VdisplayStatusCode::kNotOwner);
  r = simple(b, VdisplayMessageType::kRemoveMonitor, 5);
  EXPECT_EQ(r.code, VdisplayStatusCode::kUnknownMonitor);
  EXPECT_EQ(r.message, "no monitor 5");
  r = simple(b, VdisplayMessageType::kClearAll);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<abi::VdisplayClearReply>(r.body).removed, 1u);  // only its own
  EXPECT_EQ(state_.live_ids, std::set<uint32_t>{0});
  r = simple(a, VdisplayMessageType::kPing);
  EXPECT_EQ(std::get<abi::VdisplayPingReply>(r.body).monitors, 1u);
  EXPECT_EQ(std::get<abi::VdisplayPingReply>(r.body).nonce, 42u);
  driver_->removeHost(a);  // connection closed: its monitors go at once
  EXPECT_TRUE(state_.live_ids.empty());
  EXPECT_EQ(driver_->monitorCount(), 0u);
}

TEST_F(DriverTest, WatchdogRemovesTheMonitorsOfSilentHostsOnly) {
  const uint64_t quiet = driver_->addHost();
  const uint64_t pinging = driver_->addHost();
  auto r1 = ring(640, 480), r2 = ring(640, 480), r3 = ring(640, 480);
  ASSERT_TRUE(add(quiet, r1, 640, 480).ok());
  ASSERT_TRUE(add(quiet, r2, 640, 480).ok());
  ASSERT_TRUE(add(pinging, r3, 640, 480).ok());
  for (int i = 0; i < 5; ++i) {
    clock_.advance(1000ms);
    ASSERT_TRUE(simple(pinging, VdisplayMessageType::kPing).ok());
    const auto expired = driver_->expireHosts();
    if (i < 2) {
      EXPECT_TRUE(expired.empty()) << i;
      EXPECT_EQ(driver_->monitorCount(), 3u);
    } else if (i == 2) {
      EXPECT_EQ(expired, std::vector<uint64_t>{quiet});  // 3000 ms after its last request
    }
  }
  EXPECT_EQ(state_.live_ids, std::set<uint32_t>{2});
  EXPECT_EQ(driver_->monitorCountOf(pinging), 1u);
  // The next deadline is the pinging host's.
  ASSERT_TRUE(driver_->nextWatchdogDeadline().has_value());
  EXPECT_EQ(*driver_->nextWatchdogDeadline(), clock_.now() + 3000ms);
  // Freed ids are reused lowest first.
  auto r4 = ring(640, 480);
  EXPECT_EQ(monitor(add(pinging, r4, 640, 480)).monitor_id, 0u);
}

TEST_F(DriverTest, SetModeChecksBoundsAndRingAndStartsAGeneration) {
  const uint64_t host = driver_->addHost();
  auto shm = ring(1920, 1080);
  const Reply added = add(host, shm, 1280, 720, 60000, 0, 1920, 1080);
  ASSERT_TRUE(added.ok()) << added.message;
  EXPECT_EQ(monitor(added).fb_width, 1920u);
  const uint32_t gen = monitor(added).generation;

  Reply r = setMode(host, 0, 1366, 768);
  EXPECT_EQ(r.code, VdisplayStatusCode::kBadMode);
  r = setMode(host, 0, 2560, 1440);
  EXPECT_EQ(r.code, VdisplayStatusCode::kRingTooSmall);
  EXPECT_NE(r.message.find("2560x1440 BGRA needs 14745600"), std::string::npos) << r.message;
  EXPECT_EQ(state_.mode_changes, 0);

  r = setMode(host, 0, 1920, 1080, 144000);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(monitor(r).mode_change, abi::kVdisplayModeInPlace);
  EXPECT_EQ(monitor(r).width, 1920u);
  EXPECT_EQ(monitor(r).refresh_millihz, 144000u);
  EXPECT_NE(monitor(r).generation, gen);
  // The EDID follows the mode: 1920 in the first detailed timing.
  EXPECT_EQ(monitor(r).edid[56] | (monitor(r).edid[58] >> 4) << 8, 1920);
  const Reply got = simple(host, VdisplayMessageType::kGetMonitor, 0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(monitor(got).refresh_millihz, 144000u);

  state_.fail_next_mode = "RandR said no";
  r = setMode(host, 0, 1280, 720);
  EXPECT_EQ(r.code, VdisplayStatusCode::kBackendFailed);
  EXPECT_NE(r.message.find("RandR said no"), std::string::npos);
  EXPECT_EQ(monitor(simple(host, VdisplayMessageType::kGetMonitor, 0)).width, 1920u);

  // A monitor that switched and then lost its screen reports the new mode from then on.
  const uint32_t before = monitor(simple(host, VdisplayMessageType::kGetMonitor, 0)).generation;
  state_.fail_next_mode_switched = "X server restart failed";
  r = setMode(host, 0, 1280, 720);
  EXPECT_EQ(r.code, VdisplayStatusCode::kBackendFailed);
  const Reply now = simple(host, VdisplayMessageType::kGetMonitor, 0);
  EXPECT_EQ(monitor(now).width, 1280u);
  EXPECT_NE(monitor(now).generation, before);
}

TEST_F(DriverTest, DestroyingTheDriverRemovesEveryMonitor) {
  const uint64_t host = driver_->addHost();
  auto a = ring(640, 480), b = ring(640, 480);
  ASSERT_TRUE(add(host, a, 640, 480).ok());
  ASSERT_TRUE(add(host, b, 640, 480).ok());
  EXPECT_EQ(driver_->totals().frames_out, 2u);
  driver_.reset();
  EXPECT_TRUE(state_.live_ids.empty());
  EXPECT_EQ(state_.destroyed, 2);
}

}  // namespace
}  // namespace funkhaus::vdisplay
