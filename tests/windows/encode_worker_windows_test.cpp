// The real funkhaus-encode.exe under Wine, started and watched by WorkerProcess on the Windows
// launcher (as funkhausd starts it), on a frame ring and a packet ring of this process: it
// streams H.264 that a decoder takes; ended with TerminateProcess (as `taskkill /F` ends it), it
// is started again on the same rings, and its stream goes on with an IDR that the same decoder
// decodes at once.
#include <utility>
// Asio before windows.h (process_launcher.h includes it).
#include <boost/asio.hpp>
// Then windows.h.
#include <windows.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"
#include "funkhaus/abi/abi.h"
#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/media/nal.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/supervisor/worker_process.h"
#include "test_support.h"

namespace funkhaus::encode {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using supervisor::HandedFd;
using supervisor::LaunchSpec;
using supervisor::WorkerProcess;
using supervisor::WorkerState;
using test::Decoder;
using test::Record;

// A worker's program (funkhaus-encode.exe, funkhaus-capture.exe), beside this test in bin/.
std::string program(const std::string& binary) {
  const std::string self = funkhaus::test::selfProgram();
  return self.substr(0, self.find_last_of('\\') + 1) + binary + ".exe";
}

const supervisor::WorkerSpec kEncodeRow{
    .name = "encode",
    .binary = "funkhaus-encode",
    .kind = abi::WorkerKind::kEncode,
    .commands = {abi::Command::kStop, abi::Command::kKeyframe, abi::Command::kSetBitrate}};

const supervisor::WorkerSpec kCaptureRow{.name = "capture",
                                         .binary = "funkhaus-capture",
                                         .kind = abi::WorkerKind::kCapture,
                                         .commands = {abi::Command::kStop}};

// funkhausd's side of one session: the rings, capture's producer and net's consumer, the worker.
class EncodeWorkerWindows : public testing::Test, private WorkerProcess::Delegate {
 protected:
  EncodeWorkerWindows()
      : geometry_(*makeGeometry(abi::PixelFormat::kI420, 640, 360)),
        frame_ring_(test::makeFrameRing(geometry_)) {
    auto reader = PacketConsumer::attach(*SharedMemory::attachDup(packet_ring_.handle()));
    if (!reader) std::abort();
    reader_.emplace(std::move(*reader));
  }

  // Publishes `n` frames at 60 fps, running funkhausd's loop and collecting records meanwhile.
  // The test is capture then (the producer of the frame ring), so capture_ is never started.
  void feed(int n) {
    if (!producer_) {
      auto producer = FrameProducer::attach(*SharedMemory::attachDup(frame_ring_.handle()));
      ASSERT_TRUE(producer) << producer.error().message;
      producer_.emplace(std::move(*producer));
    }
    auto next = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      test::publishPicture(*producer_, geometry_, next_index_++, monotonicNs());
      next += std::chrono::microseconds(16'667);
      while (std::chrono::steady_clock::now() < next) pump();
    }
  }
  void pump() {
    io_.restart();
    io_.run_for(2ms);
    worker_.tick();
    capture_.tick();
    for (auto& r : test::drainRecords(*reader_)) records_.push_back(std::move(r));
  }
  // Decodes records [from, end) on the one viewer's decoder.
  void decodeFrom(size_t from) {
    for (size_t i = from; i < records_.size(); ++i) {
      auto decoded = viewer_.decode(records_[i].payload, pts_++);
      ASSERT_TRUE(decoded) << "record " << i << ": " << decoded.error().message;
      ASSERT_EQ(decoded->size(), 1u) << "record " << i;
    }
  }

  // Decodes the records not decoded yet; the barcode of each picture, where it reads.
  void readNew() {
    for (size_t i = static_cast<size_t>(pts_); i < records_.size(); ++i) {
      auto decoded = viewer_.decode(records_[i].payload, pts_++);
      ASSERT_TRUE(decoded) << "record " << i << ": " << decoded.error().message;
      for (const auto& picture : *decoded) {
        const auto w = static_cast<uint32_t>(picture.width);
        if (auto code = capture::readBarcode(picture.luma.data(), w, w,
                                             static_cast<uint32_t>(picture.height)))
          barcodes_.push_back(*code);
      }
    }
  }

