// GameStream end to end (label client): a real funkhausd (user mode) starts funkhaus-web as a
// host worker on the sockets it holds; the real funkhausctl enters the PIN; the real Moonlight
// Embedded pairs, lists the apps, survives a kill -9 of funkhaus-web and a restart of funkhausd,
// and is refused once unpaired. Loopback only, ports of the test's own.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../../supervisor/test/funkhausd_process.h"
#include "funkhaus/test/moonlight.h"
#include "funkhaus/test/shell.h"
#include "gamestream_host.h"
#include "gamestream_ports.h"

namespace funkhaus {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
using test::Funkhausd;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

using Output = funkhaus::test::ShellRun;

using test::funkhausctl;

class GamestreamClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto moonlight = test::findMoonlight();
    if (!moonlight) GTEST_SKIP() << moonlight.error().message;
    moonlight_ = *moonlight;
    base_port_ = test::freeGamestreamBasePort();
    ASSERT_NE(base_port_, 0) << "no free port pair on loopback";
    dir_ = fs::temp_directory_path() / ("funkhaus-gamestream-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Funkhausd::state_home = dir_ / "state";
  }

  void TearDown() override {
    if (funkhausd_ && HasFailure()) std::printf("funkhausd log:\n%s\n", funkhausd_->log().c_str());
    funkhausd_.reset();
    Funkhausd::state_home.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // App 2 stands in for a game: it notes its pid and display, then waits to be stopped.
  std::string config() const {
    return "[gamestream]\nbase_port = " + std::to_string(base_port_) +
           "\nlisten_address = \"127.0.0.1\"\nname = \"funkhaus-e2e\"\nmdns = false\n"
           "[[gamestream.apps]]\ntitle = \"Steam Big Picture\"\ncommand = \"echo $$ "
           "${DISPLAY:-none} > '" +
           (dir_ / "app.pid").string() + "'; exec sleep 600\"\n";
  }

  // funkhausd with light session workers (one, or a streaming set); waits for funkhaus-web.
  void startFunkhausd(std::vector<std::string> workers = {"capture"}) {
    funkhausd_.emplace(config(), false, "user", false, std::move(workers));
    ASSERT_TRUE(Funkhausd::waitFor(20s, [&] { return webState() == "running"; }))
        << funkhausd_->status().dump();
  }

  json web() const {
    const json s = funkhausd_->status();
    if (!s.is_object() || !s.contains("host_workers")) return json();
    for (const auto& w : s["host_workers"])
      if (w["name"] == "web") return w;
    return json();
  }
  std::string webState() const {
    const json w = web();
    return w.is_object() && w["state"].is_string() ? w["state"].get<std::string>() : "";
  }

  std::vector<std::string> args(const std::string& action, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {action, "-keydir", (dir_ / "client/keys").string(), "-port",
                                  std::to_string(base_port_)};
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back("127.0.0.1");
    return a;
  }
  std::string moonlight(const std::string& action) {
    return test::runMoonlight(moonlight_, args(action), dir_ / "client", 60s);
  }

  // Moonlight Embedded pairs with PIN `pin`, entered through funkhausctl.
  void pair(const std::string& pin) {
    test::pairMoonlight(moonlight_, dir_ / "client", base_port_, *funkhausd_, pin);
  }

  // `moonlight stream` (fake platform: the whole protocol, no decoder) with `extra` options.
  Result<test::MoonlightRun> stream(const std::string& app, std::vector<std::string> extra) {
    std::ofstream(dir_ / "client/gamecontrollerdb.txt") << "";  // stream wants a mapping file
    std::vector<std::string> options = {
        "-app", app,        "-platform",
        "fake", "-mapping", (dir_ / "client/gamecontrollerdb.txt").string()};
    options.insert(options.end(), extra.begin(), extra.end());
    // Line-buffered: its log file is read while it runs.
    std::vector<std::string> line_buffered = {"-oL", moonlight_};
    for (std::string& a : args("stream", options)) line_buffered.push_back(std::move(a));
    return test::MoonlightRun::start("/usr/bin/stdbuf", line_buffered, dir_ / "client");
  }

  std::string moonlight_;
  uint16_t base_port_ = 0;
  fs::path dir_;
  std::optional<Funkhausd> funkhausd_;
};

TEST_F(GamestreamClientTest, PairListRestartAndUnpairThroughFunkhausctl) {
  ASSERT_NO_FATAL_FAILURE(startFunkhausd());
  // The host's sockets: HTTP at the base, HTTPS five below, in the status.
  const json status = json::parse(funkhausctl(*funkhausd_, "status --json").out, nullptr, false);
  ASSERT_TRUE(status.contains("gamestream")) << status.dump();
  EXPECT_EQ(status["gamestream"]["http_port"], base_port_);
  EXPECT_EQ(status["gamestream"]["https_port"], base_port_ - 5);
  EXPECT_EQ(status["gamestream"]["name"], "funkhaus-e2e");
  EXPECT_EQ(status["gamestream"]["paired_clients"], 0);
  EXPECT_TRUE(has(funkhausctl(*funkhausd_, "pair").out, "no pairing request waits"));

  // Moonlight asks to pair; funkhausctl shows who waits, then enters the PIN.
  auto run = test::MoonlightRun::start(moonlight_, args("pair", {"-pin", "4321"}), dir_ / "client");
  ASSERT_TRUE(run.ok()) << run.error().message;
  Output pending;
  ASSERT_TRUE(Funkhausd::waitFor(30s,
                                 [&] {
                                   pending = funkhausctl(*funkhausd_, "pair");
                                   return has(pending.out, "waiting for the PIN");
                                 }))
      << pending.out << run->output();
  EXPECT_TRUE(has(pending.out, "127.0.0.1")) << pending.out;
  EXPECT_TRUE(has(pending.out, "roth")) << pending.out;  // Moonlight Embedded's name
  EXPECT_EQ(funkhausctl(*funkhausd_, "pair 12x4").exit_code, 2) << "checked before it is sent";
  const auto t0 = std::chrono::steady_clock::now();
  const Output entered = funkhausctl(*funkhausd_, "pair 4321");
  EXPECT_EQ(entered.exit_code, 0) << entered.out;
  ASSERT_TRUE(run->wait(60s).has_value()) << run->output();
  const double took_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(has(run->output(), "Succesfully paired")) << run->output();
  std::printf(
      "[figures] funkhausctl pair PIN -> moonlight printed \"Succesfully paired\" and exited: "
      "%.0f ms (funkhausctl -> funkhausd -> funkhaus-web -> Moonlight's remaining phases)\n",
      took_ms);

  std::string list = moonlight("list");
  EXPECT_TRUE(has(list, "Desktop")) << list;
  EXPECT_TRUE(has(list, "Steam Big Picture")) << list;
  const Output clients = funkhausctl(*funkhausd_, "clients");
  EXPECT_TRUE(has(clients.out, "roth")) << clients.out;
  const json clients_json =
      json::parse(funkhausctl(*funkhausd_, "clients --json").out, nullptr, false);
  ASSERT_TRUE(clients_json.contains("clients") && clients_json["clients"].size() == 1)
      << clients_json.dump();
  const std::string id = clients_json["clients"][0]["id"];
  EXPECT_TRUE(has(clients.out, id.substr(0, 16))) << clients.out;
  const json after_pair =
      json::parse(funkhausctl(*funkhausd_, "status --json").out, nullptr, false);
  EXPECT_EQ(after_pair["gamestream"]["paired_clients"], 1) << after_pair.dump();
  EXPECT_TRUE(has(funkhausctl(*funkhausd_, "status").out, "1 paired client(s)"));

  // kill -9 of funkhaus-web: funkhausd starts it again on the same sockets.
  const int old_pid = web()["pid"].get<int>();
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);
  ASSERT_TRUE(Funkhausd::waitFor(20s, [&] {
    const json w = web();
    return w.is_object() && w["state"] == "running" && w["pid"].is_number() &&
           w["pid"].get<int>() != old_pid;
  })) << funkhausd_->status().dump();
  EXPECT_EQ(web()["restarts"], 1);
  list = moonlight("list");
  EXPECT_TRUE(has(list, "Steam Big Picture")) << "after the kill: " << list;

