// The XTEST sink and the dispatcher on a real input ring under a real Xvfb: a second X client
// (Recorder) owns a window over the whole screen with the focus and records the key, button and
// motion events that arrive, translating keycodes with the server's mapping as a client does.
#include "funkhaus/input/xtest_sink.h"

#include <X11/keysym.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xcb/xcb.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/input_ring.h"
#include "funkhaus/input/dispatcher.h"
#include "funkhaus/input/input_pump.h"
#include "input_events.h"
#include "x_client.h"
#include "x_recorder.h"
#include "xvfb_server.h"

namespace funkhaus::input {
namespace {

using abi::InputKind;
using capture::test::XvfbServer;
using test::Recorder;

constexpr uint32_t kWidth = 1280, kHeight = 720;

using test::button;
using test::key;
using test::make;
using test::move;
using test::position;
using test::scroll;
using test::text;

// Code points of a UTF-8 string (the test's own strings: valid).
std::vector<uint32_t> codePoints(const std::string& utf8) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<uint8_t>(utf8[i]);
    const int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n; ++k) cp = cp << 6 | (static_cast<uint8_t>(utf8[i + k]) & 0x3F);
    out.push_back(cp);
    i += static_cast<size_t>(n);
  }
  return out;
}

// One funkhaus-input as the worker has it: a consumer on a real ring, the dispatcher with the
// XTEST sink, the pump; the test publishes with a producer on the same ring.
struct Session {
  Session(const std::string& display, const SharedMemory& ring) {
    auto shm = SharedMemory::attachDup(ring.handle());
    EXPECT_TRUE(shm);
    auto c = InputConsumer::attach(std::move(*shm));
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    consumer.emplace(std::move(*c));
    XtestOptions options;
    options.display = display;
    auto sink = XtestSink::create(options);
    EXPECT_TRUE(sink) << (sink ? "" : sink.error().message);
    xtest = sink->get();
    std::vector<std::unique_ptr<InputSink>> sinks;
    sinks.push_back(std::move(*sink));
    dispatcher.emplace(std::move(sinks));
    pump.emplace(*consumer, *dispatcher);
    EXPECT_TRUE(pump->start());
  }
  std::optional<InputConsumer> consumer;
  XtestSink* xtest = nullptr;
  std::optional<Dispatcher> dispatcher;
  std::optional<InputPump> pump;
};

class XtestSinkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string why;
    xvfb_ = XvfbServer::start(kWidth, kHeight, &why).release();
    if (xvfb_ == nullptr) why_ = new std::string(why);
  }
  static void TearDownTestSuite() {
    delete xvfb_;
    xvfb_ = nullptr;
  }

  void SetUp() override {
    if (xvfb_ == nullptr) GTEST_SKIP() << *why_;
    recorder_.emplace(xvfb_->display());
    ASSERT_TRUE(recorder_->ok());
    InputRingConfig config;
    config.slot_count = 64;
    auto ring = createInputRing(config);
    ASSERT_TRUE(ring) << ring.error().message;
    ring_.emplace(std::move(*ring));
    auto shm = SharedMemory::attachDup(ring_->handle());
    ASSERT_TRUE(shm);
    auto producer = InputProducer::attach(std::move(*shm));
    ASSERT_TRUE(producer) << producer.error().message;
    producer_.emplace(std::move(*producer));
    session_.emplace(xvfb_->display(), *ring_);
    recorder_->drain();
  }

  void TearDown() override {
    if (session_) session_->pump->stop();
    session_.reset();
  }

  // Publishes the events and lets the worker's pump take them all.
  void send(const std::vector<abi::InputEvent>& events) {
    for (const auto& e : events) ASSERT_TRUE(producer_->publish(e)) << "kind " << e.kind;
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(session_->pump->runBatch(0));
    session_->xtest->sync();  // the server has done it all before the recorder looks
  }
  void typeKey(uint32_t vk) { send({key(InputKind::kKeyDown, vk), key(InputKind::kKeyUp, vk)}); }

  static inline XvfbServer* xvfb_ = nullptr;
  static inline std::string* why_ = nullptr;
  std::optional<Recorder> recorder_;
  std::optional<SharedMemory> ring_;
  std::optional<InputProducer> producer_;
  std::optional<Session> session_;
};

TEST_F(XtestSinkTest, KeysArriveAsTheirKeysyms) {
  for (uint32_t vk :
       {0x41u, 0x5Au, 0x31u, 0x0Du, 0x20u, 0x70u, 0x7Bu, 0x25u, 0x24u, 0x2Eu, 0x6Bu, 0x1Bu, 0x09u})
    typeKey(vk);
  EXPECT_EQ(recorder_->typed(),
            (std::vector<uint32_t>{XK_a, XK_z, XK_1, XK_Return, XK_space, XK_F1, XK_F12, XK_Left,
                                   XK_Home, XK_Delete, XK_KP_Add, XK_Escape, XK_Tab}));
  // The keypad's digits with NumLock on (the host's NumLock: the client toggles it by key).
  typeKey(0x90);
  typeKey(0x60);
  typeKey(0x69);
  typeKey(0x90);
  typeKey(0x60);
  EXPECT_EQ(recorder_->typed(),
            (std::vector<uint32_t>{XK_Num_Lock, XK_KP_0, XK_KP_9, XK_Num_Lock, XK_KP_Insert}));
}

