// The whole host against real third-party viewers: funkhausd (user mode) runs capture, encode
// and net; ffmpeg and GStreamer play the RTSP stream and decode it to raw frames in which the
// barcode funkhaus-capture stamped is read back (frame number, capture time). Workers are
// killed with SIGKILL and restarted by hand during playback; the viewers must keep playing.
// Label "client". Figures are printed, not asserted.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "../../supervisor/test/funkhausd_process.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/test/rtsp_client.h"
#include "viewer.h"

namespace funkhaus {
namespace {

using test::DecodedFrame;
using test::Funkhausd;
using test::json;
using test::Viewer;
using namespace std::chrono_literals;

// Small enough for two decoders and x264 on two shared cores; big enough for the barcode.
constexpr uint32_t kWidth = 640;
constexpr uint32_t kHeight = 360;
constexpr uint32_t kFps = 30;

std::string hostConfig() {
  return "[capture]\nwidth = " + std::to_string(kWidth) + "\nheight = " + std::to_string(kHeight) +
         "\nfps = " + std::to_string(kFps) +
         "\n[rings]\nmax_width = 640\nmax_height = 360\n[encode]\nbitrate_kbps = 2000\n"
         "preset = \"superfast\"\n";
}

class Client : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto k : {Viewer::Kind::kFfmpegUdp, Viewer::Kind::kGstreamerTcp})
      if (!Viewer::available(k))
        GTEST_SKIP() << "ffmpeg and gst-launch-1.0 (rtspsrc, avdec_h264) are needed: "
                        "scripts/install-deps.sh installs them";
    host_ = std::make_unique<Funkhausd>(hostConfig(), false, "user", /*pipeline=*/true);
    ASSERT_TRUE(host_->waitAllRunning(15s)) << host_->log();
    const json s = host_->status();
    ASSERT_TRUE(s.contains("net")) << s.dump();
    url_ = "rtsp://127.0.0.1:" + std::to_string(s["net"]["rtsp_port"].get<int>()) +
           s["net"]["path"].get<std::string>();
  }

  std::unique_ptr<Viewer> startViewer(Viewer::Kind kind) {
    const std::string log =
        (host_->dir() / (std::string("viewer-") + std::to_string(viewers_started_++) + ".log"))
            .string();
    return std::make_unique<Viewer>(kind, url_, kWidth, kHeight, log);
  }

  std::unique_ptr<Funkhausd> host_;
  std::string url_;
  int viewers_started_ = 0;
};

void printViewerFigures(const char* what, const Viewer& v, const std::vector<DecodedFrame>& f) {
  const auto lat = test::latencyOf(f);
  const auto c = test::continuityOf(f);
  std::printf(
      "[figures] %s %s: %zu frames (%zu unreadable), capture->decoded p50 %.1f ms p99 %.1f ms, "
      "%zu gaps (%llu frames missing), %zu repeats\n",
      what, v.name(), c.readable + c.unreadable, c.unreadable, lat.p50_ms, lat.p99_ms, c.gaps,
      static_cast<unsigned long long>(c.frames_missing), c.repeats);
}

