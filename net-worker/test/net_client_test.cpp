// The real funkhaus-net under a harness that plays funkhausd, fed with real H.264 from libx264,
// watched by real clients: ffmpeg and GStreamer over UDP and TCP, a raw socket that stalls, and
// hostile connections. The headline: SIGKILL the net mid-playback, start the next one on the
// kept sockets, and every client keeps playing without reconnecting. Timing is printed as
// [figures], never asserted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/net/rtsp/rtsp_auth.h"
#include "funkhaus/test/rtsp_client.h"
#include "net_harness.h"

extern char** environ;

// libx265 (the HEVC test source in this process) leaks its frame filters at encoder close;
// that is x265's, not ours. Everything else stays under LeakSanitizer.
extern "C" const char* __lsan_default_suppressions() { return "leak:libx265.so\n"; }

namespace funkhaus::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kWidth = 320, kHeight = 240, kFps = 30;
constexpr size_t kFrameBytes = static_cast<size_t>(kWidth) * kHeight;  // GRAY8

bool haveProgram(const char* name) {
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = path.find(':', start);
    const std::string dir = path.substr(start, end - start);
    if (access((dir + "/" + name).c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

// A viewer process whose stdout carries raw GRAY8 frames; counts them as they complete.
class Viewer {
 public:
  Viewer(std::string name, std::vector<std::string> argv) : name_(std::move(name)) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) std::abort();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    reader_ = std::thread([this, fd = out[0]] { readFrames(fd); });
    stderr_ = std::thread([this, fd = err[0]] { readErrors(fd); });
  }
  ~Viewer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    reader_.join();
    stderr_.join();
  }
  const std::string& name() const { return name_; }
  size_t frames() const { return frames_.load(); }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  bool waitFrames(size_t n, int timeout_ms) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (frames() < n) {
      if (Clock::now() > deadline || !running()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  std::vector<Clock::time_point> times() {
    std::lock_guard lock(mutex_);
    return times_;
  }
  std::string errors() {
    std::lock_guard lock(mutex_);
    return errors_;
  }
  // The longest time between two frames that spans `at` (kill to next frame included).
  double gapAcrossMs(Clock::time_point at) {
    const auto t = times();
    Clock::time_point before{}, after{};
    for (const auto& x : t) {
      if (x <= at) before = x;
      if (x > at) {
        after = x;
        break;
      }
    }
    if (before == Clock::time_point{} || after == Clock::time_point{}) return -1;
    return std::chrono::duration<double, std::milli>(after - before).count();
  }
  double fpsBetween(Clock::time_point a, Clock::time_point b) {
    size_t n = 0;
    for (const auto& x : times()) n += x >= a && x < b;
    return n / std::chrono::duration<double>(b - a).count();
  }

 private:
  void readFrames(int fd) {
    char buf[65536];
    uint64_t bytes = 0;
    for (;;) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      const uint64_t before = bytes / kFrameBytes;
      bytes += static_cast<uint64_t>(n);
      const uint64_t now = bytes / kFrameBytes;
      if (now != before) {
        std::lock_guard lock(mutex_);
        for (uint64_t i = before; i < now; ++i) times_.push_back(Clock::now());
        frames_.store(now);
      }
    }
    close(fd);
  }
  void readErrors(int fd) {
    char buf[4096];
    for (;;) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      std::lock_guard lock(mutex_);
      if (errors_.size() < 16384) errors_.append(buf, static_cast<size_t>(n));
    }
    close(fd);
  }

  std::string name_;
  pid_t pid_ = -1;
  std::thread reader_, stderr_;
  std::atomic<size_t> frames_{0};
  std::mutex mutex_;
  std::vector<Clock::time_point> times_;
  std::string errors_;
};

std::unique_ptr<Viewer> ffmpeg(const std::string& url, const std::string& transport) {
  return std::make_unique<Viewer>(
      "ffmpeg/" + transport,
      std::vector<std::string>{"ffmpeg",          "-nostdin",    "-loglevel", "warning",
                               "-fflags",         "nobuffer",    "-flags",    "low_delay",
                               "-rtsp_transport", transport,     "-i",        url,
                               "-fps_mode",       "passthrough", "-an",       "-f",
                               "rawvideo",        "-pix_fmt",    "gray",      "pipe:1"});
}

