// Multi-process tests of the real funkhaus-encode binary: the test plays funkhausd through the
// one FakeSupervisor (status page, frame ring, packet ring, channel at fd 3), feeds frames, reads
// and decodes packets, sends commands, SIGKILLs the worker and starts another on the same rings.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/test/fake_supervisor.h"
#include "test_support.h"

namespace funkhaus::encode {
namespace {

using namespace std::chrono_literals;
using funkhaus::test::FakeSupervisor;
using funkhaus::test::Handle;
using test::Decoder;
using test::Pattern;
using test::Record;

// The real funkhaus-encode, started the way funkhausd starts it (channel at fd 3).
FakeSupervisor startEncode(const std::vector<std::string>& args) {
  auto worker = FakeSupervisor::start({FUNKHAUS_ENCODE_BIN, args, abi::WorkerKind::kEncode, {}});
  if (!worker) {
    ADD_FAILURE() << worker.error().message;
    std::abort();
  }
  return std::move(*worker);
}

std::vector<Handle> ringHandles(const SharedMemory* frames, const SharedMemory* packets) {
  std::vector<Handle> handles;
  if (frames != nullptr)
    handles.push_back(
        {abi::FdRole::kRingIn, static_cast<uint32_t>(abi::RingId::kFrames), frames->handle()});
  if (packets != nullptr)
    handles.push_back({abi::FdRole::kRingOut, static_cast<uint32_t>(abi::RingId::kVideoPackets),
                       packets->handle()});
  return handles;
}

// Hello -> ring fds -> ready, as funkhausd does it.
::testing::AssertionResult handshake(FakeSupervisor& worker, const SharedMemory& frames,
                                     const SharedMemory& packets) {
  if (auto ok = worker.connect(ringHandles(&frames, &packets)); !ok)
    return ::testing::AssertionFailure() << ok.error().message << "\n" << worker.log();
  return ::testing::AssertionSuccess();
}

bool exitedWith(const std::optional<ExitStatus>& status, int code) {
  return status && !status->signaled && status->code == code;
}

// funkhausd's side of one session: the rings, the producer (capture) and the consumer (net).
struct Session {
  abi::FrameGeometry geometry;
  SharedMemory frame_ring;
  SharedMemory packet_ring = test::makePacketRing();
  std::optional<FrameProducer> producer;
  std::optional<PacketConsumer> reader;
  std::vector<uint64_t> published_captures;
  uint32_t next_index = 0;

  explicit Session(const abi::FrameGeometry& g) : geometry(g), frame_ring(test::makeFrameRing(g)) {
    auto p = FrameProducer::attach(*SharedMemory::attachDup(frame_ring.handle()));
    auto r = PacketConsumer::attach(*SharedMemory::attachDup(packet_ring.handle()));
    if (!p || !r) std::abort();
    producer.emplace(std::move(*p));
    reader.emplace(std::move(*r));
  }

  // Publishes `n` frames at `fps`, collecting the records that come meanwhile.
  void feed(int n, uint32_t fps, std::vector<Record>& records, Pattern pattern = Pattern::kMoving) {
    auto next = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      const uint64_t capture = monotonicNs();
      if (test::publishPicture(*producer, geometry, next_index++, capture, pattern) != 0)
        published_captures.push_back(capture);
      next += std::chrono::nanoseconds(1'000'000'000 / fps);
      std::this_thread::sleep_until(next);
      collect(records);
    }
  }
  void collect(std::vector<Record>& records) {
    for (auto& r : test::drainRecords(*reader)) records.push_back(std::move(r));
  }
  // Waits up to timeout_ms for at least `count` more records.
  bool waitRecords(std::vector<Record>& records, size_t count, int timeout_ms) {
    const size_t want = records.size() + count;
    const uint64_t deadline = monotonicNs() + uint64_t(timeout_ms) * 1'000'000;
    while (records.size() < want) {
      if (monotonicNs() > deadline) return false;
      reader->wait(10'000'000);
      collect(records);
    }
    return true;
  }
  bool isPublished(uint64_t capture) const {
    return std::find(published_captures.begin(), published_captures.end(), capture) !=
           published_captures.end();
  }
};

// Decodes every record on `decoder`; returns how many decoded (each must give one picture).
void decodeAll(Decoder& decoder, const std::vector<Record>& records, size_t from, int64_t& pts) {
  for (size_t i = from; i < records.size(); ++i) {
    auto decoded = decoder.decode(records[i].payload, pts++);
    ASSERT_TRUE(decoded) << "record " << i << ": " << decoded.error().message;
    ASSERT_EQ(decoded->size(), 1u) << "record " << i;
  }
}

TEST(EncodeWorkerProcess, StreamSurvivesSigkillOfTheEncoder) {
  constexpr uint32_t kFps = 60;
  Session s(*makeGeometry(abi::PixelFormat::kI420, 640, 360));
  Decoder viewer(Codec::kH264);
  int64_t pts = 0;  // one per record decoded so far
  std::vector<Record> records;

  auto first = std::make_unique<FakeSupervisor>(startEncode({"--fps", "60"}));
  ASSERT_TRUE(handshake(*first, s.frame_ring, s.packet_ring));
  s.feed(60, kFps, records);
  s.collect(records);
  ASSERT_GE(records.size(), 30u) << first->log();
  EXPECT_TRUE(records[0].header.flags & abi::kRecordFlagKeyframe);
  EXPECT_TRUE(records[0].header.flags & abi::kRecordFlagDiscontinuity);
  auto info = parseAccessUnit(Codec::kH264, records[0].payload);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->decodableAlone(Codec::kH264));
  decodeAll(viewer, records, 0, pts);
  const uint64_t frames_out = abi::atomicLoad(first->status().frames_out);
  s.collect(records);
  EXPECT_GT(frames_out, 0u);
  EXPECT_GE(records.size(), frames_out) << "the status page counts committed records";
  EXPECT_EQ(abi::atomicLoad(first->status().state),
            static_cast<uint32_t>(abi::WorkerState::kRunning));

