// The real funkhaus-capture binary run through the one FakeSupervisor, as funkhausd runs it:
// frames in a real ring, SIGKILL and restart on the same ring, stop, SIGTERM, exit codes.
// And funkhaus-barcode reading frames that real ffmpeg processes encoded and decoded.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/capture/frame_clock.h"
#include "funkhaus/capture/synthetic_pattern.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/test/fake_supervisor.h"
#include "funkhaus/test/shell.h"
#include "x_client.h"
#include "xvfb_server.h"

namespace funkhaus::capture {
namespace {

using namespace std::chrono_literals;
using funkhaus::test::FakeSupervisor;
using test::XClient;
using test::XvfbServer;

SharedMemory makeRing(uint32_t width, uint32_t height) {
  FrameRingConfig config;
  config.name = "funkhaus-frames-test";
  config.slot_count = 4;
  config.mode = *makeGeometry(abi::PixelFormat::kI420, width, height);
  auto ring = createFrameRing(config);
  if (!ring) std::abort();
  return std::move(*ring);
}

struct Seen {
  int frames = 0;
  uint64_t first_number = 0, last_number = 0;
  uint64_t first_capture_ns = 0;
  uint64_t first_seen_ns = 0;
  int misread = 0;
};

// Reads frames for `duration_ms` (0: takes what is there now) or until `max_frames`, checking each
// one's barcode against its slot and the frame clock, and that numbers only increase.
Seen readFrames(FrameConsumer& consumer, int duration_ms, uint64_t after_number = 0,
                int max_frames = 1 << 30) {
  Seen seen;
  const FrameClock clock(60);
  uint64_t previous = after_number;
  const uint64_t end = monotonicNs() + uint64_t(duration_ms) * 1'000'000;
  for (bool once = true; (once || monotonicNs() < end) && seen.frames < max_frames; once = false) {
    FrameConsumer::Frame f;
    const int64_t timeout = duration_ms > 0 ? 50'000'000 : 0;
    if (consumer.acquireLatest(timeout, &f) != FrameConsumer::Status::kFrame) continue;
    auto data =
        readBarcode(reinterpret_cast<const uint8_t*>(f.payload.data()) + f.geometry.plane_offset[0],
                    f.geometry.stride[0], f.geometry.width, f.geometry.height);
    if (!data || data->capture_ns != f.capture_time_ns ||
        data->frame_number != clock.frameAt(f.capture_time_ns)) {
      ++seen.misread;
    } else {
      EXPECT_GT(data->frame_number, previous) << "frame numbers only increase";
      previous = data->frame_number;
      if (seen.frames == 0) {
        seen.first_number = data->frame_number;
        seen.first_capture_ns = data->capture_ns;
        seen.first_seen_ns = monotonicNs();
      }
      seen.last_number = data->frame_number;
      ++seen.frames;
    }
    consumer.release(f);
  }
  return seen;
}

// The real funkhaus-capture, started the way funkhausd starts it (channel at fd 3); `env`
// entries ("NAME=value", or "NAME" to unset) change the inherited environment.
FakeSupervisor startCapture(const std::vector<std::string>& args,
                            const std::vector<std::string>& env = {}) {
  auto worker = FakeSupervisor::start({FUNKHAUS_CAPTURE_BIN, args, abi::WorkerKind::kCapture, env});
  if (!worker) {
    ADD_FAILURE() << worker.error().message;
    std::abort();
  }
  return std::move(*worker);
}

// funkhausd's part of the hand-over: the status page and the frame ring (kRingOut, kFrames).
Result<void> handOverRing(FakeSupervisor& worker, const SharedMemory& ring) {
  return worker.handOver(
      {{abi::FdRole::kRingOut, static_cast<uint32_t>(abi::RingId::kFrames), ring.handle()}});
}

bool exitedWith(const std::optional<ExitStatus>& status, int code) {
  return status && !status->signaled && status->code == code;
}

TEST(CaptureWorker, FramesResumeWithLargerNumbersAfterSigkillAndRestart) {
  SharedMemory ring = makeRing(320, 180);
  auto consumer_shm = SharedMemory::attachDup(ring.handle());
  auto consumer = FrameConsumer::attach(std::move(*consumer_shm));
  ASSERT_TRUE(consumer.ok());
  const std::vector<std::string> args = {"--width", "320", "--height", "180", "--fps", "60"};

  auto first = std::make_unique<FakeSupervisor>(startCapture(args));
  ASSERT_TRUE(handOverRing(*first, ring));
  ASSERT_TRUE(first->waitReady()) << first->log();
  const Seen before = readFrames(*consumer, 1000);
  EXPECT_GT(before.frames, 10) << first->log();
  EXPECT_EQ(before.misread, 0);
  const auto& s = first->status();
  EXPECT_EQ(abi::atomicLoad(s.state), static_cast<uint32_t>(abi::WorkerState::kRunning));
  EXPECT_EQ(abi::atomicLoad(s.pid), static_cast<uint32_t>(first->pid()));
  EXPECT_GT(abi::atomicLoad(s.heartbeat), 0u);
  EXPECT_GT(abi::atomicLoad(s.frames_out), 0u);
  EXPECT_GT(abi::atomicLoad(s.bytes_out), 0u);
  std::printf(
      "[figures] capture worker 320x180@60: %d frames read in 1 s by the test; status "
      "page fps %.1f, latency p50 %.1f us p99 %.1f us, drops %llu\n",
      before.frames, abi::atomicLoad(s.fps_milli) / 1000.0, abi::atomicLoad(s.latency_p50_ns) / 1e3,
      abi::atomicLoad(s.latency_p99_ns) / 1e3,
      static_cast<unsigned long long>(abi::atomicLoad(s.drops)));
  EXPECT_GT(abi::atomicLoad(s.fps_milli), 0u);
  // The convert stage (issue 15): a synthetic frame is drawn from its capture time on, so the
  // stage's own time is its whole capture -> published latency.
  EXPECT_GT(abi::atomicLoad(s.stage_p50_ns), 0u);
  EXPECT_GE(abi::atomicLoad(s.stage_p99_ns), abi::atomicLoad(s.stage_p50_ns));
  EXPECT_EQ(abi::atomicLoad(s.stage_p50_ns), abi::atomicLoad(s.latency_p50_ns));

  const ExitStatus killed = first->kill9();
  EXPECT_TRUE(killed.signaled && killed.code == SIGKILL);
  const uint64_t killed_ns = monotonicNs();
  first.reset();
  // The last frame the killed worker published is still in the ring.
  const Seen tail = readFrames(*consumer, 0, before.last_number, 1);
  const uint64_t last_before = tail.frames > 0 ? tail.last_number : before.last_number;

  // A new worker on the same ring, as funkhausd restarts it.
  FakeSupervisor second = startCapture(args);
  ASSERT_TRUE(handOverRing(second, ring));
  ASSERT_TRUE(second.waitReady()) << second.log();
  const Seen after = readFrames(*consumer, 500, last_before);
  EXPECT_GT(after.frames, 5) << second.log();
  EXPECT_EQ(after.misread, 0);
  EXPECT_GT(after.first_number, last_before);
  std::printf(
      "[figures] capture restart: %llu frame numbers lost between the last frame before "
      "SIGKILL and the first after; %.1f ms from SIGKILL to the first new frame\n",
      static_cast<unsigned long long>(after.first_number - before.last_number - 1),
      (after.first_seen_ns - killed_ns) / 1e6);
  const auto& s2 = second.status();
  EXPECT_EQ(abi::atomicLoad(s2.pid), static_cast<uint32_t>(second.pid()));

  EXPECT_TRUE(exitedWith(second.stop(), abi::kExitStopped)) << "stop must end the worker";
  EXPECT_EQ(abi::atomicLoad(s2.state), static_cast<uint32_t>(abi::WorkerState::kStopping));
}

TEST(CaptureWorker, SigtermExitsZero) {
  SharedMemory ring = makeRing(320, 180);
  FakeSupervisor worker = startCapture({"--width", "320", "--height", "180", "--fps", "1"});
  ASSERT_TRUE(handOverRing(worker, ring));
  ASSERT_TRUE(worker.waitReady()) << worker.log();
  // At 1 fps the worker still heartbeats far more often than every 100 ms.
  const uint64_t beat = abi::atomicLoad(worker.status().heartbeat);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t beats = abi::atomicLoad(worker.status().heartbeat) - beat;
  std::printf("[figures] heartbeats in 500 ms at 1 fps: %llu\n",
              static_cast<unsigned long long>(beats));
  EXPECT_GE(beats, 3u);
  worker.process().signal(SIGTERM);
  EXPECT_TRUE(exitedWith(worker.waitExit(5s), abi::kExitStopped)) << worker.log();
}

int exitCodeOf(FakeSupervisor& worker) {
  auto status = worker.waitExit(10s);
  if (!status) return -1;
  return status->signaled ? 1000 + status->code : status->code;
}

TEST(CaptureWorker, BadArgumentsExitBadConfig) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--fps", "0"}, {"--source", "kms"}, {"--width", "abc"}, {"--nonsense"}}) {
    FakeSupervisor worker = startCapture(args);
    EXPECT_EQ(exitCodeOf(worker), abi::kExitBadConfig) << args[0];
    EXPECT_NE(worker.log().find("funkhaus-capture: "), std::string::npos) << worker.log();
  }
}