std::unique_ptr<Viewer> gstreamer(const std::string& url, const std::string& transport,
                                  const std::string& codec = "h264") {
  std::vector<std::string> args = {"gst-launch-1.0",
                                   "-q",
                                   "rtspsrc",
                                   "location=" + url,
                                   "latency=0",
                                   "protocols=" + transport,
                                   "!",
                                   "rtp" + codec + "depay"};
  // GStreamer 1.22's rtph265depay has no request-keyframe property.
  if (codec == "h264") args.push_back("request-keyframe=true");
  for (const char* a :
       {"!", "avdec_", "!", "videoconvert", "!", "video/x-raw,format=GRAY8", "!", "fdsink", "fd=1"})
    args.push_back(std::string(a) == "avdec_" ? "avdec_" + codec : a);
  return std::make_unique<Viewer>("gstreamer/" + transport, std::move(args));
}

// A viewer over TCP interleaved that plays and then never reads again: the one RTSP test client
// with a small receive buffer. SETUP without DESCRIBE, as a client that knows the stream does.
Result<test::RtspClient> stalledViewer(uint16_t port) {
  test::RtspClient::Options o;
  o.port = port;
  o.receive_buffer = 4096;
  auto c = test::RtspClient::connect(o);
  if (!c) return c.error();
  const std::string url = c->url("/live");
  auto setup = c->setupInterleaved(url + "/track0");
  if (!setup) return setup.error();
  if (setup->status != 200 || c->session().empty())
    return makeError("SETUP: status {}", setup->status);
  auto play = c->play(url);
  if (!play) return play.error();
  if (play->status != 200) return makeError("PLAY: status {}", play->status);
  return c;
}

class NetClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!haveProgram("ffmpeg")) GTEST_SKIP() << "ffmpeg is not installed";
    auto h = NetHarness::create();
    ASSERT_TRUE(h.ok()) << h.error().message;
    harness_ = std::move(*h);
    source_ = std::make_unique<VideoSource>(harness_->ringFd(), kWidth, kHeight, kFps);
    harness_->on_keyframe_request = [this] { source_->requestKeyframe(); };
  }
  void TearDown() override {
    viewers_.clear();
    if (source_) source_->stop();
    if (harness_) harness_->kill9();
  }
  void start(const std::vector<std::string>& args = {}) {
    auto ok = harness_->start(args);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    auto src = source_->start();
    ASSERT_TRUE(src.ok()) << src.error().message;
  }
  Viewer& add(std::unique_ptr<Viewer> v) {
    viewers_.push_back(std::move(v));
    return *viewers_.back();
  }
  void expectFrames(Viewer& v, size_t n, int timeout_ms) {
    EXPECT_TRUE(v.waitFrames(n, timeout_ms))
        << v.name() << " has " << v.frames() << " frames, running " << v.running() << "\n"
        << v.errors();
  }
  void printStatus(const char* when) {
    const abi::WorkerStatusPage& s = harness_->status();
    std::printf(
        "[figures] %s: frames_in %llu frames_out %llu bytes_out %llu drops %llu errors %llu "
        "viewers %llu keyframe requests received %llu; fps %.1f; net latency commit -> last packet "
        "sent p50 %.3f ms p99 %.3f ms\n",
        when, static_cast<unsigned long long>(s.frames_in),
        static_cast<unsigned long long>(s.frames_out), static_cast<unsigned long long>(s.bytes_out),
        static_cast<unsigned long long>(s.drops), static_cast<unsigned long long>(s.errors),
        static_cast<unsigned long long>(s.viewers), static_cast<unsigned long long>(s.keyframes),
        s.fps_milli / 1000.0, s.latency_p50_ns / 1e6, s.latency_p99_ns / 1e6);
  }

  std::unique_ptr<NetHarness> harness_;
  std::unique_ptr<VideoSource> source_;
  std::vector<std::unique_ptr<Viewer>> viewers_;
};

