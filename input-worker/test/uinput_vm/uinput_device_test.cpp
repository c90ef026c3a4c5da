// Device tests of the uinput backend against a real kernel: the tests open /dev/uinput as
// funkhausd would, hand the fds to a UinputSink, and read the devices it makes back through
// their /dev/input/eventN with libevdev (pads, touch screen, pen, keyboard, mouse, rumble round
// trip, devices gone with the sink). They need root and a kernel with uinput and evdev: this
// machine's has none, so ctest runs them in a VM (run_uinput_vm_tests.sh); without /dev/uinput
// every test skips and says why.
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libevdev/libevdev.h>
#include <linux/input.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/percentile.h"
#include "funkhaus/input/uinput_sink.h"

namespace funkhaus::input {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// /dev/input/eventN of the input device called `name`, found through sysfs.
std::optional<std::string> eventNode(const std::string& name) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/class/input", ec)) {
    const std::string leaf = entry.path().filename().string();
    if (leaf.rfind("event", 0) != 0) continue;
    std::ifstream in(entry.path() / "device/name");
    std::string got;
    if (std::getline(in, got) && got == name) return "/dev/input/" + leaf;
  }
  return std::nullopt;
}

// Waits (up to 2 s) until a device called `name` exists (true) or does not (false).
std::optional<std::string> waitForNode(const std::string& name, bool present = true) {
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  for (;;) {
    auto node = eventNode(name);
    if (node.has_value() == present && (!present || fs::exists(*node))) return node;
    if (std::chrono::steady_clock::now() > deadline) return node;
    std::this_thread::sleep_for(5ms);
  }
}

bool gone(const std::string& name) { return !waitForNode(name, false).has_value(); }

// One event device read back through libevdev.
class Evdev {
 public:
  static std::unique_ptr<Evdev> open(const std::string& name, int flags = O_RDONLY) {
    const auto node = waitForNode(name);
    if (!node) return nullptr;
    auto e = std::unique_ptr<Evdev>(new Evdev);
    e->fd_ = ::open(node->c_str(), flags | O_NONBLOCK | O_CLOEXEC);
    if (e->fd_ < 0 || libevdev_new_from_fd(e->fd_, &e->dev_) != 0) return nullptr;
    e->node_ = *node;
    return e;
  }
  ~Evdev() {
    if (dev_) libevdev_free(dev_);
    if (fd_ >= 0) ::close(fd_);
  }

  libevdev* dev() { return dev_; }
  int fd() const { return fd_; }
  const std::string& node() const { return node_; }

  // Reads what the device sent until a SYN_REPORT and nothing more is waiting (2 s at most for
  // the first event). The events read are kept in `events`.
  std::vector<input_event> frame() {
    std::vector<input_event> events;
    bool synced = false;
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    for (;;) {
      input_event ev{};
      const int rc = libevdev_next_event(dev_, LIBEVDEV_READ_FLAG_NORMAL, &ev);
      if (rc == LIBEVDEV_READ_STATUS_SUCCESS) {
        events.push_back(ev);
        if (ev.type == EV_SYN && ev.code == SYN_REPORT) synced = true;
        continue;
      }
      if (rc == -EAGAIN) {
        if (synced || std::chrono::steady_clock::now() > deadline) return events;
        pollfd p{fd_, POLLIN, 0};
        ::poll(&p, 1, 50);
        continue;
      }
      return events;  // an error, or SYN_DROPPED (not expected here)
    }
  }
  int value(uint16_t type, uint16_t code) { return libevdev_get_event_value(dev_, type, code); }
  int slot(unsigned int slot, uint16_t code) { return libevdev_get_slot_value(dev_, slot, code); }

 private:
  Evdev() = default;
  int fd_ = -1;
  libevdev* dev_ = nullptr;
  std::string node_;
};

int32_t sumOf(const std::vector<input_event>& events, uint16_t type, uint16_t code) {
  int32_t sum = 0;
  for (const input_event& e : events)
    if (e.type == type && e.code == code) sum += e.value;
  return sum;
}

abi::InputEvent event(abi::InputKind kind) {
  abi::InputEvent e{};
  e.kind = static_cast<uint16_t>(kind);
  return e;
}

class UinputDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/dev/uinput", F_OK) != 0)
      GTEST_SKIP() << "no /dev/uinput here (this kernel has no uinput, or the module is not "
                      "loaded): input-worker/test/run_uinput_vm_tests.sh runs these tests in a "
                      "VM with Debian's kernel";
    const int probe = ::open("/dev/uinput", O_RDWR | O_CLOEXEC);
    if (probe < 0)
      GTEST_SKIP() << "cannot open /dev/uinput: " << std::strerror(errno)
                   << " (root, or funkhausd's rights, are needed)";
    ::close(probe);
  }

  // What funkhausd does: open /dev/uinput once per device the sink may make.
  static std::vector<UniqueFd> openUinput(uint32_t n) {
    std::vector<UniqueFd> fds;
    for (uint32_t i = 0; i < n; ++i) {
      const int fd = ::open("/dev/uinput", O_RDWR | O_CLOEXEC);
      EXPECT_GE(fd, 0) << std::strerror(errno);
      fds.emplace_back(fd);
    }
    return fds;
  }

  std::unique_ptr<InputSink> makeSink(bool keyboard_mouse = true, uint32_t fds = 0) {
    const UinputOptions options{keyboard_mouse};
    auto sink = createUinputSink(openUinput(fds ? fds : uinputFdsWanted(options)), options,
                                 [this](uint32_t pad, uint16_t low, uint16_t high) {
                                   rumbles_.push_back({pad, low, high});
                                 });
    EXPECT_TRUE(sink.ok()) << (sink.ok() ? "" : sink.error().message);
    return sink.ok() ? std::move(*sink) : nullptr;
  }

  static void applyOk(InputSink& sink, const abi::InputEvent& e) {
    auto r = sink.apply(e);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  struct Rumble {
    uint32_t pad;
    uint16_t low, high;
    bool operator==(const Rumble&) const = default;
  };
  std::vector<Rumble> rumbles_;
};

abi::InputEvent padState(uint8_t pad, uint16_t mask, uint32_t buttons = 0) {
  abi::InputEvent e = event(abi::InputKind::kPadState);
  e.index = pad;
  e.pad.active_mask = mask;
  e.pad.buttons = buttons;
  return e;
}

TEST_F(UinputDeviceTest, PadButtonsAxesYInversionTriggersHatAndRemoval) {
  auto sink = makeSink(false);
  ASSERT_TRUE(sink);
  abi::InputEvent s = padState(0, 0b1, abi::kPadA | abi::kPadY | abi::kPadUp | abi::kPadLeft);
  s.pad.left_x = -12345;
  s.pad.left_y = 20000;  // up
  s.pad.right_y = -32768;
  s.pad.left_trigger = 200;
  s.pad.right_trigger = 17;
  applyOk(*sink, s);
  EXPECT_EQ(sink->devices(), 1u);
  auto pad = Evdev::open("funkhaus pad 0");
  ASSERT_TRUE(pad);
  libevdev* d = pad->dev();
  EXPECT_EQ(libevdev_get_id_vendor(d), 0x045E);
  EXPECT_EQ(libevdev_get_id_product(d), 0x028E);
  for (unsigned code : {BTN_SOUTH, BTN_EAST, BTN_NORTH, BTN_WEST, BTN_TL, BTN_TR, BTN_SELECT,
                        BTN_START, BTN_MODE, BTN_THUMBL, BTN_THUMBR})
    EXPECT_TRUE(libevdev_has_event_code(d, EV_KEY, code)) << code;
  EXPECT_TRUE(libevdev_has_event_code(d, EV_FF, FF_RUMBLE));
  const input_absinfo* x = libevdev_get_abs_info(d, ABS_X);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->minimum, -32768);
  EXPECT_EQ(x->maximum, 32767);
  EXPECT_EQ(x->fuzz, 16);
  EXPECT_EQ(x->flat, 128);
  EXPECT_EQ(libevdev_get_abs_maximum(d, ABS_Z), 255);
  EXPECT_EQ(libevdev_get_abs_minimum(d, ABS_HAT0X), -1);
  // The state was written right after the device was made, before we opened the node: libevdev
  // read the values with the device's state.
  EXPECT_EQ(pad->value(EV_KEY, BTN_SOUTH), 1);
  EXPECT_EQ(pad->value(EV_KEY, BTN_WEST), 1);  // Y
  EXPECT_EQ(pad->value(EV_KEY, BTN_EAST), 0);
  EXPECT_EQ(pad->value(EV_ABS, ABS_X), -12345);
  EXPECT_EQ(pad->value(EV_ABS, ABS_Y), -20000);
  EXPECT_EQ(pad->value(EV_ABS, ABS_RY), 32767);
  EXPECT_EQ(pad->value(EV_ABS, ABS_Z), 200);
  EXPECT_EQ(pad->value(EV_ABS, ABS_RZ), 17);
  EXPECT_EQ(pad->value(EV_ABS, ABS_HAT0X), -1);
  EXPECT_EQ(pad->value(EV_ABS, ABS_HAT0Y), -1);

  // A change writes only what changed.
  s.pad.buttons = abi::kPadY | abi::kPadDown;
  applyOk(*sink, s);
  const auto events = pad->frame();
  EXPECT_EQ(pad->value(EV_KEY, BTN_SOUTH), 0);
  EXPECT_EQ(pad->value(EV_ABS, ABS_HAT0X), 0);
  EXPECT_EQ(pad->value(EV_ABS, ABS_HAT0Y), 1);
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const input_event& e) { return e.type != EV_SYN; }),
            3);

  // The pad's bit clears: the device goes.
  applyOk(*sink, padState(0, 0));
  EXPECT_TRUE(gone("funkhaus pad 0"));
  EXPECT_EQ(sink->devices(), 0u);
}

