// The virtual display end to end: funkhausd runs funkhaus-vdisplay, leases a monitor (a real
// Xvfb screen) for the session, and funkhaus-capture streams it. X clients nobody here wrote
// (xsetroot, xterm) draw on it and ffmpeg, playing the RTSP stream, sees what they drew; a
// live mode change keeps ffprobe playing at the new size; the driver killed with SIGKILL is
// replaced and the viewer keeps playing; funkhausd killed takes every X server with it.
// Label "client".
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "../../supervisor/test/funkhausd_process.h"
#include "funkhaus/common/clock.h"
#include "viewer.h"

namespace funkhaus {
namespace {

using test::Funkhausd;
using test::json;
using test::Viewer;
using namespace std::chrono_literals;

constexpr uint32_t kWidth = 640;
constexpr uint32_t kHeight = 480;

std::string hostConfig() {
  return "[capture]\nsource = \"vdisplay\"\nfps = 30\n"
         "[vdisplay]\nwidth = 640\nheight = 480\nrefresh_hz = 30\nfb_width = 1024\n"
         "fb_height = 768\n"
         "[rings]\nmax_width = 1024\nmax_height = 768\n[encode]\nbitrate_kbps = 2000\n";
}

bool haveTools() {
  return std::system(
             "command -v Xvfb > /dev/null && command -v xsetroot > /dev/null && "
             "command -v xterm > /dev/null && command -v ffmpeg > /dev/null && "
             "command -v ffprobe > /dev/null") == 0;
}

// Children of `pid` named `comm`.
std::vector<pid_t> childrenNamed(pid_t pid, const std::string& comm) {
  std::vector<pid_t> out;
  std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                         "/children");
  pid_t child;
  while (children >> child) {
    std::ifstream c("/proc/" + std::to_string(child) + "/comm");
    std::string name;
    std::getline(c, name);
    if (name == comm) out.push_back(child);
  }
  return out;
}

bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  return std::getline(stat, line) && line.find(") Z") == std::string::npos;
}

class Vdisplay : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!haveTools())
      GTEST_SKIP() << "Xvfb, xsetroot, xterm, ffmpeg and ffprobe are needed: "
                      "scripts/install-deps.sh installs them";
    host_ = std::make_unique<Funkhausd>(
        hostConfig(), false, "user", true,
        std::vector<std::string>{"vdisplay", "capture", "encode", "net"});
    ASSERT_TRUE(host_->waitAllRunning(20s)) << host_->log();
    ASSERT_TRUE(Funkhausd::waitFor(20s, [&] { return !monitor().is_null(); }))
        << host_->status().dump() << host_->log();
    const json s = host_->status();
    url_ = "rtsp://127.0.0.1:" + std::to_string(s["net"]["rtsp_port"].get<int>()) +
           s["net"]["path"].get<std::string>();
  }

  json monitor() const {
    const json s = host_->status();
    if (!s.is_object() || s["sessions"].empty()) return json();
    const json& m = s["sessions"][0].value("monitors", json::array());
    return m.empty() ? json() : m[0];
  }

  // Runs an X client on the session's virtual monitor.
  int onMonitor(const std::string& command) const {
    const json m = monitor();
    const std::string env = "DISPLAY=" + m["display"].get<std::string>() +
                            " XAUTHORITY=" + m["xauthority"].get<std::string>() + " ";
    return std::system((env + command).c_str());
  }

  // Mean luma of a rectangle of the newest readable frame the viewer decoded.
  static double meanLuma(const std::vector<uint8_t>& frame, uint32_t x0, uint32_t y0, uint32_t x1,
                         uint32_t y1) {
    double sum = 0;
    for (uint32_t y = y0; y < y1; ++y)
      for (uint32_t x = x0; x < x1; ++x) sum += frame[size_t{y} * kWidth + x];
    return sum / ((x1 - x0) * (y1 - y0));
  }

  std::unique_ptr<Funkhausd> host_;
  std::string url_;
};