  // SIGKILL mid-stream; capture goes on; a new encoder attaches to the same rings.
  const ExitStatus killed = first->kill9();
  EXPECT_TRUE(killed.signaled && killed.code == SIGKILL);
  s.feed(10, kFps, records);
  s.collect(records);
  decodeAll(viewer, records, static_cast<size_t>(pts), pts);  // what it committed before dying
  const size_t before = records.size();

  const uint64_t spawned_at = monotonicNs();
  auto second = std::make_unique<FakeSupervisor>(startEncode({"--fps", "60"}));
  ASSERT_TRUE(handshake(*second, s.frame_ring, s.packet_ring));
  // Its first unit comes from the latest frame already in the ring, before any new one.
  ASSERT_TRUE(s.waitRecords(records, 1, 5000)) << second->log();
  const double restart_ms = double(monotonicNs() - spawned_at) / 1e6;
  s.feed(60, kFps, records);
  ASSERT_GT(records.size(), before + 10) << second->log();
  const Record& restart = records[before];
  EXPECT_TRUE(restart.header.flags & abi::kRecordFlagKeyframe);
  EXPECT_TRUE(restart.header.flags & abi::kRecordFlagDiscontinuity);
  EXPECT_EQ(restart.header.frame_number, 0u) << "frame numbers count this encoder's units";
  info = parseAccessUnit(Codec::kH264, restart.payload);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->decodableAlone(Codec::kH264)) << "a restarted encoder starts with SPS/PPS+IDR";
  // The viewer that decoded the first encoder's stream decodes the new one at once.
  decodeAll(viewer, records, before, pts);
  test::figure(
      fmt::format("new funkhaus-encode spawned -> its first access unit read from the "
                  "packet ring: {:.0f} ms (exec, encoder probe, attach, encode); "
                  "{} records from the killed encoder, {} from the new one",
                  restart_ms, before, records.size() - before));
  EXPECT_TRUE(exitedWith(second->stop(), abi::kExitStopped)) << second->log();
}

TEST(EncodeWorkerProcess, RepeatsTheLastFrameWhileCaptureIsGone) {
  constexpr uint32_t kFps = 30;
  Session s(*makeGeometry(abi::PixelFormat::kI420, 320, 240));
  FakeSupervisor worker = startEncode({"--fps", std::to_string(kFps)});
  ASSERT_TRUE(handshake(worker, s.frame_ring, s.packet_ring));
  std::vector<Record> records;
  s.feed(15, kFps, records);
  s.collect(records);
  // Capture "dies": nothing published for a second, then a new producer (new generation).
  s.producer.reset();
  const size_t before = records.size();
  const uint64_t silent_from = monotonicNs();
  std::this_thread::sleep_for(1s);
  s.collect(records);
  const uint64_t silent_ns = monotonicNs() - silent_from;
  size_t repeats = 0;
  for (size_t i = before; i < records.size(); ++i)
    repeats += s.isPublished(records[i].header.capture_time_ns) ? 0 : 1;
  auto p = FrameProducer::attach(*SharedMemory::attachDup(s.frame_ring.handle()));
  ASSERT_TRUE(p) << p.error().message;
  s.producer.emplace(std::move(*p));
  s.feed(15, kFps, records);
  s.collect(records);
  test::figure(
      fmt::format("capture silent for {:.0f} ms: {} repeated units ({:.1f}/s, "
                  "configured {} fps)",
                  double(silent_ns) / 1e6, repeats, repeats * 1e9 / double(silent_ns), kFps));
  EXPECT_GT(repeats, 0u) << "the encoder did not repeat while capture was gone\n" << worker.log();
  // After the new producer's frames come, records are new frames again.
  ASSERT_FALSE(records.empty());
  EXPECT_TRUE(s.isPublished(records.back().header.capture_time_ns))
      << "repeats did not stop when new frames came";
  // Capture times never go backwards; frame numbers are consecutive.
  Decoder viewer(Codec::kH264);
  int64_t pts = 0;
  decodeAll(viewer, records, 0, pts);
  for (size_t i = 1; i < records.size(); ++i) {
    EXPECT_GT(records[i].header.capture_time_ns, records[i - 1].header.capture_time_ns);
    EXPECT_EQ(records[i].header.frame_number, records[i - 1].header.frame_number + 1);
  }
  worker.process().signal(SIGTERM);
  EXPECT_TRUE(exitedWith(worker.waitExit(5s), abi::kExitStopped)) << worker.log();
}