TEST_F(UinputDeviceTest, PadArrivalAndRemovalMakeAndRemoveTheDevice) {
  auto sink = makeSink(false);
  ASSERT_TRUE(sink);
  abi::InputEvent arrival = event(abi::InputKind::kPadArrival);
  arrival.index = 3;
  arrival.pad_arrival.type = static_cast<uint8_t>(abi::PadType::kXbox);
  applyOk(*sink, arrival);
  EXPECT_TRUE(waitForNode("funkhaus pad 3"));
  abi::InputEvent removed = event(abi::InputKind::kPadRemoved);
  removed.index = 3;
  applyOk(*sink, removed);
  EXPECT_TRUE(gone("funkhaus pad 3"));
}

TEST_F(UinputDeviceTest, FdsAreReusedAndRefusedWhenNoneIsLeft) {
  auto sink = makeSink(false, 2);
  ASSERT_TRUE(sink);
  applyOk(*sink, padState(0, 0b1));
  applyOk(*sink, padState(1, 0b11));
  EXPECT_FALSE(sink->apply(padState(2, 0b111)).ok());  // no fd left
  applyOk(*sink, padState(0, 0b10));                   // pad 0 goes: its fd is free
  applyOk(*sink, padState(2, 0b110));
  EXPECT_TRUE(waitForNode("funkhaus pad 2"));
  EXPECT_TRUE(gone("funkhaus pad 0"));
  EXPECT_EQ(sink->devices(), 2u);
}

abi::InputEvent touch(abi::ContactEvent what, uint32_t id, float x = 0, float y = 0) {
  abi::InputEvent e = event(abi::InputKind::kTouch);
  e.touch.event = static_cast<uint8_t>(what);
  e.touch.pointer_id = id;
  e.touch.rotation = abi::kRotationUnknown;
  e.touch.x = x;
  e.touch.y = y;
  e.touch.pressure = 1.0f;
  e.touch.major = 0.01f;
  e.touch.minor = 0.005f;
  return e;
}