TEST_F(NetClientTest, LogsItsUrlHeartbeatsAndStopsOnCommand) {
  start();
  EXPECT_TRUE(harness_->waitForLog("serving " + harness_->url(), 5000));
  const uint64_t beat = harness_->status().heartbeat;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_GT(harness_->status().heartbeat, beat);
  EXPECT_EQ(harness_->status().state, static_cast<uint32_t>(abi::WorkerState::kRunning));
  const auto status = harness_->stop();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, (ExitStatus{false, abi::kExitStopped})) << describeExit(*status);
  // SIGTERM stops it too, with exit 0.
  ASSERT_TRUE(harness_->start().ok());
  harness_->process().signal(SIGTERM);
  const auto term = harness_->waitExit(5000);
  ASSERT_TRUE(term.has_value());
  EXPECT_EQ(*term, (ExitStatus{false, abi::kExitStopped})) << describeExit(*term);
}

TEST_F(NetClientTest, BadArgumentsExit65) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--max-viewers", "17"},
                                                                {"--mtu", "10"},
                                                                {"--path", "live"},
                                                                {"--path", "/a b"},
                                                                {"--session-timeout", "0"},
                                                                {"--bogus"}}) {
    EXPECT_FALSE(harness_->start(args, 3000).ok()) << args[0];
    const auto status = harness_->waitExit(3000);
    ASSERT_TRUE(status.has_value()) << args[0];
    EXPECT_EQ(*status, (ExitStatus{false, abi::kExitBadConfig}))
        << args[0] << ": " << describeExit(*status);
  }
}

TEST_F(NetClientTest, MalformedDigestCredentialsAreABadConfig) {
  for (const std::string value :
       {"viewer:nothex", "no-colon", ":0123456789abcdef0123456789abcdef"}) {
    EXPECT_FALSE(
        harness_->start({}, 3000, {std::string(net::kDigestEnvironment) + "=" + value}).ok());
    const auto status = harness_->waitExit(3000);
    ASSERT_TRUE(status.has_value()) << value;
    EXPECT_EQ(*status, (ExitStatus{false, abi::kExitBadConfig}))
        << value << ": " << describeExit(*status);
    EXPECT_TRUE(harness_->waitForLog(net::kDigestEnvironment, 3000)) << value;
  }
}

TEST_F(NetClientTest, FfmpegOverUdpAndTcpDecodesForFiveSeconds) {
  start();
  Viewer& udp = add(ffmpeg(harness_->url(), "udp"));
  Viewer& tcp = add(ffmpeg(harness_->url(), "tcp"));
  expectFrames(udp, 1, 15000);
  expectFrames(tcp, 1, 15000);
  const auto t0 = Clock::now();
  const size_t udp0 = udp.frames(), tcp0 = tcp.frames();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const size_t udp_half = udp.frames(), tcp_half = tcp.frames();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const auto t1 = Clock::now();
  EXPECT_GT(udp_half, udp0) << udp.errors();
  EXPECT_GT(udp.frames(), udp_half) << "still decoding after 5 s\n" << udp.errors();
  EXPECT_GT(tcp_half, tcp0) << tcp.errors();
  EXPECT_GT(tcp.frames(), tcp_half) << "still decoding after 5 s\n" << tcp.errors();
  EXPECT_TRUE(udp.running());
  EXPECT_TRUE(tcp.running());
  std::printf("[figures] ffmpeg udp %.1f fps, ffmpeg tcp %.1f fps over 5 s (source %d fps)\n",
              udp.fpsBetween(t0, t1), tcp.fpsBetween(t0, t1), kFps);
  EXPECT_EQ(harness_->status().viewers, 2u);
  EXPECT_GT(harness_->status().frames_out, 0u);
  printStatus("ffmpeg udp+tcp");
}