TEST(CaptureWorker, ModeLargerThanTheRingSlotsExitsBadConfig) {
  SharedMemory ring = makeRing(320, 180);
  FakeSupervisor worker = startCapture({"--width", "1920", "--height", "1080"});
  ASSERT_TRUE(handOverRing(worker, ring));
  EXPECT_EQ(exitCodeOf(worker), abi::kExitBadConfig);
  EXPECT_NE(worker.log().find("slots hold"), std::string::npos) << worker.log();
  EXPECT_EQ(abi::atomicLoad(worker.status().state),
            static_cast<uint32_t>(abi::WorkerState::kFailed));
}

TEST(CaptureWorker, NoFrameRingExitsBadConfig) {
  FakeSupervisor worker = startCapture({});
  ASSERT_TRUE(worker.handOver({}));
  EXPECT_EQ(exitCodeOf(worker), abi::kExitBadConfig);
  EXPECT_NE(worker.log().find("no frame ring"), std::string::npos) << worker.log();
}

TEST(CaptureWorker, X11WithoutDisplayExitsUnsupported) {
  SharedMemory ring = makeRing(640, 480);
  FakeSupervisor worker = startCapture({"--source", "x11"}, {"DISPLAY"});
  ASSERT_TRUE(handOverRing(worker, ring));
  EXPECT_EQ(exitCodeOf(worker), abi::kExitUnsupported);
  EXPECT_NE(worker.log().find("DISPLAY is not set"), std::string::npos) << worker.log();
}