TEST_F(UinputDeviceTest, TouchContactsSlotsTrackingIdsPositions) {
  auto sink = makeSink(false);
  ASSERT_TRUE(sink);
  applyOk(*sink, touch(abi::ContactEvent::kDown, 1001, 0.25f, 0.5f));
  auto ts = Evdev::open("funkhaus touchscreen");
  ASSERT_TRUE(ts);
  libevdev* d = ts->dev();
  EXPECT_TRUE(libevdev_has_property(d, INPUT_PROP_DIRECT));
  EXPECT_EQ(libevdev_get_num_slots(d), static_cast<int>(kTouchSlots));
  EXPECT_EQ(libevdev_get_abs_maximum(d, ABS_MT_POSITION_X), kSurfaceMaxX);
  EXPECT_EQ(libevdev_get_abs_maximum(d, ABS_MT_POSITION_Y), kSurfaceMaxY);
  EXPECT_EQ(libevdev_get_abs_resolution(d, ABS_MT_POSITION_X), kSurfaceResolution);
  // The first contact was written before we opened the node: it is in the state.
  EXPECT_EQ(ts->slot(0, ABS_MT_TRACKING_ID), 0);
  EXPECT_EQ(ts->slot(0, ABS_MT_POSITION_X), kSurfaceMaxX / 4);
  EXPECT_EQ(ts->slot(0, ABS_MT_POSITION_Y), kSurfaceMaxY / 2);
  EXPECT_EQ(ts->value(EV_KEY, BTN_TOUCH), 1);

  applyOk(*sink, touch(abi::ContactEvent::kDown, 7, 0.75f, 0.1f));
  ts->frame();
  EXPECT_EQ(ts->slot(1, ABS_MT_TRACKING_ID), 1);
  EXPECT_EQ(ts->slot(1, ABS_MT_POSITION_X), 14400);
  EXPECT_EQ(ts->slot(1, ABS_MT_POSITION_Y), 1080);
  EXPECT_EQ(ts->slot(1, ABS_MT_PRESSURE), kTouchPressureMax);
  EXPECT_EQ(ts->slot(1, ABS_MT_TOUCH_MAJOR), 192);

  applyOk(*sink, touch(abi::ContactEvent::kMove, 7, 0.5f, 0.5f));
  ts->frame();
  EXPECT_EQ(ts->slot(1, ABS_MT_POSITION_X), kSurfaceMaxX / 2);
  EXPECT_EQ(ts->slot(1, ABS_MT_TRACKING_ID), 1);

  applyOk(*sink, touch(abi::ContactEvent::kUp, 1001));
  ts->frame();
  EXPECT_EQ(ts->slot(0, ABS_MT_TRACKING_ID), -1);
  EXPECT_EQ(ts->slot(1, ABS_MT_TRACKING_ID), 1);
  EXPECT_EQ(ts->value(EV_KEY, BTN_TOUCH), 1);

  applyOk(*sink, touch(abi::ContactEvent::kCancelAll, 0));
  ts->frame();
  EXPECT_EQ(ts->slot(1, ABS_MT_TRACKING_ID), -1);
  EXPECT_EQ(ts->value(EV_KEY, BTN_TOUCH), 0);

  EXPECT_FALSE(sink->apply(touch(abi::ContactEvent::kDown, 5, 1.5f, 0.5f)).ok());
}

abi::InputEvent pen(abi::ContactEvent what, float x, float y, float pressure,
                    uint8_t tool = abi::kPenToolPen) {
  abi::InputEvent e = event(abi::InputKind::kPen);
  e.pen.event = static_cast<uint8_t>(what);
  e.pen.tool = tool;
  e.pen.tilt = abi::kTiltUnknown;
  e.pen.rotation = abi::kRotationUnknown;
  e.pen.x = x;
  e.pen.y = y;
  e.pen.pressure = pressure;
  return e;
}

TEST_F(UinputDeviceTest, PenPressureToolTiltAndButtons) {
  auto sink = makeSink(false);
  ASSERT_TRUE(sink);
  applyOk(*sink, pen(abi::ContactEvent::kHover, 0.5f, 0.5f, 0.5f));
  auto p = Evdev::open("funkhaus pen");
  ASSERT_TRUE(p);
  EXPECT_TRUE(libevdev_has_property(p->dev(), INPUT_PROP_DIRECT));
  EXPECT_EQ(libevdev_get_abs_maximum(p->dev(), ABS_PRESSURE), kPenPressureMax);
  EXPECT_EQ(p->value(EV_KEY, BTN_TOOL_PEN), 1);
  EXPECT_EQ(p->value(EV_KEY, BTN_TOUCH), 0);
  EXPECT_EQ(p->value(EV_ABS, ABS_DISTANCE), kPenDistanceMax / 2);

  abi::InputEvent down = pen(abi::ContactEvent::kDown, 0.25f, 0.75f, 0.5f);
  down.pen.tilt = 30;
  down.pen.rotation = 180;  // leaning towards the bottom of the screen (+Y)
  down.pen.buttons = abi::kPenButtonSecondary;
  applyOk(*sink, down);
  p->frame();
  EXPECT_EQ(p->value(EV_KEY, BTN_TOUCH), 1);
  EXPECT_EQ(p->value(EV_ABS, ABS_PRESSURE), 32768);
  EXPECT_EQ(p->value(EV_ABS, ABS_X), kSurfaceMaxX / 4);
  EXPECT_EQ(p->value(EV_ABS, ABS_Y), 8100);
  EXPECT_EQ(p->value(EV_ABS, ABS_TILT_X), 0);
  EXPECT_EQ(p->value(EV_ABS, ABS_TILT_Y), 30);
  EXPECT_EQ(p->value(EV_KEY, BTN_STYLUS2), 1);

  applyOk(*sink, pen(abi::ContactEvent::kDown, 0.25f, 0.75f, 1.0f, abi::kPenToolEraser));
  p->frame();  // out of proximity, then the eraser in: two frames, both read here
  EXPECT_EQ(p->value(EV_KEY, BTN_TOOL_PEN), 0);
  EXPECT_EQ(p->value(EV_KEY, BTN_TOOL_RUBBER), 1);
  EXPECT_EQ(p->value(EV_KEY, BTN_TOUCH), 1);
  EXPECT_EQ(p->value(EV_KEY, BTN_STYLUS2), 0);
  EXPECT_EQ(p->value(EV_ABS, ABS_PRESSURE), kPenPressureMax);

  sink->releaseAll();
  p->frame();
  EXPECT_EQ(p->value(EV_KEY, BTN_TOOL_RUBBER), 0);
  EXPECT_EQ(p->value(EV_KEY, BTN_TOUCH), 0);
}