TEST_F(NetClientTest, GstreamerOverUdpAndTcpDecodesAndAsksForKeyframes) {
  if (!haveProgram("gst-launch-1.0")) GTEST_SKIP() << "gst-launch-1.0 is not installed";
  start();
  Viewer& udp = add(gstreamer(harness_->url(), "udp"));
  Viewer& tcp = add(gstreamer(harness_->url(), "tcp"));
  expectFrames(udp, 1, 15000);
  expectFrames(tcp, 1, 15000);
  const auto t0 = Clock::now();
  const size_t udp0 = udp.frames(), tcp0 = tcp.frames();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  const auto t1 = Clock::now();
  EXPECT_GT(udp.frames(), udp0) << udp.errors();
  EXPECT_GT(tcp.frames(), tcp0) << tcp.errors();
  std::printf("[figures] gstreamer udp %.1f fps, gstreamer tcp %.1f fps over 5 s\n",
              udp.fpsBetween(t0, t1), tcp.fpsBetween(t0, t1));
  // rtph264depay request-keyframe=true makes GStreamer send FIR/PLI: the SDP's rtcp-fb lines
  // were understood and the feedback reached the net (status page "keyframes").
  EXPECT_GT(harness_->status().keyframes, 0u);
  printStatus("gstreamer udp+tcp");
}

TEST_F(NetClientTest, HevcToFfmpegAndGstreamer) {
  source_ = std::make_unique<VideoSource>(harness_->ringFd(), kWidth, kHeight, kFps, 2);
  start();
  Viewer& udp = add(ffmpeg(harness_->url(), "udp"));
  Viewer* tcp = nullptr;
  if (haveProgram("gst-launch-1.0")) tcp = &add(gstreamer(harness_->url(), "tcp", "h265"));
  expectFrames(udp, 30, 20000);
  if (tcp != nullptr) expectFrames(*tcp, 30, 20000);
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const auto t1 = Clock::now();
  std::printf("[figures] HEVC: ffmpeg udp %.1f fps", udp.fpsBetween(t0, t1));
  if (tcp != nullptr) std::printf(", gstreamer tcp %.1f fps", tcp->fpsBetween(t0, t1));
  std::printf("\n");
  EXPECT_EQ(harness_->page().codec, 2u) << "the page keeps HEVC parameter sets";
  EXPECT_GT(harness_->page().vps.size, 0u);
  printStatus("HEVC");
}

TEST_F(NetClientTest, ViewersKeepPlayingAcrossASigkilledNet) {
  const bool gst = haveProgram("gst-launch-1.0");
  start();
  add(ffmpeg(harness_->url(), "udp"));
  add(ffmpeg(harness_->url(), "tcp"));
  if (gst) {
    add(gstreamer(harness_->url(), "udp"));
    add(gstreamer(harness_->url(), "tcp"));
  }
  for (auto& v : viewers_) expectFrames(*v, 30, 20000);
  if (HasFailure()) return;
  const uint64_t deposits = harness_->deposits.load();
  EXPECT_EQ(harness_->keptSockets(), viewers_.size());
  std::vector<size_t> before;
  for (auto& v : viewers_) before.push_back(v->frames());
  printStatus("before SIGKILL");

  for (int round = 0; round < 2; ++round) {
    const auto kill_time = Clock::now();
    harness_->kill9();
    ASSERT_TRUE(harness_->start().ok()) << "restart " << round;
    for (size_t i = 0; i < viewers_.size(); ++i) {
      expectFrames(*viewers_[i], viewers_[i]->frames() + 30, 20000);
      EXPECT_TRUE(viewers_[i]->running()) << viewers_[i]->name() << "\n" << viewers_[i]->errors();
    }
    for (auto& v : viewers_)
      std::printf("[figures] restart %d: %s: gap across the SIGKILL %.0f ms\n", round + 1,
                  v->name().c_str(), v->gapAcrossMs(kill_time));
    EXPECT_EQ(harness_->deposits.load(), deposits) << "a client reconnected (new SETUP)";
    EXPECT_EQ(harness_->keptSockets(), viewers_.size());
    EXPECT_EQ(harness_->status().viewers, viewers_.size());
  }
  EXPECT_TRUE(harness_->waitForLog("continuing playing viewer", 1000));
  printStatus("after two restarts");
}