TEST(CaptureWorker, X11SourceUnderXvfbRepeatsStaticFramesAndFollowsAResize) {
  std::string why;
  auto server = XvfbServer::start(640, 480, &why);
  if (!server) GTEST_SKIP() << "no Xvfb: " << why;
  XClient client(server->display());
  ASSERT_TRUE(client.ok());
  client.fillRoot(0x3060C0);
  SharedMemory ring = makeRing(640, 480);
  auto consumer_shm = SharedMemory::attachDup(ring.handle());
  auto consumer = FrameConsumer::attach(std::move(*consumer_shm));
  ASSERT_TRUE(consumer.ok());
  FakeSupervisor worker = startCapture({"--source", "x11", "--barcode", "--fps", "30"},
                                       {"DISPLAY=" + server->display()});
  ASSERT_TRUE(handOverRing(worker, ring));
  ASSERT_TRUE(worker.waitReady()) << worker.log();

  // A static screen: one grab, then repeats at the full rate. A repeat carries the barcode of
  // the frame it repeats (same pixels) and its own capture time in the slot.
  int fresh = 0, repeats = 0, unreadable = 0;
  const uint64_t end = monotonicNs() + 700'000'000;
  while (monotonicNs() < end) {
    FrameConsumer::Frame f;
    if (consumer->acquireLatest(50'000'000, &f) != FrameConsumer::Status::kFrame) continue;
    EXPECT_EQ(f.geometry.width, 640u);
    EXPECT_EQ(f.geometry.height, 480u);
    auto data =
        readBarcode(reinterpret_cast<const uint8_t*>(f.payload.data()) + f.geometry.plane_offset[0],
                    f.geometry.stride[0], f.geometry.width, f.geometry.height);
    if (!data) {
      ++unreadable;
    } else if (f.flags & abi::kSlotFlagRepeat) {
      ++repeats;
      EXPECT_LT(data->capture_ns, f.capture_time_ns);
    } else {
      ++fresh;
      EXPECT_EQ(data->capture_ns, f.capture_time_ns);
    }
    consumer->release(f);
  }
  std::printf(
      "[figures] x11 worker on a static 640x480 screen for 0.7 s at 30 fps: %d fresh "
      "frames, %d repeats\n",
      fresh, repeats);
  EXPECT_EQ(unreadable, 0);
  EXPECT_GE(fresh, 1);
  EXPECT_GT(repeats, fresh) << "a static screen is repeated, not grabbed again";

  // A draw on the idle screen just after a deadline of the grid (a repeat came from it) is
  // grabbed when its damage is seen, not at the next deadline 33 ms on: the fresh frame's
  // capture time lies between the draw and that deadline.
  const FrameClock clock(30);
  bool after_deadline = false;
  for (int i = 0; i < 40 && !after_deadline; ++i) {
    FrameConsumer::Frame f;
    if (consumer->acquireLatest(50'000'000, &f) != FrameConsumer::Status::kFrame) continue;
    after_deadline = (f.flags & abi::kSlotFlagRepeat) != 0 &&
                     monotonicNs() - f.capture_time_ns < 5'000'000;  // not an older one
    consumer->release(f);
  }
  ASSERT_TRUE(after_deadline) << "no repeat just published";
  std::this_thread::sleep_for(3ms);
  const uint64_t drawn = monotonicNs();
  client.fillRect(0xFFFFFF, 200, 200, 32, 32);
  const uint64_t next_deadline = clock.startOf(clock.frameAt(drawn) + 1);
  bool grabbed = false;
  for (int i = 0; i < 20 && !grabbed; ++i) {
    FrameConsumer::Frame f;
    if (consumer->acquireLatest(50'000'000, &f) != FrameConsumer::Status::kFrame) continue;
    if ((f.flags & abi::kSlotFlagRepeat) == 0) {
      grabbed = true;
      EXPECT_GE(f.capture_time_ns, drawn) << "the frame's time is its damage's";
      EXPECT_LT(f.capture_time_ns, next_deadline)
          << "grabbed " << (f.capture_time_ns - drawn) / 1000 << " us after the draw";
    }
    consumer->release(f);
  }
  EXPECT_TRUE(grabbed) << "the draw was never grabbed";

  // A resize: the worker tells funkhausd the new mode and frames come in the new size.
  ASSERT_TRUE(client.resizeScreen(320, 240));
  client.fillRoot(0xC06030);
  bool event = false;
  for (int i = 0; i < 40 && !event; ++i) {
    auto m = worker.receive(50ms);
    if (m && std::holds_alternative<EventMessage>(*m)) {
      const auto& body = std::get<EventMessage>(*m).body;
      EXPECT_EQ(body.event, static_cast<uint32_t>(abi::Event::kModeChanged));
      EXPECT_EQ(body.arg, uint64_t{320} << 32 | 240);
      event = true;
    }
  }
  EXPECT_TRUE(event) << "no kModeChanged event\n" << worker.log();
  bool resized = false;
  for (int i = 0; i < 20 && !resized; ++i) {
    FrameConsumer::Frame f;
    if (consumer->acquireLatest(50'000'000, &f) != FrameConsumer::Status::kFrame) continue;
    resized = f.geometry.width == 320 && f.geometry.height == 240;
    consumer->release(f);
  }
  EXPECT_TRUE(resized);
  ASSERT_TRUE(worker.send(abi::Command::kStop));
  EXPECT_EQ(exitCodeOf(worker), abi::kExitStopped);
}