TEST_F(XtestSinkTest, OemKeysAreUsPunctuation) {
  for (uint32_t vk : {0xBAu, 0xBBu, 0xBCu, 0xBDu, 0xBEu, 0xBFu, 0xC0u, 0xDBu, 0xDCu, 0xDDu, 0xDEu})
    typeKey(vk);
  EXPECT_EQ(recorder_->typed(),
            (std::vector<uint32_t>{XK_semicolon, XK_equal, XK_comma, XK_minus, XK_period, XK_slash,
                                   XK_grave, XK_bracketleft, XK_backslash, XK_bracketright,
                                   XK_apostrophe}));
}

TEST_F(XtestSinkTest, ShiftedCharactersAreShiftPlusKey) {
  // The client sends Shift as its own key: Shift down, 1, ;, A, Shift up -> ! : A
  send({key(InputKind::kKeyDown, 0xA0)});
  typeKey(0x31);
  typeKey(0xBA);
  typeKey(0x41);
  send({key(InputKind::kKeyUp, 0xA0)});
  typeKey(0x41);
  EXPECT_EQ(recorder_->typed(), (std::vector<uint32_t>{XK_exclam, XK_colon, XK_A, XK_a}));
}

TEST_F(XtestSinkTest, Utf8TextIsTypedByKeysym) {
  std::vector<abi::InputEvent> events;
  for (uint32_t cp : codePoints("aA!ä€😀ä")) events.push_back(text(cp));
  send(events);
  EXPECT_EQ(recorder_->typed(), (std::vector<uint32_t>{XK_a, XK_A, XK_exclam, XK_adiaeresis,
                                                       0x10020AC, 0x101F600, XK_adiaeresis}));
  EXPECT_TRUE(recorder_->keysDown().empty());
  EXPECT_EQ(session_->dispatcher->counters().sink_errors, 0u);
}

TEST_F(XtestSinkTest, AbsolutePositionIsScaledToTheRoot) {
  send({position(500, 250, 1000, 1000)});
  EXPECT_EQ(recorder_->pointer(), (std::pair<int, int>{640, 180}));
  send({position(1919, 1079, 1920, 1080)});
  EXPECT_EQ(recorder_->pointer(), (std::pair<int, int>{1279, 719}));
  send({position(0, 0, 1, 1)});
  EXPECT_EQ(recorder_->pointer(), (std::pair<int, int>{0, 0}));
}

TEST_F(XtestSinkTest, RelativeMotionMovesByTheDelta) {
  send({position(640, 360, 1280, 720)});
  send({move(10, -5)});
  EXPECT_EQ(recorder_->pointer(), (std::pair<int, int>{650, 355}));
  send({move(-3, 4), move(-3, 4)});
  EXPECT_EQ(recorder_->pointer(), (std::pair<int, int>{644, 363}));
  auto motion = recorder_->drain();
  ASSERT_FALSE(motion.empty());
  EXPECT_EQ(motion.back().type, XCB_MOTION_NOTIFY);
}

TEST_F(XtestSinkTest, ButtonsMapToXButtons) {
  send({position(100, 100, 1280, 720)});
  for (uint32_t b = 1; b <= 5; ++b)
    send({button(InputKind::kButtonDown, b), button(InputKind::kButtonUp, b)});
  EXPECT_EQ(recorder_->buttonsPressed(), (std::vector<uint32_t>{1, 2, 3, 8, 9}));
  EXPECT_EQ(recorder_->buttonMask(), 0);
}

TEST_F(XtestSinkTest, ScrollClicksPerWholeNotch) {
  send({position(100, 100, 1280, 720)});
  send({scroll(InputKind::kScroll, 120)});
  EXPECT_EQ(recorder_->buttonsPressed(), (std::vector<uint32_t>{4}));
  send({scroll(InputKind::kScroll, 60)});
  EXPECT_TRUE(recorder_->buttonsPressed().empty());  // half a notch: nothing yet
  send({scroll(InputKind::kScroll, 60)});
  EXPECT_EQ(recorder_->buttonsPressed(), (std::vector<uint32_t>{4}));
  send({scroll(InputKind::kScroll, -240)});
  EXPECT_EQ(recorder_->buttonsPressed(), (std::vector<uint32_t>{5, 5}));
  send({scroll(InputKind::kHScroll, 120), scroll(InputKind::kHScroll, -120)});
  EXPECT_EQ(recorder_->buttonsPressed(), (std::vector<uint32_t>{7, 6}));
}