  // funkhausd restarted: the pairing is in the state directory.
  funkhausd_.reset();
  ASSERT_NO_FATAL_FAILURE(startFunkhausd());
  list = moonlight("list");
  EXPECT_TRUE(has(list, "Steam Big Picture")) << "after funkhausd's restart: " << list;

  // Unpaired at the host: refused at once.
  const Output unpaired = funkhausctl(*funkhausd_, "unpair " + id.substr(0, 8));
  EXPECT_EQ(unpaired.exit_code, 0) << unpaired.out;
  EXPECT_TRUE(has(unpaired.out, "unpaired roth")) << unpaired.out;
  list = moonlight("list");
  EXPECT_TRUE(has(list, "You must pair with the PC first")) << list;
  EXPECT_FALSE(has(list, "Steam Big Picture")) << list;
  EXPECT_TRUE(has(funkhausctl(*funkhausd_, "clients").out, "no paired clients"));
  const Output again = funkhausctl(*funkhausd_, "unpair " + id.substr(0, 8));
  EXPECT_EQ(again.exit_code, 1) << again.out;

  // Without funkhaus-web: a clear error, not a hang.
  EXPECT_EQ(funkhausctl(*funkhausd_, "stop web").exit_code, 0);
  ASSERT_TRUE(Funkhausd::waitFor(10s, [&] { return webState() == "stopped"; }));
  const Output stopped = funkhausctl(*funkhausd_, "clients");
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_TRUE(has(stopped.out, "funkhaus-web is not running (stopped)")) << stopped.out;
  EXPECT_TRUE(has(funkhausctl(*funkhausd_, "status").out, "funkhaus-web is stopped"));
}