// ---- funkhaus-barcode with real ffmpeg processes -------------------------------------------

bool haveFfmpeg() {
  return funkhaus::test::runShell("ffmpeg -hide_banner -encoders 2>/dev/null")
             .out.find("libx264") != std::string::npos;
}

class BarcodeTool : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/funkhaus-barcode-test-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `frames` synthetic I420 frames (packed, yuv420p) of w x h; returns what they carry.
  std::vector<BarcodeData> writeFrames(const std::string& path, uint32_t w, uint32_t h,
                                       int frames) {
    auto pattern = SyntheticPattern::create(w, h);
    std::vector<std::byte> slot(pattern->frameBytes());
    const auto& g = pattern->geometry();
    std::ofstream out(path, std::ios::binary);
    std::vector<BarcodeData> sent;
    const FrameClock clock(60);
    const uint64_t base = monotonicNs();
    for (int i = 0; i < frames; ++i) {
      const uint64_t t = base + uint64_t(i) * 16'666'667;
      sent.push_back({clock.frameAt(t), t});
      pattern->render(sent.back(), slot.data());
      const uint32_t heights[3] = {h, h / 2, h / 2}, widths[3] = {w, w / 2, w / 2};
      for (int p = 0; p < 3; ++p)
        for (uint32_t y = 0; y < heights[p]; ++y)
          out.write(reinterpret_cast<const char*>(slot.data()) + g.plane_offset[p] +
                        size_t{y} * g.stride[p],
                    widths[p]);
    }
    return sent;
  }

  std::string dir_;
};