TEST_F(XtestSinkTest, ReleaseAllLeavesNothingDown) {
  send({position(100, 100, 1280, 720), key(InputKind::kKeyDown, 0xA0),
        key(InputKind::kKeyDown, 0x41), key(InputKind::kKeyDown, 0x11),
        button(InputKind::kButtonDown, 1), button(InputKind::kButtonDown, 3)});
  EXPECT_EQ(recorder_->keysDown().size(), 3u);
  EXPECT_NE(recorder_->buttonMask(), 0);
  bool consistent = false;
  EXPECT_NE(session_->consumer->readApplied(&consistent).keys[1], 0u);
  producer_->releaseAll();
  send({});
  EXPECT_TRUE(recorder_->keysDown().empty());
  EXPECT_EQ(recorder_->buttonMask(), 0);
  const abi::InputHeld applied = session_->consumer->readApplied(&consistent);
  EXPECT_TRUE(consistent);
  EXPECT_EQ(applied.keys[0] | applied.keys[1] | applied.keys[2] | applied.keys[3], 0u);
  EXPECT_EQ(applied.buttons, 0u);
}

TEST_F(XtestSinkTest, OverrunReleasesWhatTheClientNoLongerHolds) {
  send({position(100, 100, 1280, 720), key(InputKind::kKeyDown, 0x41),
        key(InputKind::kKeyDown, 0x42), button(InputKind::kButtonDown, 1)});
  EXPECT_EQ(recorder_->keysDown().size(), 2u);
  // 100 events the worker does not read in time (a 64-slot ring): the ups of A and the button
  // are overwritten; B stays held.
  producer_->publish(key(InputKind::kKeyUp, 0x41));
  producer_->publish(button(InputKind::kButtonUp, 1));
  for (int i = 0; i < 100; ++i) producer_->publish(move(1, 0));
  send({});
  EXPECT_GE(session_->consumer->overrun(), 1u);
  EXPECT_EQ(recorder_->keysDown().size(), 1u);  // B
  EXPECT_EQ(recorder_->buttonMask(), 0);
  send({key(InputKind::kKeyUp, 0x42)});
  EXPECT_TRUE(recorder_->keysDown().empty());
}

// A worker that dies with keys down (no release, no destructors), and its successor.
TEST_F(XtestSinkTest, ARestartedWorkerReleasesWhatItsPredecessorLeftDown) {
  session_->pump->stop();
  session_.reset();  // the child is the ring's consumer now
  const std::string display = xvfb_->display();
  int attached[2];
  ASSERT_EQ(pipe(attached), 0);
  const uint64_t last = producer_->published() + 5;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(attached[0]);
    Session dying(display, *ring_);
    const char ready = 1;
    if (write(attached[1], &ready, 1) != 1) _exit(2);
    for (int i = 0; i < 50 && dying.consumer->position() < last; ++i)
      (void)dying.pump->runBatch(100'000'000);
    dying.xtest->sync();
    _exit(testing::Test::HasFailure() || dying.dispatcher->counters().applied != 5 ? 1 : 0);
  }
  close(attached[1]);
  char ready = 0;
  ASSERT_EQ(read(attached[0], &ready, 1), 1);  // it starts at the ring's head: wait for it
  close(attached[0]);
  for (const auto& e :
       {position(100, 100, 1280, 720), key(InputKind::kKeyDown, 0xA0),
        key(InputKind::kKeyDown, 0x41), button(InputKind::kButtonDown, 1), move(1, 1)})
    producer_->publish(e);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(recorder_->keysDown().size(), 2u);  // stuck with the dead worker
  EXPECT_NE(recorder_->buttonMask(), 0);
  ASSERT_TRUE(releaseInputRingPeer(*ring_, static_cast<uint32_t>(child)));  // what funkhausd does

  session_.emplace(xvfb_->display(), *ring_);
  session_->xtest->sync();
  EXPECT_TRUE(recorder_->keysDown().empty());
  EXPECT_EQ(recorder_->buttonMask(), 0);
  bool consistent = false;
  const abi::InputHeld applied = session_->consumer->readApplied(&consistent);
  EXPECT_EQ(applied.keys[1] | applied.keys[2] | applied.buttons, 0u);
}

TEST_F(XtestSinkTest, AbsolutePositionFollowsARandrResize) {
  EXPECT_EQ(session_->xtest->width(), kWidth);
  EXPECT_EQ(session_->xtest->height(), kHeight);
  capture::test::XClient client(xvfb_->display());
  if (!client.resizeScreen(640, 480)) GTEST_SKIP() << "this Xvfb refuses RandR resizes";
  session_->xtest->sync();  // the notify is queued for the sink now
  send({});                 // a turn: poll() reads it
  EXPECT_EQ(session_->xtest->width(), 640u);
  EXPECT_EQ(session_->xtest->height(), 480u);
  send({position(500, 250, 1000, 1000)});
  EXPECT_EQ(recorder_->pointer(), (std::pair<int, int>{320, 120}));
  ASSERT_TRUE(client.resizeScreen(kWidth, kHeight));
  session_->xtest->sync();
  send({position(500, 250, 1000, 1000)});
  EXPECT_EQ(recorder_->pointer(), (std::pair<int, int>{640, 180}));
}

}  // namespace
}  // namespace funkhaus::input
