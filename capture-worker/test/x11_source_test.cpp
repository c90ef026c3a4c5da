// The X11 source against a real Xvfb: known colours captured and converted, damage-driven
// repeats, a draw grabbed as soon as its damage is seen (at most one grab per frame interval),
// root resizes followed (RandR), scaling down to the ring, the cursor, and clear errors without
// an X server.
#include <xcb/randr.h>
#include <xcb/xcb.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "funkhaus/abi/token.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/capture/capture_source.h"
#include "funkhaus/capture/frame_clock.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/test/colour_reference.h"
#include "ring_fixture.h"
#include "x_client.h"
#include "xvfb_server.h"

namespace funkhaus::capture {
namespace {

using test::makeRing;
using test::plane;
using test::Ring;
using test::XClient;
using test::XvfbServer;

using funkhaus::test::bt709;
using funkhaus::test::Yuv;

class X11Source : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = XvfbServer::start(640, 480, &why_).release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "no Xvfb: " << why_;
    client_ = std::make_unique<XClient>(server_->display());
    ASSERT_TRUE(client_->ok());
  }

  SourceConfig config() const {
    SourceConfig c;
    c.kind = SourceKind::kX11;
    c.display = server_->display();
    c.compose_cursor = false;
    return c;
  }

  // Captures until a fresh frame (not a repeat) of width `want_width` (0: any) is published;
  // returns it held (release it). *mode_changed: some capture on the way changed the mode.
  static FrameConsumer::Frame grab(CaptureSource& source, Ring& ring, uint32_t want_width = 0,
                                   bool* mode_changed = nullptr) {
    for (int i = 0; i < 100; ++i) {
      auto outcome = source.capture(ring.producer, static_cast<uint64_t>(i), monotonicNs());
      EXPECT_TRUE(outcome.ok());
      if (mode_changed != nullptr && outcome->new_mode) *mode_changed = true;
      FrameConsumer::Frame f;
      if (ring.consumer.acquireLatest(0, &f) == FrameConsumer::Status::kFrame) {
        if (outcome->kind == CaptureOutcome::Kind::kPublished &&
            (want_width == 0 || f.geometry.width == want_width))
          return f;
        ring.consumer.release(f);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ADD_FAILURE() << "no frame published";
    return {};
  }

  static void expectColour(const FrameConsumer::Frame& f, Yuv want, const char* what) {
    EXPECT_EQ(f.colour, static_cast<uint32_t>(abi::ColourSpace::kBt709Limited))
        << what << ": the slot header says the policy";
    const uint32_t w = f.geometry.width, h = f.geometry.height;
    const uint32_t points[][2] = {{0, 0}, {w - 1, h - 1}, {w / 3, h / 4}, {w - 2, 1}, {1, h - 2}};
    for (const auto& p : points) {
      const int y = plane(f, 0)[size_t{p[1]} * f.geometry.stride[0] + p[0]];
      const int u = plane(f, 1)[size_t{p[1] / 2} * f.geometry.stride[1] + p[0] / 2];
      const int v = plane(f, 2)[size_t{p[1] / 2} * f.geometry.stride[2] + p[0] / 2];
      EXPECT_NEAR(y, want.y, 2) << what << " at " << p[0] << "," << p[1];
      EXPECT_NEAR(u, want.u, 2) << what << " at " << p[0] << "," << p[1];
      EXPECT_NEAR(v, want.v, 2) << what << " at " << p[0] << "," << p[1];
    }
  }

  static XvfbServer* server_;
  static std::string why_;
  std::unique_ptr<XClient> client_;
};

XvfbServer* X11Source::server_ = nullptr;
std::string X11Source::why_;

TEST_F(X11Source, CapturesKnownColours) {
  Ring ring = makeRing(640, 480);
  auto source = CaptureSource::create(config(), ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok()) << source.error().message;
  const struct {
    uint32_t rgb;
    const char* name;
  } colours[] = {{0xFF0000, "red"},
                 {0x00FF00, "green"},
                 {0x0000FF, "blue"},
                 {0xFFFFFF, "white"},
                 {0x336699, "#336699"}};
  for (const auto& c : colours) {
    client_->fillRoot(c.rgb);
    FrameConsumer::Frame f = grab(**source, ring);
    ASSERT_NE(f.payload.data(), nullptr);
    EXPECT_EQ(f.geometry.format, static_cast<uint32_t>(abi::PixelFormat::kI420));
    EXPECT_EQ(f.geometry.width, 640u);
    EXPECT_EQ(f.geometry.height, 480u);
    expectColour(f, bt709(c.rgb >> 16, (c.rgb >> 8) & 0xFF, c.rgb & 0xFF), c.name);
    ring.consumer.release(f);
  }
}

TEST_F(X11Source, RepeatsTheLastFrameWhileNothingChanges) {
  Ring ring = makeRing(640, 480);
  auto source = CaptureSource::create(config(), ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok()) << source.error().message;
  client_->fillRoot(0x112233);
  ring.consumer.release(grab(**source, ring));
  // A damage event of the fill may still arrive after that grab (one more grab); then,
  // nothing drawing, every frame is a repeat (no grab) and the stream keeps its rate.
  for (int i = 0; i < 5; ++i) {
    auto outcome = (*source)->capture(ring.producer, 50 + i, monotonicNs());
    ASSERT_TRUE(outcome.ok());
    FrameConsumer::Frame f;
    if (ring.consumer.acquireLatest(0, &f) == FrameConsumer::Status::kFrame)
      ring.consumer.release(f);
    if (outcome->kind == CaptureOutcome::Kind::kRepeated) break;
  }
  int repeats = 0;
  for (int i = 0; i < 10; ++i) {
    auto outcome = (*source)->capture(ring.producer, 100 + i, monotonicNs());
    ASSERT_TRUE(outcome.ok());
    FrameConsumer::Frame f;
    ASSERT_EQ(ring.consumer.acquireLatest(0, &f), FrameConsumer::Status::kFrame);
    if (outcome->kind == CaptureOutcome::Kind::kRepeated) {
      ++repeats;
      EXPECT_NE(f.flags & abi::kSlotFlagRepeat, 0u);
      expectColour(f, bt709(0x11, 0x22, 0x33), "repeat");
    }
    ring.consumer.release(f);
  }
  EXPECT_EQ(repeats, 10);
  // A change on screen: the next frame is a fresh grab with the change in it (the last grab
  // was more than a frame interval ago).
  client_->fillRect(0xFF0000, 0, 0, 64, 64);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto outcome = (*source)->capture(ring.producer, 200, monotonicNs());
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->kind, CaptureOutcome::Kind::kPublished);
  FrameConsumer::Frame f;
  ASSERT_EQ(ring.consumer.acquireLatest(0, &f), FrameConsumer::Status::kFrame);
  EXPECT_EQ(f.flags & abi::kSlotFlagRepeat, 0u);
  const Yuv red = bt709(255, 0, 0);
  EXPECT_NEAR(plane(f, 0)[10 * f.geometry.stride[0] + 10], red.y, 2);
  EXPECT_NEAR(plane(f, 0)[100 * f.geometry.stride[0] + 100], bt709(0x11, 0x22, 0x33).y, 2);
  ring.consumer.release(f);
}

// Settles the source: captures until a repeat (nothing left to grab), then stays idle for
// longer than a frame interval, so the next change may be grabbed at once.
static void settle(CaptureSource& source, Ring& ring) {
  for (int i = 0; i < 100; ++i) {
    auto outcome = source.capture(ring.producer, 1000 + i, monotonicNs());
    ASSERT_TRUE(outcome.ok());
    FrameConsumer::Frame f;
    if (ring.consumer.acquireLatest(0, &f) == FrameConsumer::Status::kFrame)
      ring.consumer.release(f);
    if (outcome->kind == CaptureOutcome::Kind::kRepeated) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

// XDamage: a draw after an idle period is ready at once (long before the wait's deadline, which
// stands for the next deadline of the frame grid), and the frame's time is when the damage was
// seen: after the draw was issued, before the wait returned, not the time of the capture call.
TEST_F(X11Source, GrabsADrawAfterAnIdlePeriodAtOnce) {
  Ring ring = makeRing(640, 480);
  auto source = CaptureSource::create(config(), ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok()) << source.error().message;
  client_->fillRoot(0x000000);
  ring.consumer.release(grab(**source, ring));
  settle(**source, ring);
  // Nothing drawn: the wait runs to its deadline and says not ready.
  const uint64_t idle_until = monotonicNs() + 30'000'000;
  EXPECT_FALSE((*source)->waitForFrame(idle_until));
  EXPECT_GE(monotonicNs(), idle_until);

  const uint64_t drawn = monotonicNs();
  client_->fillRect(0xFFFFFF, 0, 0, 64, 64);
  const uint64_t until = monotonicNs() + 5'000'000'000;
  ASSERT_TRUE((*source)->waitForFrame(until)) << "the damage made no frame ready";
  const uint64_t ready = monotonicNs();
  EXPECT_LT(ready, until - 4'000'000'000) << "ready only at the deadline";
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the capture call comes later
  const uint64_t called = monotonicNs();
  auto outcome = (*source)->capture(ring.producer, 2000, called);
  ASSERT_TRUE(outcome.ok());
  ASSERT_EQ(outcome->kind, CaptureOutcome::Kind::kPublished);
  EXPECT_GE(outcome->capture_ns, drawn);
  EXPECT_LE(outcome->capture_ns, ready);
  EXPECT_LT(outcome->capture_ns, called);
  EXPECT_GE(outcome->stage_start_ns, called) << "the grab's own start";
  FrameConsumer::Frame f;
  ASSERT_EQ(ring.consumer.acquireLatest(0, &f), FrameConsumer::Status::kFrame);
  EXPECT_EQ(f.capture_time_ns, outcome->capture_ns) << "the frame carries the damage time";
  EXPECT_GT(plane(f, 0)[0], 200) << "the white rectangle was grabbed";
  ring.consumer.release(f);
}

// XDamage while drawing never stops: grabs come about one frame interval apart at the least
// (the capture calls in between say there is nothing to do), and frame times keep rising.
TEST_F(X11Source, NeverGrabsFasterThanTheFrameRate) {
  constexpr uint32_t kFps = 50;  // 20 ms
  constexpr uint64_t kInterval = 20'000'000;
  Ring ring = makeRing(640, 480);
  SourceConfig c = config();
  c.fps = kFps;
  auto source = CaptureSource::create(c, ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok()) << source.error().message;
  client_->fillRoot(0x000000);
  ring.consumer.release(grab(**source, ring));

  std::atomic<bool> drawing{true};
  std::thread drawer([display = server_->display(), &drawing] {
    XClient painter(display);
    for (uint32_t i = 0; drawing.load(); ++i)
      painter.fillRect((i & 1) != 0 ? 0xFFFFFF : 0x808080, 0, 0, 32, 32);  // synced each time
  });
  std::vector<uint64_t> grabs, times;
  const uint64_t start = monotonicNs();
  const uint64_t end = start + 600'000'000;
  int nothing = 0;
  while (monotonicNs() < end) {
    const bool ready = (*source)->waitForFrame(monotonicNs() + 5'000'000);  // a 200 Hz grid
    auto outcome = (*source)->capture(ring.producer, grabs.size(), monotonicNs());
    ASSERT_TRUE(outcome.ok());
    FrameConsumer::Frame f;
    if (ring.consumer.acquireLatest(0, &f) == FrameConsumer::Status::kFrame)
      ring.consumer.release(f);
    if (outcome->kind == CaptureOutcome::Kind::kPublished) {
      EXPECT_LE(outcome->capture_ns, outcome->stage_start_ns) << "seen before it was grabbed";
      grabs.push_back(outcome->stage_start_ns);
      times.push_back(outcome->capture_ns);
    } else if (outcome->kind == CaptureOutcome::Kind::kNothing) {
      EXPECT_FALSE(ready) << "ready, yet nothing was grabbed";
      ++nothing;
    }
  }
  drawing = false;
  drawer.join();
  ASSERT_GE(grabs.size(), 5u) << "continuous drawing made too few grabs";
  EXPECT_GT(nothing, 0) << "the 200 Hz calls never met the rate limit";
  for (size_t i = 1; i < grabs.size(); ++i) {
    // An eighth of slack: a grid deadline may come that much early after a late one.
    EXPECT_GE(grabs[i] - grabs[i - 1], kInterval - kInterval / 8) << "grab " << i << " too soon";
    EXPECT_GT(times[i], times[i - 1]) << "frame " << i << "'s time went back";
  }
  EXPECT_LE(grabs.size(), (grabs.back() - grabs.front()) / (kInterval - kInterval / 8) + 1);
}

TEST_F(X11Source, FollowsARootResize) {
  Ring ring = makeRing(640, 480);
  auto source = CaptureSource::create(config(), ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok()) << source.error().message;
  client_->fillRoot(0x00FF00);
  ring.consumer.release(grab(**source, ring));
  const uint32_t generation = ring.producer.generation();
  if (!client_->resizeScreen(320, 240)) GTEST_SKIP() << "this Xvfb refuses RandR resizes";
  client_->fillRoot(0x0000FF);
  bool mode_changed = false;
  FrameConsumer::Frame f = grab(**source, ring, 320, &mode_changed);
  EXPECT_EQ(f.geometry.width, 320u);
  EXPECT_EQ(f.geometry.height, 240u);
  EXPECT_NE(abi::tokenGeneration(f.token), generation) << "a mode change starts a generation";
  EXPECT_TRUE(mode_changed);
  expectColour(f, bt709(0, 0, 255), "blue after shrinking");
  ring.consumer.release(f);
  ASSERT_TRUE(client_->resizeScreen(640, 480));
  client_->fillRoot(0xFF00FF);
  f = grab(**source, ring, 640);
  EXPECT_EQ(f.geometry.width, 640u);
  EXPECT_EQ(f.geometry.height, 480u);
  expectColour(f, bt709(255, 0, 255), "magenta after growing back");
  ring.consumer.release(f);
}

TEST_F(X11Source, ScalesDownToFitTheRingSlots) {
  // The ring's slots hold 320x240 only; the root is 640x480.
  Ring ring = makeRing(320, 240);
  auto source = CaptureSource::create(config(), ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok()) << source.error().message;
  client_->fillRoot(0xFF8000);
  FrameConsumer::Frame f = grab(**source, ring);
  EXPECT_EQ(f.geometry.width, 320u);
  EXPECT_EQ(f.geometry.height, 240u);
  expectColour(f, bt709(255, 128, 0), "orange scaled");
  ring.consumer.release(f);
}

TEST_F(X11Source, ComposesTheCursor) {
  Ring ring = makeRing(640, 480);
  SourceConfig with = config();
  with.compose_cursor = true;
  auto source = CaptureSource::create(with, ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok()) << source.error().message;
  client_->fillRoot(0x808080);
  client_->warpPointer(200, 150);
  FrameConsumer::Frame f = grab(**source, ring);
  const int grey = bt709(128, 128, 128).y;
  auto differing = [&](const FrameConsumer::Frame& frame, int x0, int y0) {
    int n = 0;
    for (int y = y0 - 12; y < y0 + 12; ++y)
      for (int x = x0 - 12; x < x0 + 12; ++x)
        n += std::abs(plane(frame, 0)[size_t(y) * frame.geometry.stride[0] + x] - grey) > 8;
    return n;
  };
  const int at_cursor = differing(f, 200, 150);
  EXPECT_EQ(differing(f, 400, 300), 0) << "nothing away from the cursor";
  ring.consumer.release(f);
  if (at_cursor == 0) GTEST_SKIP() << "this Xvfb shows no cursor image (XFixes)";
  // Moving the pointer alone (no damage) gives a fresh frame with the cursor moved (once a
  // frame interval has passed since the last grab).
  client_->warpPointer(400, 300);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto outcome = (*source)->capture(ring.producer, 1000, monotonicNs());
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->kind, CaptureOutcome::Kind::kPublished);
  ASSERT_EQ(ring.consumer.acquireLatest(0, &f), FrameConsumer::Status::kFrame);
  EXPECT_GT(differing(f, 400, 300), 0);
  EXPECT_EQ(differing(f, 200, 150), 0);
  ring.consumer.release(f);
  std::printf(
      "[figures] cursor: %d of 576 luma samples around the pointer differ from the "
      "background\n",
      at_cursor);
}

TEST_F(X11Source, StampsTheBarcodeWhenAsked) {
  Ring ring = makeRing(640, 480);
  SourceConfig with = config();
  with.stamp_barcode = true;
  auto source = CaptureSource::create(with, ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok());
  client_->fillRoot(0x445566);
  FrameConsumer::Frame f = grab(**source, ring);
  auto data = readBarcode(plane(f, 0), f.geometry.stride[0], f.geometry.width, f.geometry.height);
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ(data->capture_ns, f.capture_time_ns);
  ring.consumer.release(f);
}

TEST(X11SourceErrors, NoServerIsUnsupported) {
  SourceConfig c;
  c.kind = SourceKind::kX11;
  c.display = ":4095";  // nobody listens there
  SourceFailure failure = SourceFailure::kTransient;
  auto source = CaptureSource::create(c, 1 << 24, &failure);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(failure, SourceFailure::kUnsupported);
  EXPECT_NE(source.error().message.find(":4095"), std::string::npos) << source.error().message;

  const char* saved = std::getenv("DISPLAY");
  const std::string keep = saved != nullptr ? saved : "";
  unsetenv("DISPLAY");
  c.display.clear();
  failure = SourceFailure::kTransient;
  source = CaptureSource::create(c, 1 << 24, &failure);
  if (saved != nullptr) setenv("DISPLAY", keep.c_str(), 1);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(failure, SourceFailure::kUnsupported);
  EXPECT_NE(source.error().message.find("DISPLAY is not set"), std::string::npos)
      << source.error().message;
}

// Capture + convert cost per frame on a screen of each size (a small change per frame forces a
// real grab), and the cost of a repeat.
void measureCost(uint32_t width, uint32_t height) {
  std::string why;
  auto server = XvfbServer::start(width, height, &why);
  if (!server) GTEST_SKIP() << "no Xvfb: " << why;
  XClient client(server->display());
  Ring ring = makeRing(width, height);
  SourceConfig c;
  c.kind = SourceKind::kX11;
  c.display = server->display();
  c.fps = kMaxFps;  // grabs at most every 4.2 ms
  auto source = CaptureSource::create(c, ring.producer.layout().payload_capacity);
  ASSERT_TRUE(source.ok()) << source.error().message;
  client.fillRoot(0x204060);
  constexpr int kFrames = 60;
  double grab_us = 0, repeat_us = 0;
  int grabs = 0, repeats = 0;
  for (int i = 0; i < kFrames; ++i) {
    client.fillRect(0x010101u * static_cast<uint32_t>(i), static_cast<int16_t>(i * 4), 10, 32, 32);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a frame interval
    for (int pass = 0; pass < 2; ++pass) {  // a grab, then (nothing drawn) a repeat
      const uint64_t start = monotonicNs();
      auto outcome = (*source)->capture(ring.producer, static_cast<uint64_t>(i * 2 + pass), start);
      const double us = (monotonicNs() - start) / 1e3;
      ASSERT_TRUE(outcome.ok());
      if (outcome->kind == CaptureOutcome::Kind::kPublished) grab_us += us, ++grabs;
      if (outcome->kind == CaptureOutcome::Kind::kRepeated) repeat_us += us, ++repeats;
      FrameConsumer::Frame f;
      if (ring.consumer.acquireLatest(0, &f) == FrameConsumer::Status::kFrame)
        ring.consumer.release(f);
    }
  }
  std::printf(
      "[figures] x11 %ux%u: capture+convert %.0f us/frame (%d grabs), repeat %.0f "
      "us/frame (%d)\n",
      width, height, grabs ? grab_us / grabs : 0.0, grabs, repeats ? repeat_us / repeats : 0.0,
      repeats);
  EXPECT_GT(grabs, kFrames / 2);
  EXPECT_GT(repeats, 0);
}

TEST(X11SourceFigures, CaptureCost640x480) { measureCost(640, 480); }
TEST(X11SourceFigures, CaptureCost1920x1080) { measureCost(1920, 1080); }

}  // namespace
}  // namespace funkhaus::capture