TEST_F(NetClientTest, StalledTcpViewerDoesNotSlowTheOther) {
  start();
  Viewer& udp = add(ffmpeg(harness_->url(), "udp"));
  expectFrames(udp, 30, 15000);
  const auto a0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const auto a1 = Clock::now();
  auto stalled = stalledViewer(harness_->rtspPort());
  ASSERT_TRUE(stalled) << stalled.error().message;
  const size_t frames_before = udp.frames();
  const auto b0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  const auto b1 = Clock::now();
  EXPECT_GT(udp.frames(), frames_before) << udp.errors();
  EXPECT_TRUE(udp.running());
  EXPECT_GT(harness_->status().drops, 0u) << "the stalled viewer lost whole frames";
  const size_t stalled_bytes = stalled->unread();
  std::printf(
      "[figures] ffmpeg udp viewer: %.1f fps alone, %.1f fps beside a stalled TCP viewer; the "
      "stalled viewer holds %zu unread bytes after 5 s (%.1f KB/s); %llu of its frames dropped, "
      "%llu keyframe requests sent in all\n",
      udp.fpsBetween(a0, a1), udp.fpsBetween(b0, b1), stalled_bytes,
      stalled_bytes / 1024.0 / std::chrono::duration<double>(b1 - b0).count(),
      static_cast<unsigned long long>(harness_->status().drops),
      static_cast<unsigned long long>(harness_->keyframe_requests.load()));
  printStatus("stalled viewer");
}

TEST_F(NetClientTest, HostileInputLeavesAPlayingViewerAlone) {
  start({"--header-timeout-ms", "1000"});
  Viewer& tcp = add(ffmpeg(harness_->url(), "tcp"));
  expectFrames(tcp, 30, 15000);
  const auto a0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto a1 = Clock::now();
  const size_t before = tcp.frames();
  test::RtspClient::Options options;
  options.port = harness_->rtspPort();
  options.timeout_ms = 2000;
  auto open = [&options] {
    auto c = test::RtspClient::connect(options);
    if (!c) std::abort();  // the net's listening socket is funkhausd's: it is always there
    return std::move(*c);
  };
  // The status of the first response, 0 for none (closed, timed out, not RTSP).
  auto status = [](test::RtspClient& c) {
    auto r = c.response();
    return r ? r->status : 0;
  };
  const auto b0 = Clock::now();
  std::mt19937 rng(1234);
  int refused_with_status = 0, rounds = 0;
  std::vector<test::RtspClient> held;  // slowloris and idle connections, closed at the end
  while (Clock::now() - b0 < std::chrono::seconds(5)) {
    ++rounds;
    {  // binary garbage
      auto c = open();
      std::string junk(4096, '\0');
      for (char& ch : junk) ch = static_cast<char>(rng());
      junk[0] = 'X';
      (void)c.send(junk);
      refused_with_status += status(c) == 400;
    }
    {  // unknown method
      auto c = open();
      (void)c.send("BREW rtsp://127.0.0.1/live RTSP/1.0\r\nCSeq: 1\r\n\r\n");
      refused_with_status += status(c) == 501;
    }
    {  // oversized headers
      auto c = open();
      std::string r = "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n";
      while (r.size() < 30000) r += "X-Big: " + std::string(200, 'b') + "\r\n";
      (void)c.send(r);
      refused_with_status += status(c) == 400;
    }
    {  // a session, then junk on the interleaved connection
      auto c = open();
      (void)c.setupInterleaved("rtsp://127.0.0.1/live/track0");
      std::string junk = "$\x01";
      junk += static_cast<char>(0xFF);
      junk += static_cast<char>(0xFF);
      junk += std::string(1000, 'j');  // a frame that claims 64 KB
      junk += std::string(500, '\x7f');
      (void)c.send(junk);
    }
    // A half request that never finishes, and an idle connection.
    auto slow = open();
    (void)slow.send("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n");
    held.push_back(std::move(slow));
    held.push_back(open());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto b1 = Clock::now();
  held.clear();
  EXPECT_GT(tcp.frames(), before) << tcp.errors();
  EXPECT_TRUE(tcp.running()) << tcp.errors();
  EXPECT_GT(refused_with_status, 0);
  // The net still answers.
  auto last = open();
  auto answer = last.request("OPTIONS", "*");
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->status, 200);
  EXPECT_GT(harness_->status().errors, 0u);
  std::printf(
      "[figures] ffmpeg tcp viewer %.1f fps before, %.1f fps during %d rounds of hostile "
      "connections (%d refused with an RTSP status)\n",
      tcp.fpsBetween(a0, a1), tcp.fpsBetween(b0, b1), rounds, refused_with_status);
  printStatus("hostile input");
}