// A client launches an app: funkhausd runs its command in the session (funkhaus-web asked over
// the channel), and the client's quit stops it.
TEST_F(GamestreamClientTest, LaunchRunsTheAppsCommandAndQuitStopsIt) {
  ASSERT_NO_FATAL_FAILURE(startFunkhausd({"capture", "encode", "net"}));
  ASSERT_TRUE(funkhausd_->waitAllRunning(20s)) << funkhausd_->status().dump();
  ASSERT_NO_FATAL_FAILURE(pair("2468"));
  auto stream = this->stream("Steam Big Picture", {});
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  std::string pid_line;
  ASSERT_TRUE(Funkhausd::waitFor(10s,
                                 [&] {
                                   std::ifstream in(dir_ / "app.pid");
                                   return static_cast<bool>(std::getline(in, pid_line)) &&
                                          !pid_line.empty();
                                 }))
      << stream->output() << "\n"
      << funkhausd_->log();
  const pid_t app = std::stoi(pid_line);
  EXPECT_EQ(::kill(app, 0), 0) << "the app runs";
  const json status = json::parse(funkhausctl(*funkhausd_, "status --json").out, nullptr, false);
  EXPECT_EQ(status["gamestream"]["app_process"], "Steam Big Picture") << status.dump();

  // End the client, then quit the app.
  if (!stream->wait(5s)) stream->process().stop(1s);
  const std::string quit = moonlight("quit");
  EXPECT_TRUE(Funkhausd::waitFor(10s, [&] { return ::kill(app, 0) != 0; }))
      << "quit stops the app\n"
      << quit << "\n"
      << funkhausd_->log();
}