TEST_F(BarcodeTool, ReadsFramesThatFfmpegEncodedAndDecoded) {
  if (!haveFfmpeg()) GTEST_SKIP() << "ffmpeg with libx264 is not installed";
  const std::string raw = dir_ + "/in.yuv";
  const auto sent = writeFrames(raw, 320, 180, 120);
  for (const char* pix_fmt : {"gray", "yuv420p", "nv12"}) {
    const std::string cmd =
        "ffmpeg -hide_banner -loglevel error -f rawvideo -pix_fmt yuv420p -s 320x180 -r 60 -i " +
        raw +
        " -c:v libx264 -preset ultrafast -tune zerolatency -b:v 2M -maxrate 2M -bufsize 33k -f "
        "h264 - | ffmpeg -hide_banner -loglevel error -f h264 -i - -f rawvideo -pix_fmt " +
        pix_fmt + " - | " + FUNKHAUS_BARCODE_BIN + " --width 320 --height 180 --pix-fmt " +
        pix_fmt + " 2>/dev/null";
    const funkhaus::test::ShellRun r = funkhaus::test::runShell(cmd);
    EXPECT_EQ(r.exit_code, 0) << pix_fmt << "\n" << r.out.substr(0, 2000);
    std::istringstream lines(r.out);
    std::string line;
    size_t index = 0, matched = 0;
    while (std::getline(lines, line)) {
      unsigned long long i = 0, frame = 0, capture = 0;
      long long latency = 0;
      if (std::sscanf(line.c_str(), "index=%llu frame=%llu capture_ns=%llu latency_us=%lld", &i,
                      &frame, &capture, &latency) == 4) {
        ASSERT_LT(index, sent.size());
        EXPECT_EQ(i, index);
        EXPECT_EQ(frame, sent[index].frame_number) << pix_fmt << " " << line;
        EXPECT_EQ(capture, sent[index].capture_ns) << pix_fmt << " " << line;
        ++matched;
      } else {
        ADD_FAILURE() << pix_fmt << ": " << line;
      }
      ++index;
    }
    EXPECT_EQ(matched, sent.size()) << pix_fmt;
  }
}

TEST_F(BarcodeTool, UnreadableFramesAndBadInputHaveTheirExitCodes) {
  const std::string tool = FUNKHAUS_BARCODE_BIN;
  // Two blank grey frames: two "unreadable" lines, exit 1.
  funkhaus::test::ShellRun blank =
      funkhaus::test::runShell("head -c 115200 /dev/zero | tr '\\0' '\\200' | " + tool +
                               " --width 320 --height 180 --pix-fmt gray 2>/dev/null");
  EXPECT_EQ(blank.exit_code, 1);
  EXPECT_NE(blank.out.find("index=0 unreadable: no barcode"), std::string::npos) << blank.out;
  EXPECT_NE(blank.out.find("index=1 unreadable"), std::string::npos) << blank.out;
  // A cut frame: exit 2.
  const std::string raw = dir_ + "/one.yuv";
  writeFrames(raw, 320, 180, 2);
  funkhaus::test::ShellRun cut = funkhaus::test::runShell(
      "head -c 100000 " + raw + " | " + tool + " --width 320 --height 180 --pix-fmt yuv420p 2>&1");
  EXPECT_EQ(cut.exit_code, 2);
  EXPECT_NE(cut.out.find("index=0 frame="), std::string::npos) << cut.out;
  EXPECT_NE(cut.out.find("input ends inside a frame"), std::string::npos) << cut.out;
  // The raw file itself, from --input: exit 0, two frames.
  funkhaus::test::ShellRun file =
      funkhaus::test::runShell(tool + " --width 320 --height 180 --input " + raw + " 2>/dev/null");
  EXPECT_EQ(file.exit_code, 0) << file.out;
  EXPECT_NE(file.out.find("index=1 frame="), std::string::npos) << file.out;
  // Empty input: no frames, exit 1. Bad arguments and a missing file: exit 2.
  EXPECT_EQ(funkhaus::test::runShell(tool + " --width 320 --height 180 < /dev/null 2>/dev/null")
                .exit_code,
            1);
  EXPECT_EQ(funkhaus::test::runShell(tool + " --width 320 2>/dev/null").exit_code, 2);
  EXPECT_EQ(funkhaus::test::runShell(tool + " --width 320 --height 180 --pix-fmt rgb24 2>/dev/null")
                .exit_code,
            2);
  EXPECT_EQ(
      funkhaus::test::runShell(tool + " --width 320 --height 180 --input /nonexistent 2>/dev/null")
          .exit_code,
      2);
}

}  // namespace
}  // namespace funkhaus::capture