TEST(EncodeWorkerProcess, CommandsKeyframeAndBitrate) {
  constexpr uint32_t kFps = 30;
  Session s(*makeGeometry(abi::PixelFormat::kI420, 640, 360));
  FakeSupervisor worker = startEncode({"--fps", std::to_string(kFps), "--bitrate", "6000000"});
  ASSERT_TRUE(handshake(worker, s.frame_ring, s.packet_ring));
  std::vector<Record> records;
  s.feed(20, kFps, records);
  const uint64_t keyframes_before = abi::atomicLoad(worker.status().keyframes);
  EXPECT_EQ(keyframes_before, 1u);
  const size_t before = records.size();
  ASSERT_TRUE(worker.send(abi::Command::kKeyframe));
  s.feed(10, kFps, records);
  size_t keyframes = 0;
  for (size_t i = before; i < records.size(); ++i) {
    const bool flagged = records[i].header.flags & abi::kRecordFlagKeyframe;
    auto info = parseAccessUnit(Codec::kH264, records[i].payload);
    ASSERT_TRUE(info);
    EXPECT_EQ(flagged, info->decodableAlone(Codec::kH264));
    keyframes += flagged ? 1 : 0;
  }
  EXPECT_EQ(keyframes, 1u) << "one keyframe command, one IDR";
  EXPECT_EQ(abi::atomicLoad(worker.status().keyframes), keyframes_before + 1);

  // Bitrate: noise needs more than either rate (at 6 Mbit/s x264 ends up at QP 51, a bit under).
  auto rate = [&](int frames) {
    std::vector<Record> r;
    s.feed(frames, kFps, r, Pattern::kNoise);
    s.collect(r);
    uint64_t bytes = 0;
    for (size_t i = r.size() / 4; i < r.size(); ++i) bytes += r[i].payload.size();
    const size_t counted = r.size() - r.size() / 4;
    return counted == 0 ? 0.0 : double(bytes) * 8 * kFps / double(counted);
  };
  const double high = rate(45);
  ASSERT_TRUE(worker.send(abi::Command::kSetBitrate, 1'000'000));
  const double low = rate(45);
  test::figure(
      fmt::format("funkhaus-encode 640x360 noise: --bitrate 6 Mbit/s -> {:.2f} Mbit/s; "
                  "after kSetBitrate 1 Mbit/s -> {:.2f} Mbit/s",
                  high / 1e6, low / 1e6));
  EXPECT_LT(low, high * 0.5) << worker.log();
  EXPECT_TRUE(exitedWith(worker.stop(), abi::kExitStopped)) << worker.log();
}

TEST(EncodeWorkerProcess, HeartbeatsWithoutFrames) {
  Session s(*makeGeometry(abi::PixelFormat::kI420, 320, 240));
  FakeSupervisor worker = startEncode({});
  ASSERT_TRUE(handshake(worker, s.frame_ring, s.packet_ring));
  const uint64_t start = abi::atomicLoad(worker.status().heartbeat);
  std::this_thread::sleep_for(500ms);
  const uint64_t beats = abi::atomicLoad(worker.status().heartbeat) - start;
  test::figure(fmt::format("heartbeats in 500 ms without frames: {}", beats));
  EXPECT_GT(beats, 0u);
  EXPECT_EQ(abi::atomicLoad(worker.status().state),
            static_cast<uint32_t>(abi::WorkerState::kReady));
  EXPECT_EQ(abi::atomicLoad(worker.status().pid), static_cast<uint32_t>(worker.pid()));
}