// The black-box check: Moonlight streams Desktop at 1280x720@60 for 20 s, and a kill -9
// of encode, capture and net (4 s apart) never ends its stream: it is still running at the end
// and never printed a termination.
TEST_F(GamestreamClientTest, MoonlightStreamsThroughKillsOfEncodeCaptureAndNet) {
  funkhausd_.emplace(config() +
                         "[rings]\nmax_width = 1280\nmax_height = 720\n"
                         "[capture]\nwidth = 1280\nheight = 720\nfps = 60\n",
                     false, "user", true, std::vector<std::string>{"capture", "encode", "net"});
  ASSERT_TRUE(Funkhausd::waitFor(20s, [&] { return webState() == "running"; }));
  ASSERT_TRUE(funkhausd_->waitAllRunning(20s)) << funkhausd_->status().dump();
  ASSERT_NO_FATAL_FAILURE(pair("1357"));

  const auto t0 = std::chrono::steady_clock::now();
  auto run = stream(
      "Desktop", {"-width", "1280", "-height", "720", "-fps", "60", "-bitrate", "10000", "-debug"});
  ASSERT_TRUE(run.ok()) << run.error().message;
  ASSERT_TRUE(Funkhausd::waitFor(
      20s, [&] { return has(run->output(), "Received first video packet") || !run->running(); }));
  ASSERT_TRUE(run->running()) << run->output() << "\n" << funkhausd_->log();
  ASSERT_TRUE(has(run->output(), "Received first video packet")) << run->output();
  std::printf(
      "[figures] moonlight stream -> first video packet: %.0f ms\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  std::this_thread::sleep_for(4s);
  for (const char* name : {"encode", "capture", "net"}) {
    const json w = funkhausd_->worker(name);
    ASSERT_TRUE(w.is_object() && w["pid"].is_number()) << funkhausd_->status().dump();
    const int pid = w["pid"].get<int>();
    ASSERT_EQ(::kill(pid, SIGKILL), 0) << name;
    std::this_thread::sleep_for(4s);
    EXPECT_TRUE(run->running()) << "after kill -9 of " << name << "\n" << run->output();
    const json again = funkhausd_->worker(name);
    EXPECT_TRUE(again.is_object() && again["pid"] != pid && again["state"] == "running")
        << name << " came back: " << again.dump();
  }
  std::this_thread::sleep_for(4s);
  const std::string out = run->output();
  EXPECT_TRUE(run->running()) << out;
  EXPECT_FALSE(has(out, "terminated")) << out;
  EXPECT_FALSE(has(out, "No video received")) << out;
  const json net = funkhausd_->worker("net");
  std::printf("[figures] after 3 kills: net %s\n", net.dump().c_str());

  // Unpaired at the host while it streams: its stream ends at once (termination, disconnect).
  const json clients = json::parse(funkhausctl(*funkhausd_, "clients --json").out, nullptr, false);
  ASSERT_TRUE(clients.contains("clients") && clients["clients"].size() == 1) << clients.dump();
  const std::string id = clients["clients"][0]["id"];
  const auto unpaired_at = std::chrono::steady_clock::now();
  EXPECT_EQ(funkhausctl(*funkhausd_, "unpair " + id.substr(0, 8)).exit_code, 0);
  EXPECT_TRUE(run->wait(5s).has_value()) << "still streaming after unpair\n" << run->output();
  EXPECT_TRUE(has(run->output(), "terminated")) << run->output();
  std::printf(
      "[figures] unpair -> moonlight exited: %.0f ms\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - unpaired_at)
          .count());
  if (run->running()) run->process().stop(2s);
}

// Our own client on moonlight-common-c (tests/client/gamestream_probe, built at test time into
// the test-client cache): decodes every access unit with libavcodec and reads the synthetic
// source's barcode, so these tests see pictures, latencies, pauses and FEC, not only a log.
class GamestreamProbeTest : public GamestreamClientTest {
 protected:
  void SetUp() override {
    GamestreamClientTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto probe = test::buildGamestreamProbe();
    if (!probe) GTEST_SKIP() << probe.error().message;
    probe_ = *probe;
  }

  // funkhausd streaming the synthetic pattern at WxH@60, with Moonlight Embedded paired.
  void startHost(int width, int height) {
    funkhausd_.emplace(config() + "[rings]\nmax_width = " + std::to_string(width) +
                           "\nmax_height = " + std::to_string(height) +
                           "\n[capture]\nsource = \"synthetic\"\nwidth = " + std::to_string(width) +
                           "\nheight = " + std::to_string(height) + "\nfps = 60\n",
                       false, "user", true, std::vector<std::string>{"capture", "encode", "net"});
    ASSERT_TRUE(Funkhausd::waitFor(20s, [&] { return webState() == "running"; }));
    ASSERT_TRUE(funkhausd_->waitAllRunning(20s)) << funkhausd_->status().dump();
    ASSERT_NO_FATAL_FAILURE(pair("8642"));
  }

  // Starts the probe; its JSON summary is the last line of its output.
  Result<test::MoonlightRun> probe(std::vector<std::string> options) {
    std::vector<std::string> a = {"--host",      "127.0.0.1",
                                  "--http-port", std::to_string(base_port_),
                                  "--keydir",    (dir_ / "client/keys").string(),
                                  "--quit"};
    a.insert(a.end(), options.begin(), options.end());
    return test::MoonlightRun::start(probe_, a, dir_ / "client");
  }
  static json summary(const std::string& output) {
    const size_t at = output.rfind("{\"type\":\"summary\"");
    return at == std::string::npos ? json() : json::parse(output.substr(at), nullptr, false);
  }

  std::string probe_;
};

struct ProbeCase {
  const char* codec;
  int width, height, bitrate_kbps;
};

class GamestreamProbeStreams : public GamestreamProbeTest,
                               public ::testing::WithParamInterface<ProbeCase> {};

// H.264 and HEVC, 720p60 and 1080p60, bitrates on both sides of 15 Mbit/s (the client changes its
// RTSP target address there): every access unit decodes and carries the barcode and a latency.
TEST_P(GamestreamProbeStreams, DecodesEveryFrameWithItsHostLatency) {
  const ProbeCase c = GetParam();
  ASSERT_NO_FATAL_FAILURE(startHost(c.width, c.height));
  auto run = probe({"--codec", c.codec, "--width", std::to_string(c.width), "--height",
                    std::to_string(c.height), "--fps", "60", "--bitrate",
                    std::to_string(c.bitrate_kbps), "--seconds", "6"});
  ASSERT_TRUE(run.ok()) << run.error().message;
  ASSERT_TRUE(run->wait(60s).has_value()) << run->output();
  const json s = summary(run->output());
  ASSERT_TRUE(s.is_object()) << run->output();
  EXPECT_EQ(s["connected"], true) << s.dump();
  EXPECT_TRUE(s["terminated_error"].is_null()) << s.dump();
  EXPECT_EQ(s["video"]["format"], std::string(c.codec) == "hevc" ? 0x100 : 0x1) << s.dump();
  EXPECT_GE(s["frames_decoded"].get<int>(), 60) << s.dump();
  EXPECT_EQ(s["decode_errors"], 0) << s.dump();
  // A barcode block may blur in a low-bitrate frame; more than 1 % unreadable is a broken picture.
  EXPECT_GT(s["barcode"]["ok"].get<int>(), 0) << s.dump();
  EXPECT_LE(s["barcode"]["failed"].get<int>() * 100, s["barcode"]["ok"].get<int>()) << s.dump();
  EXPECT_EQ(s["host_latency_ms"]["unknown"], 0) << s.dump();
  EXPECT_GT(s["host_latency_ms"]["p50"].get<double>(), 0.0) << s.dump();
  std::printf(
      "[figures] %s %dx%d@60 %d kbit/s: first decoded frame %.0f ms after LiStartConnection "
      "(launch %.0f ms before), host processing latency p50 %.1f / p99 %.1f ms, decoded %.1f fps, "
      "%d frames lost, capture->decoded p50 %.1f ms\n",
      c.codec, c.width, c.height, c.bitrate_kbps, s["first_frame_ms"].get<double>(),
      s["launch_ms"].get<double>(), s["host_latency_ms"]["p50"].get<double>(),
      s["host_latency_ms"]["p99"].get<double>(), s["fps"].get<double>(),
      s["frames_lost"].get<int>(), s["barcode"]["capture_to_decoded_ms"]["p50"].get<double>());
}

INSTANTIATE_TEST_SUITE_P(Gamestream, GamestreamProbeStreams,
                         ::testing::Values(ProbeCase{"h264", 1280, 720, 10000},
                                           ProbeCase{"hevc", 1280, 720, 20000},
                                           ProbeCase{"h264", 1920, 1080, 20000},
                                           ProbeCase{"hevc", 1920, 1080, 10000}),
                         [](const ::testing::TestParamInfo<ProbeCase>& p) {
                           return std::string(p.param.codec) + "_" +
                                  std::to_string(p.param.height) + "p_" +
                                  std::to_string(p.param.bitrate_kbps / 1000) + "M";
                         });

// The client's frame rate drives capture and encode (funkhausd is configured for 60): a 30 fps
// stream comes at 30 fps, also after encode and capture are killed (funkhausd sends the rate
// again to their successors).
TEST_F(GamestreamProbeTest, AnnouncedFrameRateDrivesCaptureAndEncode) {
  ASSERT_NO_FATAL_FAILURE(startHost(1280, 720));
  auto run = probe({"--codec", "h264", "--width", "1280", "--height", "720", "--fps", "30",
                    "--bitrate", "8000", "--seconds", "10"});
  ASSERT_TRUE(run.ok()) << run.error().message;
  std::this_thread::sleep_for(4s);
  // funkhausctl status shows the stream: client, announced parameters, counters.
  const json status = funkhausd_->status();
  const json stream = status["sessions"][0]["gamestream"];
  EXPECT_EQ(stream["phase"], "playing") << status.dump();
  EXPECT_EQ(stream["fps"], 30) << status.dump();
  EXPECT_EQ(stream["codec"], "h264") << status.dump();
  EXPECT_EQ(stream["bitrate_kbps"], 8000) << status.dump();
  EXPECT_GT(stream["frames_sent"].get<int>(), 30) << status.dump();
  EXPECT_EQ(stream["client"].get<std::string>().size(), 64u) << status.dump();
  const Output text = funkhausctl(*funkhausd_, "status");
  EXPECT_NE(text.out.find("GameStream stream: playing to client "), std::string::npos) << text.out;
  for (const char* name : {"encode", "capture"}) {
    const json w = funkhausd_->worker(name);
    ASSERT_TRUE(w.is_object() && w["pid"].is_number()) << funkhausd_->status().dump();
    ASSERT_EQ(::kill(w["pid"].get<int>(), SIGKILL), 0) << name;
  }
  ASSERT_TRUE(run->wait(60s).has_value()) << run->output();
  const json s = summary(run->output());
  ASSERT_TRUE(s.is_object()) << run->output();
  EXPECT_EQ(s["connected"], true) << s.dump();
  EXPECT_TRUE(s["terminated_error"].is_null()) << s.dump();
  // 60 would mean the configured rate won; a kill costs a few frames, so not exactly 30.
  EXPECT_GT(s["fps"].get<double>(), 20.0) << s.dump();
  EXPECT_LT(s["fps"].get<double>(), 36.0) << s.dump();
  const std::string log = funkhausd_->log();
  EXPECT_NE(log.find("capturing at 30 fps"), std::string::npos) << log;
  EXPECT_NE(log.find("bit/s, 30 fps"), std::string::npos) << "encode reopened at 30 fps\n" << log;
  std::printf(
      "[figures] 30 fps announced (60 configured), encode and capture killed: decoded "
      "%.1f fps, %d frames\n",
      s["fps"].get<double>(), s["frames_decoded"].get<int>());
}

// kill -9 of encode, capture and net, 4 s apart, while the probe decodes: never a termination,
// a pause per kill (matched to the kill by time), frames again after each.
TEST_F(GamestreamProbeTest, EachWorkerKillCostsAPauseNotTheStream) {
  ASSERT_NO_FATAL_FAILURE(startHost(1280, 720));
  auto run = probe({"--seconds", "17"});
  ASSERT_TRUE(run.ok()) << run.error().message;
  std::this_thread::sleep_for(4s);
  std::vector<std::pair<std::string, double>> kills;  // worker, CLOCK_REALTIME ms
  for (const char* name : {"encode", "capture", "net"}) {
    const json w = funkhausd_->worker(name);
    ASSERT_TRUE(w.is_object() && w["pid"].is_number()) << funkhausd_->status().dump();
    const double at = std::chrono::duration<double, std::milli>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    ASSERT_EQ(::kill(w["pid"].get<int>(), SIGKILL), 0) << name;
    kills.emplace_back(name, at);
    std::this_thread::sleep_for(4s);
  }
  ASSERT_TRUE(run->wait(60s).has_value()) << run->output();
  const json s = summary(run->output());
  ASSERT_TRUE(s.is_object()) << run->output();
  EXPECT_EQ(s["connected"], true) << s.dump();
  EXPECT_TRUE(s["terminated_error"].is_null()) << s.dump();
  EXPECT_EQ(s["exit_code"], 0) << s.dump();
  EXPECT_LE(s["barcode"]["failed"].get<int>() * 100, s["barcode"]["ok"].get<int>())
      << "at most 1 % unreadable barcodes (a block may blur in a frame)\n"
      << s.dump();
  for (const auto& [name, at] : kills) {
    double longest = 0;  // the longest gap between decoded frames that began near the kill
    for (const auto& p : s["pauses"])
      if (p["start_ms"].get<double>() >= at - 200 && p["start_ms"].get<double>() <= at + 1500)
        longest = std::max(longest, p["duration_ms"].get<double>());
    EXPECT_LT(longest, 3000) << name << ": " << s["pauses"].dump();
    std::printf("[figures] kill -9 %s: longest pause %.0f ms (0: under 100 ms)\n", name.c_str(),
                longest);
  }
  bool decoding_at_end = false;  // the last per-second line still shows decoded frames
  const std::string out = run->output();
  const size_t last = out.rfind("{\"t\":");
  if (last != std::string::npos) {
    const json line = json::parse(out.substr(last, out.find('\n', last) - last), nullptr, false);
    decoding_at_end = line.is_object() && line["fps"].get<double>() > 10;
  }
  EXPECT_TRUE(decoding_at_end) << out;
  std::printf("[figures] through 3 kills: %d frames decoded, %d lost, %d IDR, %.1f fps\n",
              s["frames_decoded"].get<int>(), s["frames_lost"].get<int>(),
              s["idr_frames"].get<int>(), s["fps"].get<double>());
}

// 5 % of the video datagrams dropped at random by a proxy between the probe and the host:
// Reed-Solomon FEC (20 % parity per block) recovers them; the stream never needs much else.
TEST_F(GamestreamProbeTest, FecRecoversFivePercentLoss) {
  ASSERT_NO_FATAL_FAILURE(startHost(1280, 720));
  auto run = probe({"--seconds", "8", "--proxy-address", "127.0.0.2", "--drop-video-percent", "5"});
  ASSERT_TRUE(run.ok()) << run.error().message;
  ASSERT_TRUE(run->wait(60s).has_value()) << run->output();
  const json s = summary(run->output());
  ASSERT_TRUE(s.is_object()) << run->output();
  EXPECT_EQ(s["connected"], true) << s.dump();
  EXPECT_TRUE(s["terminated_error"].is_null()) << s.dump();
  const json& fec = s["fec"];
  ASSERT_TRUE(fec.is_object()) << s.dump();
  const int dropped = s["proxy"]["video_dropped"].get<int>();
  EXPECT_GT(dropped, 0) << s.dump();
  // Every drop is attributed to a frame (the proxy read its frame index).
  EXPECT_EQ(fec["datagrams_dropped"].get<int>(), dropped) << s.dump();
  const int with_drops = fec["frames_with_drops"].get<int>();
  const int recovered = fec["frames_recovered"].get<int>();
  const int failed = fec["frames_failed"].get<int>();
  EXPECT_EQ(recovered + failed + fec["frames_pending"].get<int>(), with_drops) << s.dump();
  // Recovery happens, and fails only where a block lost more datagrams than it has parity: with
  // 20 % parity (at least 2 shards) and 5 % random loss about 1 % of the ~10-datagram frames
  // lose 3 or more, plus a frame after such a loss the library may discard waiting for an IDR.
  EXPECT_GT(recovered, 0) << s.dump();
  EXPECT_LE(failed * 10, with_drops) << s.dump();
  EXPECT_GE(s["frames_decoded"].get<int>(), 200) << s.dump();
  EXPECT_EQ(s["decode_errors"], 0) << s.dump();
  std::printf(
      "[figures] 5 %% video loss: %d of %d datagrams dropped; %d frames with drops: %d recovered, "
      "%d failed (%d after a missing frame), recovered by drops %s; %d frames decoded, %d lost, "
      "%d IDR; library counters recovered %d, failed %d\n",
      dropped, s["proxy"]["video_to_client"].get<int>(), with_drops, recovered, failed,
      fec["frames_failed_after_missing"].get<int>(), fec["recovered_by_dropped"].dump().c_str(),
      s["frames_decoded"].get<int>(), s["frames_lost"].get<int>(), s["idr_frames"].get<int>(),
      fec["recovered"].get<int>(), fec["failed"].get<int>());
}

}  // namespace
}  // namespace funkhaus