  Result<LaunchSpec> prepareLaunch(WorkerProcess& worker) override {
    LaunchSpec spec;
    spec.path = program(std::string(worker.spec().binary));
    spec.args = {"--fps", "60"};
    if (worker.spec().kind == abi::WorkerKind::kCapture)
      spec.args = {"--source", "synthetic", "--width", "640", "--height", "360", "--fps", "60"};
    return spec;
  }
  std::vector<HandedFd> handOver(WorkerProcess& worker) override {
    const auto frames = static_cast<uint32_t>(abi::RingId::kFrames);
    if (worker.spec().kind == abi::WorkerKind::kCapture)
      return {{abi::FdRole::kRingOut, frames, frame_ring_.handle()}};
    return {{abi::FdRole::kRingIn, frames, frame_ring_.handle()},
            {abi::FdRole::kRingOut, static_cast<uint32_t>(abi::RingId::kVideoPackets),
             packet_ring_.handle()}};
  }
  void onReady(WorkerProcess& worker) override {
    ++(worker.spec().kind == abi::WorkerKind::kCapture ? capture_readies_ : readies_);
  }
  void onEvent(WorkerProcess&, const abi::EventBody&) override {}
  Result<void> onConnection(WorkerProcess&, Message&) override { return makeError("no"); }
  void onRequest(WorkerProcess&, uint32_t, const std::string&) override {}
  void onReaped(WorkerProcess&, uint32_t) override {}
  void onEscalate(WorkerProcess&) override {}
  void onChanged(WorkerProcess&) override {}

  abi::FrameGeometry geometry_;
  SharedMemory frame_ring_;
  SharedMemory packet_ring_ = test::makePacketRing();
  std::optional<FrameProducer> producer_;
  std::optional<PacketConsumer> reader_;
  uint32_t next_index_ = 0;
  std::vector<Record> records_;
  Decoder viewer_{Codec::kH264};
  int64_t pts_ = 0;
  int readies_ = 0, capture_readies_ = 0;
  std::vector<capture::BarcodeData> barcodes_;

  asio::io_context io_;
  std::unique_ptr<supervisor::ProcessLauncher> launcher_ =
      supervisor::ProcessLauncher::createPlatform(io_);
  std::unique_ptr<Clock> clock_ = Clock::createSteady();
  WorkerProcess worker_{kEncodeRow,
                        supervisor::RestartPolicyConfig{},
                        supervisor::WorkerTimings{},
                        *launcher_,
                        *clock_,
                        *this};
  WorkerProcess capture_{kCaptureRow,
                         supervisor::RestartPolicyConfig{},
                         supervisor::WorkerTimings{},
                         *launcher_,
                         *clock_,
                         *this};
};

TEST_F(EncodeWorkerWindows, TheStreamSurvivesTaskkillOfTheEncoder) {
  const auto started = std::chrono::steady_clock::now();
  worker_.start();
  while (readies_ == 0 && std::chrono::steady_clock::now() - started < 30s) pump();
  ASSERT_EQ(worker_.state(), WorkerState::kRunning) << worker_.failure();
  feed(60);
  ASSERT_GE(records_.size(), 30u);
  EXPECT_TRUE(records_[0].header.flags & abi::kRecordFlagKeyframe);
  EXPECT_TRUE(records_[0].header.flags & abi::kRecordFlagDiscontinuity);
  decodeFrom(0);

  // taskkill /F: TerminateProcess. Capture goes on; WorkerProcess starts another encoder.
  platform::UniqueHandle process(OpenProcess(PROCESS_TERMINATE, FALSE, *worker_.pid()));
  ASSERT_TRUE(process.valid());
  ASSERT_TRUE(TerminateProcess(process.get(), 1));
  const auto killed = std::chrono::steady_clock::now();
  const size_t before = records_.size();
  std::optional<size_t> restart;  // the new encoder's first record: frame number 0
  while (!restart && std::chrono::steady_clock::now() - killed < 30s) {
    feed(1);
    for (size_t i = before; i < records_.size() && !restart; ++i)
      if (records_[i].header.frame_number == 0) restart = i;
  }
  ASSERT_TRUE(restart.has_value()) << toString(worker_.state()) << " " << worker_.failure();
  const double repaired_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed).count();
  feed(30);
  EXPECT_EQ(readies_, 2);
  EXPECT_EQ(worker_.restarts(), 1);
  const Record& first = records_[*restart];
  EXPECT_TRUE(first.header.flags & abi::kRecordFlagKeyframe);
  EXPECT_TRUE(first.header.flags & abi::kRecordFlagDiscontinuity);
  auto info = parseAccessUnit(Codec::kH264, first.payload);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->decodableAlone(Codec::kH264)) << "a restarted encoder starts with SPS/PPS+IDR";
  decodeFrom(static_cast<size_t>(pts_));  // the rest of the killed encoder's, then the new one's
  EXPECT_GT(records_.size(), *restart + 20);
  test::figure(fmt::format(
      "TerminateProcess of funkhaus-encode.exe -> the first access unit of the encoder "
      "WorkerProcess started again: {:.0f} ms (backoff 100 ms, start, encoder open, attach); "
      "{} records before, {} after",
      repaired_ms, *restart, records_.size() - *restart));

  worker_.stop();
  const auto stopping = std::chrono::steady_clock::now();
  while (worker_.state() != WorkerState::kStopped &&
         std::chrono::steady_clock::now() - stopping < 10s)
    pump();
  EXPECT_EQ(worker_.state(), WorkerState::kStopped);
  ASSERT_TRUE(worker_.lastExit().has_value());
  EXPECT_EQ(worker_.lastExit()->code, abi::kExitStopped);
}