TEST_F(Client, FfmpegAndGstreamerPlayAndSeeEveryFrame) {
  auto ffmpeg = startViewer(Viewer::Kind::kFfmpegUdp);
  auto gst = startViewer(Viewer::Kind::kGstreamerTcp);
  ASSERT_TRUE(ffmpeg->waitFrames(1, 15'000)) << ffmpeg->log() << host_->log();
  ASSERT_TRUE(gst->waitFrames(1, 15'000)) << gst->log() << host_->log();
  // One second to settle (the first frames wait for the IDR), then 6 s of steady state.
  std::this_thread::sleep_for(1s);
  const uint64_t steady_from = monotonicNs();
  std::this_thread::sleep_for(6s);
  // Encode re-encodes the picture it holds when capture is late by more than a frame (or a
  // keyframe request finds no new frame): the viewers then see a frame number twice. Those are
  // the only repeats allowed; the count covers encode's whole run, the window is a part of it.
  const json encode = host_->worker("encode");
  ASSERT_TRUE(encode.contains("counters")) << encode.dump();
  const uint64_t encode_repeats = encode["counters"]["repeats"].get<uint64_t>();
  std::printf("[figures] encode repeats since it started: %llu\n",
              static_cast<unsigned long long>(encode_repeats));
  for (Viewer* v : {ffmpeg.get(), gst.get()}) {
    ASSERT_TRUE(v->running()) << v->name() << "\n" << v->log();
    const auto frames = v->framesSince(steady_from);
    printViewerFigures("steady state", *v, frames);
    const auto c = test::continuityOf(frames);
    EXPECT_GE(c.readable, size_t{5 * kFps}) << v->name() << ": at least 5 s of frames";
    EXPECT_EQ(c.unreadable, 0u) << v->name() << ": every decoded frame carries its barcode";
    EXPECT_EQ(c.decreases, 0u) << v->name();
    EXPECT_LE(c.repeats, encode_repeats)
        << v->name() << ": a frame number seen twice that encode did not repeat";
    EXPECT_EQ(c.gaps, 0u) << v->name() << ": no frame lost in steady state (" << c.frames_missing
                          << " missing)";
  }
  const json s = host_->status();
  for (const auto& w : s["sessions"][0]["workers"])
    std::printf("[figures] host %s: %.1f fps, capture->%s p50 %.2f ms p99 %.2f ms\n",
                w["name"].get<std::string>().c_str(), w.value("fps", 0.0),
                w["name"] == "capture"  ? "published"
                : w["name"] == "encode" ? "encoded"
                                        : "last packet sent",
                w.value("latency_p50_ms", 0.0), w.value("latency_p99_ms", 0.0));
}

// Kills (or restarts through funkhausctl) one worker during playback and checks that both
// viewers keep playing: processes alive, new frames with higher numbers. Prints the gap.
void survives(Funkhausd& host, Viewer& a, Viewer& b, const std::string& worker,
              bool by_funkhausctl) {
  const json before = host.worker(worker);
  ASSERT_TRUE(before["pid"].is_number()) << before.dump();
  const uint64_t t0 = monotonicNs();
  uint64_t last_before[2] = {0, 0};
  Viewer* viewers[2] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    const auto f = viewers[i]->frames();
    for (auto it = f.rbegin(); it != f.rend(); ++it)
      if (it->readable) {
        last_before[i] = it->frame_number;
        break;
      }
  }
  if (by_funkhausctl) {
    const json r = host.call(R"({"cmd":"restart","worker":")" + worker + "\"}");
    ASSERT_EQ(r["ok"], true) << r.dump();
  } else {
    ASSERT_EQ(kill(before["pid"].get<pid_t>(), SIGKILL), 0);
  }
  ASSERT_TRUE(Funkhausd::waitFor(5s, [&] {
    const json w = host.worker(worker);
    return w["state"] == "running" && w["pid"].is_number() && w["pid"] != before["pid"];
  })) << host.log();
  // Both viewers must show new frames (numbers above what they had) within a few seconds.
  for (int i = 0; i < 2; ++i) {
    Viewer& v = *viewers[i];
    uint64_t resumed_at = 0;
    const bool resumed = Funkhausd::waitFor(8s, [&] {
      for (const auto& f : v.framesSince(t0))
        if (f.readable && f.frame_number > last_before[i] + 2) {
          resumed_at = f.arrival_ns;
          return true;
        }
      return false;
    });
    EXPECT_TRUE(resumed) << v.name() << " did not resume after " << worker << "\n" << v.log();
    EXPECT_TRUE(v.running()) << v.name() << " exited after " << worker << "\n" << v.log();
    // The longest pause between two decoded frames around the restart.
    std::this_thread::sleep_for(500ms);
    uint64_t longest = 0, previous = 0;
    uint64_t missing = 0;
    const auto frames = v.framesSince(t0 - 200'000'000);
    for (const auto& f : frames) {
      if (previous != 0) longest = std::max(longest, f.arrival_ns - previous);
      previous = f.arrival_ns;
    }
    const auto c = test::continuityOf(frames);
    missing = c.frames_missing;
    std::printf(
        "[figures] %s %s: longest pause between decoded frames %.0f ms, %llu frames missing, "
        "%zu repeated, first new frame after %.0f ms\n",
        by_funkhausctl ? "funkhausctl restart" : "kill -9", worker.c_str(),
        static_cast<double>(longest) / 1e6, static_cast<unsigned long long>(missing), c.repeats,
        resumed ? static_cast<double>(resumed_at - t0) / 1e6 : -1.0);
    std::printf("          (viewer %s)\n", v.name());
    EXPECT_EQ(c.decreases, 0u) << v.name() << ": frame numbers never go back";
  }
}

TEST_F(Client, KillMinusNineOfEachWorkerKeepsBothViewersPlaying) {
  auto ffmpeg = startViewer(Viewer::Kind::kFfmpegUdp);
  auto gst = startViewer(Viewer::Kind::kGstreamerTcp);
  ASSERT_TRUE(ffmpeg->waitFrames(kFps, 15'000)) << ffmpeg->log() << host_->log();
  ASSERT_TRUE(gst->waitFrames(kFps, 15'000)) << gst->log() << host_->log();
  for (const char* worker : {"encode", "capture", "net"}) {
    survives(*host_, *ffmpeg, *gst, worker, false);
    std::this_thread::sleep_for(1s);
  }
  // And in steady state again afterwards.
  const uint64_t from = monotonicNs();
  std::this_thread::sleep_for(3s);
  for (Viewer* v : {ffmpeg.get(), gst.get()}) {
    const auto c = test::continuityOf(v->framesSince(from));
    EXPECT_GE(c.readable, size_t{2 * kFps}) << v->name();
    EXPECT_EQ(c.gaps, 0u) << v->name() << ": steady again after the restarts";
  }
}

TEST_F(Client, FunkhausctlRestartOfEachWorkerKeepsBothViewersPlaying) {
  auto ffmpeg = startViewer(Viewer::Kind::kFfmpegTcp);
  auto gst = startViewer(Viewer::Kind::kGstreamerUdp);
  ASSERT_TRUE(ffmpeg->waitFrames(kFps, 15'000)) << ffmpeg->log() << host_->log();
  ASSERT_TRUE(gst->waitFrames(kFps, 15'000)) << gst->log() << host_->log();
  for (const char* worker : {"encode", "capture", "net"}) {
    survives(*host_, *ffmpeg, *gst, worker, true);
    std::this_thread::sleep_for(1s);
  }
}

// A viewer that does RTSP SETUP (TCP interleaved) and PLAY and then never reads: its socket
// buffers fill. The ffmpeg viewer beside it must keep the full frame rate.
TEST_F(Client, StalledViewerDoesNotSlowTheOther) {
  auto ffmpeg = startViewer(Viewer::Kind::kFfmpegUdp);
  ASSERT_TRUE(ffmpeg->waitFrames(kFps, 15'000)) << ffmpeg->log() << host_->log();
  const int port = host_->status()["net"]["rtsp_port"].get<int>();
  // A viewer that plays over TCP interleaved and then never reads again.
  test::RtspClient::Options options;
  options.port = static_cast<uint16_t>(port);
  auto stalled = test::playInterleaved(options, url_);
  ASSERT_TRUE(stalled) << "the RTSP test client could not start playing: "
                       << stalled.error().message;
  int rcvbuf = 4096;
  setsockopt(stalled->fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  std::this_thread::sleep_for(2s);  // the stalled viewer's buffers fill up
  const uint64_t from = monotonicNs();
  std::this_thread::sleep_for(5s);
  const auto frames = ffmpeg->framesSince(from);
  const auto c = test::continuityOf(frames);
  std::printf(
      "[figures] beside a stalled viewer, ffmpeg decoded %.1f fps (source %u fps), %zu "
      "gaps\n",
      static_cast<double>(c.readable) / 5.0, kFps, c.gaps);
  EXPECT_GE(c.readable, size_t{5 * kFps * 9 / 10}) << "the stalled viewer slowed the other";
  EXPECT_EQ(c.gaps, 0u);
  const json net = host_->worker("net");
  std::printf("[figures] net: drops (frames dropped for slow viewers) %llu\n",
              static_cast<unsigned long long>(net["counters"]["drops"].get<uint64_t>()));
  EXPECT_TRUE(ffmpeg->running());
}

}  // namespace
}  // namespace funkhaus