abi::InputEvent key(abi::InputKind kind, uint32_t vk) {
  abi::InputEvent e = event(kind);
  e.key.vk = vk;
  return e;
}

TEST_F(UinputDeviceTest, KeyboardKeysAndReleaseAll) {
  auto sink = makeSink(true);
  ASSERT_TRUE(sink);
  applyOk(*sink, key(abi::InputKind::kKeyDown, 0xA0));  // left shift
  auto kb = Evdev::open("funkhaus keyboard");
  ASSERT_TRUE(kb);
  EXPECT_FALSE(libevdev_has_event_type(kb->dev(), EV_REP));
  EXPECT_EQ(kb->value(EV_KEY, KEY_LEFTSHIFT), 1);
  applyOk(*sink, key(abi::InputKind::kKeyDown, 0x41));
  kb->frame();
  EXPECT_EQ(kb->value(EV_KEY, KEY_A), 1);
  applyOk(*sink, key(abi::InputKind::kKeyUp, 0x41));
  kb->frame();
  EXPECT_EQ(kb->value(EV_KEY, KEY_A), 0);
  applyOk(*sink, key(abi::InputKind::kKeyDown, 0x70));
  kb->frame();
  EXPECT_EQ(kb->value(EV_KEY, KEY_F1), 1);
  EXPECT_FALSE(sink->apply(key(abi::InputKind::kKeyDown, 0x07)).ok());  // no such key

  abi::InputEvent padUp = padState(1, 0b10, abi::kPadStart);
  applyOk(*sink, padUp);
  EXPECT_TRUE(waitForNode("funkhaus pad 1"));

  sink->releaseAll();
  kb->frame();
  EXPECT_EQ(kb->value(EV_KEY, KEY_LEFTSHIFT), 0);
  EXPECT_EQ(kb->value(EV_KEY, KEY_F1), 0);
  EXPECT_TRUE(gone("funkhaus pad 1"));
}