// Luma of a colour as the viewer shows it: funkhaus-capture converts to BT.709 limited range
// (the colour policy), and ffmpeg's `gray` output expands that to full range. (BT.601's red
// would be 76, 21 above BT.709's 54: the tolerance below tells them apart.)
constexpr double lumaOf(double r, double g, double b) {
  return 255 * (0.2126 * r + 0.7152 * g + 0.0722 * b);
}

TEST_F(Vdisplay, XClientsOnTheVirtualMonitorReachTheViewer) {
  Viewer ffmpeg(Viewer::Kind::kFfmpegTcp, url_, kWidth, kHeight,
                (host_->dir() / "ffmpeg.log").string(), /*keep_last_frame=*/true);
  ASSERT_TRUE(ffmpeg.waitFrames(5, 15'000)) << ffmpeg.log() << host_->log();

  struct Case {
    const char* colour;
    double luma;
  };
  for (const Case c : {Case{"#ff0000", lumaOf(1, 0, 0)}, Case{"#0000ff", lumaOf(0, 0, 1)}}) {
    ASSERT_EQ(onMonitor(std::string("xsetroot -solid '") + c.colour + "'"), 0);
    double seen = -1;
    const bool shown = Funkhausd::waitFor(5s, [&] {
      const auto frame = ffmpeg.lastFrame();
      if (frame.size() != size_t{kWidth} * kHeight) return false;
      seen = meanLuma(frame, 300, 200, 600, 450);
      return std::abs(seen - c.luma) < 8;
    });
    EXPECT_TRUE(shown) << "root window " << c.colour << ": expected luma " << c.luma << ", saw "
                       << seen;
    std::printf("[figures] xsetroot -solid %s: decoded luma %.1f (expected %.1f)\n", c.colour, seen,
                c.luma);
  }

  // xterm with a white background at the top-left, 40 columns x 10 rows of the default font.
  const json m = monitor();
  const std::string env = "DISPLAY=" + m["display"].get<std::string>() +
                          " XAUTHORITY=" + m["xauthority"].get<std::string>();
  const pid_t xterm = fork();
  if (xterm == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execl("/bin/sh", "sh", "-c",
          ("exec env " + env + " xterm -geometry 40x10+0+0 -bg white -fg white -b 0").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  double inside = -1, outside = -1;
  const bool drawn = Funkhausd::waitFor(10s, [&] {
    const auto frame = ffmpeg.lastFrame();
    if (frame.size() != size_t{kWidth} * kHeight) return false;
    inside = meanLuma(frame, 20, 20, 120, 60);
    outside = meanLuma(frame, 400, 300, 600, 450);
    return inside > 200 && std::abs(outside - lumaOf(0, 0, 1)) < 8;
  });
  kill(xterm, SIGKILL);
  waitpid(xterm, nullptr, 0);
  EXPECT_TRUE(drawn) << "xterm's white window: luma inside " << inside << ", outside " << outside;
  std::printf(
      "[figures] xterm window on the virtual monitor: decoded luma %.1f inside, %.1f "
      "outside\n",
      inside, outside);

  // The screen-to-wire split (issue 15) has all four stages, each measured: the grabs of what
  // was drawn (damage seen -> driver slot), their conversion, encoding and sending.
  const json latency = host_->status()["sessions"][0]["latency"];
  ASSERT_TRUE(latency.is_object() && latency["stages"].size() == 4u) << latency.dump();
  const std::pair<const char*, const char*> chain[] = {
      {"grab", "vdisplay"}, {"convert", "capture"}, {"encode", "encode"}, {"send", "net"}};
  for (size_t i = 0; i < 4; ++i) {
    const json& stage = latency["stages"][i];
    EXPECT_EQ(stage["stage"], chain[i].first);
    EXPECT_EQ(stage["worker"], chain[i].second);
    EXPECT_TRUE(stage["p50_ms"].is_number() && stage["p50_ms"].get<double>() > 0) << stage.dump();
  }
  ASSERT_TRUE(latency["total"]["p50_ms"].is_number()) << latency.dump();
  // The total is over new pictures only (re-encodes of a static screen are marked as repeats and
  // count for fps only), so it holds the grab (the windows of the two pages may differ by a few
  // frames: 10 % slack).
  if (latency["stages"][0]["p50_ms"].is_number()) {
    EXPECT_GE(latency["total"]["p50_ms"].get<double>(),
              0.9 * latency["stages"][0]["p50_ms"].get<double>())
        << latency.dump();
  }
  std::printf("[figures] screen to wire: %s\n", latency.dump().c_str());
}

// ffprobe decodes the stream and prints every frame's size.
class SizeProbe {
 public:
  explicit SizeProbe(const std::string& url, const std::string& log) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      dup2(out[1], 1);
      dup2(err, 2);
      execlp("ffprobe", "ffprobe", "-hide_banner", "-loglevel", "warning", "-fflags", "nobuffer",
             "-rtsp_transport", "tcp", "-select_streams", "v:0", "-show_frames", "-show_entries",
             "frame=width,height", "-of", "csv=p=0", url.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    reader_ = std::thread([this, fd = out[0]] {
      FILE* f = fdopen(fd, "r");
      char line[256];
      while (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) {
        unsigned w = 0, h = 0;
        if (std::sscanf(line, "%u,%u", &w, &h) != 2) continue;
        std::lock_guard lock(mutex_);
        sizes_.push_back({w, h, monotonicNs()});
      }
      if (f != nullptr) std::fclose(f);
    });
  }
  ~SizeProbe() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    reader_.join();
  }
  struct Size {
    unsigned w, h;
    uint64_t at_ns;
  };
  std::vector<Size> sizes() const {
    std::lock_guard lock(mutex_);
    return sizes_;
  }
  bool running() const { return kill(pid_, 0) == 0 && alive(pid_); }

 private:
  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::vector<Size> sizes_;
};

TEST_F(Vdisplay, ModeChangeDuringPlaybackKeepsTheViewerPlayingAtTheNewSize) {
  SizeProbe probe(url_, (host_->dir() / "ffprobe.log").string());
  ASSERT_TRUE(Funkhausd::waitFor(15s, [&] {
    const auto s = probe.sizes();
    return s.size() >= 5 && s.back().w == 640 && s.back().h == 480;
  })) << host_->log();
  // In place (within the 1024x768 framebuffer), then bigger (the X server restarts).
  for (const auto& [w, h] : {std::pair{800u, 600u}, std::pair{1024u, 768u}}) {
    const uint64_t t0 = monotonicNs();
    const json r = host_->call(R"({"cmd":"mode","width":)" + std::to_string(w) + R"(,"height":)" +
                               std::to_string(h) + "}");
    ASSERT_EQ(r["ok"], true) << r.dump() << host_->log();
    uint64_t first = 0;
    const bool resized = Funkhausd::waitFor(15s, [&] {
      for (const auto& s : probe.sizes())
        if (s.at_ns > t0 && s.w == w && s.h == h) {
          first = s.at_ns;
          return true;
        }
      return false;
    });
    EXPECT_TRUE(resized) << "ffprobe never decoded a " << w << "x" << h << " frame\n"
                         << host_->log();
    EXPECT_TRUE(probe.running()) << "the viewer exited at the mode change";
    std::printf(
        "[figures] mode change to %ux%u: first frame of the new size decoded %.0f ms "
        "after the request\n",
        w, h, first ? static_cast<double>(first - t0) / 1e6 : -1.0);
    const json mon = monitor();
    EXPECT_EQ(mon["width"], w);
    EXPECT_EQ(mon["height"], h);
  }
  // And it keeps playing at the new size: the rest of the full-rate second after the change,
  // then the static screen's keep-alive rate ([encode] idle_fps).
  const size_t before = probe.sizes().size();
  std::this_thread::sleep_for(2s);
  const auto sizes = probe.sizes();
  EXPECT_GE(sizes.size(), before + 15) << "frames kept coming";
  EXPECT_EQ(sizes.back().w, 1024u);
}

// A viewer asks for its display mode in the URL; the session's monitor takes it.
TEST_F(Vdisplay, ViewerAsksForItsModeInTheUrl) {
  const uint64_t t0 = monotonicNs();
  SizeProbe probe(url_ + "?mode=800x600", (host_->dir() / "ffprobe.log").string());
  uint64_t first = 0;
  const bool resized = Funkhausd::waitFor(15s, [&] {
    for (const auto& s : probe.sizes())
      if (s.w == 800 && s.h == 600) {
        first = s.at_ns;
        return true;
      }
    return false;
  });
  EXPECT_TRUE(resized) << host_->log();
  EXPECT_EQ(monitor()["width"], 800);
  EXPECT_EQ(monitor()["height"], 600);
  std::printf(
      "[figures] viewer asked for 800x600 in its URL: first frame of that size decoded "
      "%.0f ms after it started\n",
      first ? static_cast<double>(first - t0) / 1e6 : -1.0);
}

TEST_F(Vdisplay, KilledDriverIsReplacedAndTheViewerKeepsPlaying) {
  Viewer ffmpeg(Viewer::Kind::kFfmpegTcp, url_, kWidth, kHeight,
                (host_->dir() / "ffmpeg.log").string());
  ASSERT_TRUE(ffmpeg.waitFrames(10, 15'000)) << ffmpeg.log() << host_->log();
  const json before = host_->worker("vdisplay");
  const uint64_t t0 = monotonicNs();
  ASSERT_EQ(kill(before["pid"].get<pid_t>(), SIGKILL), 0);
  ASSERT_TRUE(Funkhausd::waitFor(10s, [&] {
    const json w = host_->worker("vdisplay");
    const json m = monitor();
    return w["state"] == "running" && w["pid"] != before["pid"] && !m.is_null();
  })) << host_->log();
  const double leased_ms = static_cast<double>(monotonicNs() - t0) / 1e6;
  EXPECT_TRUE(ffmpeg.waitFrames(30, 10'000)) << "the viewer stopped\n" << host_->log();
  EXPECT_TRUE(ffmpeg.running()) << ffmpeg.log();
  uint64_t longest = 0, previous = 0;
  for (const auto& f : ffmpeg.framesSince(t0 - 200'000'000)) {
    if (previous != 0) longest = std::max(longest, f.arrival_ns - previous);
    previous = f.arrival_ns;
  }
  std::printf(
      "[figures] kill -9 vdisplay: new driver with a new monitor (%s) after %.0f ms; "
      "longest pause between decoded frames %.0f ms\n",
      monitor()["display"].get<std::string>().c_str(), leased_ms,
      static_cast<double>(longest) / 1e6);
}

TEST_F(Vdisplay, KillingFunkhausdTakesEveryXServerWithIt) {
  const pid_t driver = host_->worker("vdisplay")["pid"].get<pid_t>();
  const auto servers = childrenNamed(driver, "Xvfb");
  ASSERT_FALSE(servers.empty()) << "the driver should own an Xvfb for the monitor";
  const uint64_t t0 = monotonicNs();
  host_->stop(SIGKILL);
  const bool gone = Funkhausd::waitFor(5s, [&] {
    if (alive(driver)) return false;
    for (pid_t s : servers)
      if (alive(s)) return false;
    return true;
  });
  EXPECT_TRUE(gone) << "an X server outlived funkhausd";
  std::printf("[figures] kill -9 funkhausd: driver and %zu X server(s) gone after %.0f ms\n",
              servers.size(), static_cast<double>(monotonicNs() - t0) / 1e6);
}

}  // namespace
}  // namespace funkhaus