// The session's two video workers as funkhausd will run them: funkhaus-capture.exe (synthetic
// source, barcode in every frame) into the frame ring, funkhaus-encode.exe from it into the
// packet ring. The decoded frames' barcodes read back in order; capture ended with
// TerminateProcess is started again while encode goes on, and new frames come through.
TEST_F(EncodeWorkerWindows, CaptureAndEncodeStreamReadableFramesAndSurviveTaskkillOfCapture) {
  const auto started = std::chrono::steady_clock::now();
  capture_.start();
  worker_.start();
  while ((capture_readies_ == 0 || readies_ == 0) &&
         std::chrono::steady_clock::now() - started < 30s)
    pump();
  ASSERT_EQ(capture_.state(), WorkerState::kRunning) << capture_.failure();
  ASSERT_EQ(worker_.state(), WorkerState::kRunning) << worker_.failure();
  const auto streaming = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - streaming < 1s) pump();
  readNew();
  ASSERT_GE(barcodes_.size(), 30u) << records_.size() << " records";
  EXPECT_GE(barcodes_.size() * 10, records_.size() * 9) << "nearly every frame reads";
  for (size_t i = 1; i < barcodes_.size(); ++i)
    ASSERT_GE(barcodes_[i].frame_number, barcodes_[i - 1].frame_number) << "in order, at " << i;

  platform::UniqueHandle process(OpenProcess(PROCESS_TERMINATE, FALSE, *capture_.pid()));
  ASSERT_TRUE(process.valid());
  const uint64_t killed_ns = monotonicNs();
  ASSERT_TRUE(TerminateProcess(process.get(), 1));
  const auto killed = std::chrono::steady_clock::now();
  const size_t before = barcodes_.size();
  bool fresh = false;  // a frame the new capture stamped after the kill, decoded
  while (!fresh && std::chrono::steady_clock::now() - killed < 30s) {
    pump();
    readNew();
    for (size_t i = before; i < barcodes_.size(); ++i) fresh |= barcodes_[i].capture_ns > killed_ns;
  }
  ASSERT_TRUE(fresh) << toString(capture_.state()) << " " << capture_.failure();
  test::figure(fmt::format(
      "TerminateProcess of funkhaus-capture.exe -> a frame of its successor decoded with its "
      "barcode: {:.0f} ms (backoff 100 ms); encode went on, {} records in all",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed).count(),
      records_.size()));
  EXPECT_EQ(capture_.restarts(), 1);
  EXPECT_EQ(worker_.restarts(), 0) << "encode never stopped";
  EXPECT_EQ(readies_, 1);

  capture_.stop();
  worker_.stop();
  const auto stopping = std::chrono::steady_clock::now();
  while ((capture_.state() != WorkerState::kStopped || worker_.state() != WorkerState::kStopped) &&
         std::chrono::steady_clock::now() - stopping < 10s)
    pump();
  ASSERT_TRUE(capture_.lastExit() && worker_.lastExit());
  EXPECT_EQ(capture_.lastExit()->code, abi::kExitStopped);
  EXPECT_EQ(worker_.lastExit()->code, abi::kExitStopped);
}

}  // namespace
}  // namespace funkhaus::encode