TEST_F(UinputDeviceTest, MouseRelativeButtonsWheelsHiResAndAbsolute) {
  auto sink = makeSink(true);
  ASSERT_TRUE(sink);
  abi::InputEvent move = event(abi::InputKind::kMouseMove);
  move.pointer.x = 10;
  move.pointer.y = -4;
  applyOk(*sink, move);
  auto mouse = Evdev::open("funkhaus mouse");
  ASSERT_TRUE(mouse);
  EXPECT_TRUE(libevdev_has_event_code(mouse->dev(), EV_REL, REL_WHEEL_HI_RES));
  applyOk(*sink, move);
  auto moved = mouse->frame();
  EXPECT_EQ(sumOf(moved, EV_REL, REL_X), 10);
  EXPECT_EQ(sumOf(moved, EV_REL, REL_Y), -4);

  abi::InputEvent scroll = event(abi::InputKind::kScroll);
  scroll.scroll.amount = 60;
  applyOk(*sink, scroll);
  applyOk(*sink, scroll);
  abi::InputEvent h = event(abi::InputKind::kHScroll);
  h.scroll.amount = -240;
  applyOk(*sink, h);
  const auto wheel = mouse->frame();  // all three frames are there already: uinput writes
                                      // reach the event node's readers before write() returns
  EXPECT_EQ(sumOf(wheel, EV_REL, REL_WHEEL_HI_RES), 120);
  EXPECT_EQ(sumOf(wheel, EV_REL, REL_WHEEL), 1);
  EXPECT_EQ(sumOf(wheel, EV_REL, REL_HWHEEL_HI_RES), -240);
  EXPECT_EQ(sumOf(wheel, EV_REL, REL_HWHEEL), -2);

  abi::InputEvent button = event(abi::InputKind::kButtonDown);
  button.button.button = 3;
  applyOk(*sink, button);
  mouse->frame();
  EXPECT_EQ(mouse->value(EV_KEY, BTN_RIGHT), 1);
  button.button.button = 5;
  applyOk(*sink, button);
  mouse->frame();
  EXPECT_EQ(mouse->value(EV_KEY, BTN_EXTRA), 1);
  sink->releaseAll();
  mouse->frame();
  EXPECT_EQ(mouse->value(EV_KEY, BTN_RIGHT), 0);
  EXPECT_EQ(mouse->value(EV_KEY, BTN_EXTRA), 0);

  abi::InputEvent pos = event(abi::InputKind::kMousePosition);
  pos.pointer = {960, 1079, 1921, 1080};
  applyOk(*sink, pos);
  auto absolute = Evdev::open("funkhaus mouse (absolute)");
  ASSERT_TRUE(absolute);
  EXPECT_TRUE(libevdev_has_property(absolute->dev(), INPUT_PROP_POINTER));
  EXPECT_EQ(absolute->value(EV_ABS, ABS_X), kSurfaceMaxX / 2);
  EXPECT_EQ(absolute->value(EV_ABS, ABS_Y), kSurfaceMaxY);
}