// Who may watch: the same real clients, but from an address that is not loopback. The test
// moves into a network namespace of its own (only its loopback device, given 10.77.0.1 too), so
// nothing leaves the machine and the net sees a viewer "from another host".
class NetRemoteViewerTest : public NetClientTest {
 protected:
  static constexpr const char* kRemote = "10.77.0.1";
  void SetUp() override {
    if (geteuid() != 0)
      GTEST_SKIP() << "needs root: the test moves into a network namespace of its own to get an "
                      "address that is not loopback";
    if (!haveProgram("ffmpeg")) GTEST_SKIP() << "ffmpeg is not installed";
    if (!haveProgram("ip")) GTEST_SKIP() << "ip (iproute2) is not installed";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    ASSERT_EQ(std::system("ip link set lo up && ip addr add 10.77.0.1/32 dev lo"), 0);
    auto h = NetHarness::create(8u << 20, /*every_address=*/true);
    ASSERT_TRUE(h.ok()) << h.error().message;
    harness_ = std::move(*h);
    source_ = std::make_unique<VideoSource>(harness_->ringFd(), kWidth, kHeight, kFps);
    harness_->on_keyframe_request = [this] { source_->requestKeyframe(); };
  }
  void startWith(const std::vector<std::string>& environment) {
    auto ok = harness_->start({}, 10000, environment);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    auto src = source_->start();
    ASSERT_TRUE(src.ok()) << src.error().message;
  }
  // Waits for a viewer that must be refused to give up; its stderr.
  std::string refusal(Viewer& v) {
    for (int i = 0; i < 1000 && v.running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(v.running()) << v.name() << " still runs: " << v.errors();
    EXPECT_EQ(v.frames(), 0u) << v.name();
    return v.errors();
  }
  std::string remoteUrl(const std::string& credentials) const {
    const std::string url = harness_->url("/live", kRemote);
    return credentials.empty() ? url : "rtsp://" + credentials + "@" + url.substr(7);
  }
};

TEST_F(NetRemoteViewerTest, WithoutAPasswordOnlyThisHostMayWatch) {
  startWith({std::string(net::kDigestEnvironment)});  // unset, whatever the test runner has
  EXPECT_TRUE(harness_->waitForLog("viewers on this host only", 5000));
  Viewer& local = add(ffmpeg(harness_->url(), "tcp"));
  Viewer& remote = add(ffmpeg(remoteUrl(""), "tcp"));
  expectFrames(local, 30, 20000);
  EXPECT_NE(refusal(remote).find("403"), std::string::npos) << remote.errors();
  EXPECT_TRUE(harness_->waitForLog("need a password", 5000));
}

TEST_F(NetRemoteViewerTest, OtherHostsWatchWithDigestCredentialsOnly) {
  const std::string ha1 = net::digestHa1("viewer", net::kDigestRealm, "s3cret pass");
  startWith({std::string(net::kDigestEnvironment) + "=viewer:" + ha1});
  EXPECT_TRUE(harness_->waitForLog("sign in as 'viewer'", 5000));
  Viewer& udp = add(ffmpeg(remoteUrl("viewer:s3cret%20pass"), "udp"));
  Viewer* gst = nullptr;
  if (haveProgram("gst-launch-1.0"))
    gst = &add(gstreamer(remoteUrl("viewer:s3cret%20pass"), "tcp"));
  Viewer& anonymous = add(ffmpeg(remoteUrl(""), "tcp"));
  Viewer& wrong = add(ffmpeg(remoteUrl("viewer:guess"), "tcp"));
  Viewer& local = add(ffmpeg(harness_->url(), "tcp"));  // loopback needs no password
  expectFrames(udp, 30, 20000);
  if (gst != nullptr) expectFrames(*gst, 30, 20000);
  expectFrames(local, 30, 20000);
  EXPECT_NE(refusal(anonymous).find("401"), std::string::npos) << anonymous.errors();
  EXPECT_NE(refusal(wrong).find("401"), std::string::npos) << wrong.errors();
  EXPECT_TRUE(harness_->waitForLog("with wrong RTSP credentials", 5000));
}

}  // namespace
}  // namespace funkhaus::test