// --idle-fps through the real binary: a static screen (no new frame) is repeated at the full rate
// for the settle second, then at the keep-alive rate; a keyframe request while idle comes back as
// an IDR within a turn, not at the next keep-alive repeat. Counts with wide margins (the full rate
// would be 30 a second), no tight timing.
TEST(EncodeWorkerProcess, AStaticScreenDropsToTheIdleRateAndAKeyframeComesAtOnce) {
  constexpr uint32_t kFps = 30;
  Session s(*makeGeometry(abi::PixelFormat::kI420, 320, 240));
  FakeSupervisor worker = startEncode({"--fps", std::to_string(kFps), "--idle-fps", "1"});
  ASSERT_TRUE(handshake(worker, s.frame_ring, s.packet_ring));
  EXPECT_NE(worker.log().find("re-encoded at 1 fps after 1000 ms"), std::string::npos)
      << worker.log();
  std::vector<Record> records;
  s.feed(5, kFps, records);
  const uint64_t static_from = monotonicNs();
  std::this_thread::sleep_for(3500ms);
  s.collect(records);
  size_t settling = 0;  // repeats within the settle second
  size_t idle = 0;      // repeats from 1.5 s on
  for (const Record& r : records) {
    if (s.isPublished(r.header.capture_time_ns)) continue;
    const uint64_t after = r.header.capture_time_ns - static_from;
    if (after < 1'000'000'000) ++settling;
    if (after >= 1'500'000'000) ++idle;
  }
  test::figure(
      fmt::format("static screen, --fps 30 --idle-fps 1: {} repeats in the settle second, "
                  "{} from 1.5 s to 3.5 s",
                  settling, idle));
  EXPECT_GE(settling, 10u) << "the full rate while the picture settles";
  EXPECT_GE(idle, 1u);
  EXPECT_LE(idle, 4u) << "1 a second, not 30";
  // A keyframe request while idle: the next record is an IDR, well before the next keep-alive.
  const size_t before = records.size();
  const uint64_t asked = monotonicNs();
  ASSERT_TRUE(worker.send(abi::Command::kKeyframe));
  ASSERT_TRUE(s.waitRecords(records, 1, 2000)) << worker.log();
  const uint64_t answered = monotonicNs();
  EXPECT_NE(records[before].header.flags & abi::kRecordFlagKeyframe, 0u);
  test::figure(fmt::format("keyframe request while idle -> IDR record: {:.1f} ms",
                           double(answered - asked) / 1e6));
  Decoder viewer(Codec::kH264);
  int64_t pts = 0;
  decodeAll(viewer, records, 0, pts);
  EXPECT_TRUE(exitedWith(worker.stop(), abi::kExitStopped)) << worker.log();
}

TEST(EncodeWorkerProcess, BadArgumentsExit65) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--fps", "0"},
                                                                {"--encoder", "nope"},
                                                                {"--bitrate", "x"},
                                                                {"--preset", "warp"},
                                                                {"--idle-fps", "-1"}}) {
    FakeSupervisor worker = startEncode(args);
    EXPECT_TRUE(exitedWith(worker.waitExit(5s), abi::kExitBadConfig))
        << args[0] << " " << args[1] << "\n"
        << worker.log();
    EXPECT_NE(worker.log().find("funkhaus-encode:"), std::string::npos);
  }
}

TEST(EncodeWorkerProcess, MissingRingsExit65WithAClearMessage) {
  FakeSupervisor worker = startEncode({});
  ASSERT_TRUE(worker.handOver({}));
  EXPECT_TRUE(exitedWith(worker.waitExit(10s), abi::kExitBadConfig)) << worker.log();
  EXPECT_NE(worker.log().find("handed over no frame ring"), std::string::npos) << worker.log();
  EXPECT_EQ(abi::atomicLoad(worker.status().state),
            static_cast<uint32_t>(abi::WorkerState::kFailed));
}

TEST(EncodeWorkerProcess, HardwareEncoderFallsBackAndStreams) {
  Session s(*makeGeometry(abi::PixelFormat::kI420, 320, 240));
  FakeSupervisor worker = startEncode({"--encoder", "h264_vaapi", "--fps", "30"});
  ASSERT_TRUE(handshake(worker, s.frame_ring, s.packet_ring));
  std::vector<Record> records;
  s.feed(10, 30, records);
  s.waitRecords(records, 1, 5000);
  const std::string log = worker.log();
  if (log.find("using libx264 instead") == std::string::npos)
    GTEST_SKIP() << "h264_vaapi works on this machine: no fallback to see";
  EXPECT_NE(log.find("h264_vaapi"), std::string::npos);
  ASSERT_FALSE(records.empty()) << log;
  Decoder viewer(Codec::kH264);
  int64_t pts = 0;
  decodeAll(viewer, records, 0, pts);
  test::figure(fmt::format("h264_vaapi fallback log: {}",
                           log.substr(0, log.find('\n', log.find("unavailable")))));
}

}  // namespace
}  // namespace funkhaus::encode