// A game's rumble: EVIOCSFF on the pad's event node (the ioctl waits until the sink's poll()
// answers the upload), EV_FF play and stop written to the node; the sink reports the motors.
TEST_F(UinputDeviceTest, RumbleRoundTrip) {
  auto sink = makeSink(false);
  ASSERT_TRUE(sink);
  applyOk(*sink, padState(4, 0b10000));
  auto pad = Evdev::open("funkhaus pad 4", O_RDWR);
  ASSERT_TRUE(pad);

  // Runs `ioctl` on another thread while this one polls the sink, as the worker's loop would.
  const auto whilePolling = [&](auto ioctl) {
    std::atomic<bool> done = false;
    int rc = -1;
    std::thread game([&] {
      rc = ioctl();
      done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done && std::chrono::steady_clock::now() < deadline) {
      sink->poll();
      std::this_thread::sleep_for(1ms);
    }
    game.join();
    return rc;
  };

  ff_effect effect{};
  effect.type = FF_RUMBLE;
  effect.id = -1;
  effect.u.rumble.strong_magnitude = 0xC000;
  effect.u.rumble.weak_magnitude = 0x3000;
  ASSERT_EQ(whilePolling([&] { return ::ioctl(pad->fd(), EVIOCSFF, &effect); }), 0)
      << std::strerror(errno);
  ASSERT_GE(effect.id, 0);
  EXPECT_TRUE(rumbles_.empty());  // uploaded, not played

  const auto play = [&](int32_t count) {
    input_event ev{};
    ev.type = EV_FF;
    ev.code = static_cast<uint16_t>(effect.id);
    ev.value = count;
    ASSERT_EQ(::write(pad->fd(), &ev, sizeof ev), static_cast<ssize_t>(sizeof ev));
  };
  const auto waitForRumble = [&](size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (rumbles_.size() < n && std::chrono::steady_clock::now() < deadline) {
      sink->poll();
      std::this_thread::sleep_for(1ms);
    }
  };
  play(1);
  waitForRumble(1);
  ASSERT_EQ(rumbles_.size(), 1u);
  EXPECT_EQ(rumbles_[0], (Rumble{4, 0xC000, 0x3000}));
  play(0);
  waitForRumble(2);
  ASSERT_EQ(rumbles_.size(), 2u);
  EXPECT_EQ(rumbles_[1], (Rumble{4, 0, 0}));

  // Played again and then erased by the game: stops.
  play(1);
  waitForRumble(3);
  ASSERT_EQ(whilePolling([&] { return ::ioctl(pad->fd(), EVIOCRMFF, effect.id); }), 0);
  waitForRumble(4);
  ASSERT_EQ(rumbles_.size(), 4u);
  EXPECT_EQ(rumbles_[3], (Rumble{4, 0, 0}));

  // A pad removed while it rumbles reports 0,0.
  effect.id = -1;
  ASSERT_EQ(whilePolling([&] { return ::ioctl(pad->fd(), EVIOCSFF, &effect); }), 0);
  play(1);
  waitForRumble(5);
  ASSERT_EQ(rumbles_.size(), 5u);
  applyOk(*sink, padState(4, 0));
  ASSERT_EQ(rumbles_.size(), 6u);
  EXPECT_EQ(rumbles_[5], (Rumble{4, 0, 0}));
}

TEST_F(UinputDeviceTest, DevicesVanishWithTheSink) {
  auto sink = makeSink(true);
  ASSERT_TRUE(sink);
  applyOk(*sink, key(abi::InputKind::kKeyDown, 0x41));
  applyOk(*sink, padState(7, 0x80));
  applyOk(*sink, touch(abi::ContactEvent::kDown, 1, 0.5f, 0.5f));
  for (const char* name : {"funkhaus keyboard", "funkhaus pad 7", "funkhaus touchscreen"})
    EXPECT_TRUE(waitForNode(name)) << name;
  EXPECT_EQ(sink->devices(), 3u);
  sink.reset();
  for (const char* name : {"funkhaus keyboard", "funkhaus pad 7", "funkhaus touchscreen"})
    EXPECT_TRUE(gone(name)) << name;
}

// A worker that dies (SIGKILL, no destructor) takes its devices with it: the kernel destroys a
// uinput device when the last reference to its fd goes -- unless someone else, like a funkhausd
// that kept its copies of the fds, still holds one.
TEST_F(UinputDeviceTest, DevicesDieWithTheWorkerUnlessTheFdsAreKeptElsewhere) {
  for (bool supervisorKeepsCopies : {false, true}) {
    SCOPED_TRACE(supervisorKeepsCopies ? "funkhausd keeps copies" : "funkhausd closes its copies");
    std::vector<UniqueFd> fds = openUinput(uinputFdsWanted(UinputOptions{true}));
    int ready[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {  // the worker: a key held down, then it hangs until killed
      ::close(ready[0]);
      auto sink = createUinputSink(std::move(fds), UinputOptions{true}, nullptr);
      if (!sink.ok() || !(*sink)->apply(key(abi::InputKind::kKeyDown, 0x41)).ok()) ::_exit(1);
      (void)!::write(ready[1], "r", 1);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    if (!supervisorKeepsCopies) fds.clear();  // handed over: the parent's copies closed
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    EXPECT_TRUE(waitForNode("funkhaus keyboard"));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (supervisorKeepsCopies) {
      EXPECT_TRUE(waitForNode("funkhaus keyboard")) << "outlives its worker";
      fds.clear();
    }
    EXPECT_TRUE(gone("funkhaus keyboard"));
  }
}

TEST_F(UinputDeviceTest, KeyLatencyFigure) {
  auto sink = makeSink(true);
  ASSERT_TRUE(sink);
  applyOk(*sink, key(abi::InputKind::kKeyDown, 0x41));
  applyOk(*sink, key(abi::InputKind::kKeyUp, 0x41));
  auto kb = Evdev::open("funkhaus keyboard");
  ASSERT_TRUE(kb);
  constexpr int kPresses = 200;
  std::vector<uint64_t> ns;
  for (int i = 0; i < 2 * kPresses; ++i) {
    const auto kind = i % 2 == 0 ? abi::InputKind::kKeyDown : abi::InputKind::kKeyUp;
    const uint64_t t0 = monotonicNs();
    applyOk(*sink, key(kind, 0x41));
    pollfd p{kb->fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    ns.push_back(monotonicNs() - t0);
    kb->frame();
  }
  std::vector<uint64_t> sorted = ns;
  std::sort(sorted.begin(), sorted.end());
  const auto us = [&](double q) {
    return static_cast<double>(percentileOfSorted<uint64_t>(sorted, q)) / 1000.0;
  };
  std::printf(
      "[figures] uinput key latency (apply() = write() on the uinput fd -> event readable on "
      "%s), %d presses and releases: p50 %.1f us, p99 %.1f us, max %.1f us\n",
      kb->node().c_str(), kPresses, us(0.5), us(0.99), us(1.0));
}

}  // namespace
}  // namespace funkhaus::input
