// Input end to end over XTEST (label client): a real funkhausd (user mode) with the virtual
// monitor (vdisplay: a real Xvfb) and the workers vdisplay, capture, encode, net and input; our
// own GameStream client (tests/client/gamestream_probe on moonlight-common-c, paired through
// Moonlight Embedded) streams and performs an input script with LiSend*; funkhaus_x_recorder, an
// X client on the monitor's display with the focus, records what arrives. Keys (shifted too),
// Unicode text, relative and absolute pointer motion, buttons 1-3 and the four wheel directions
// arrive as sent; a held key is released when funkhaus-input is killed with SIGKILL, its
// successor types on, and the stream goes on. Prints the input latency (LiSend* call -> X event,
// both on CLOCK_MONOTONIC of this machine) as [figures], never asserting on time.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../../supervisor/test/funkhausd_process.h"
#include "funkhaus/abi/input_ring.h"
#include "funkhaus/common/child_process.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/percentile.h"
#include "funkhaus/test/fake_supervisor.h"
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

// The virtual monitor's mode; the probe asks for the same, so the monitor keeps it.
constexpr int kWidth = 640, kHeight = 480;

// X keysyms the checks name.
constexpr uint32_t kShiftL = 0xFFE1;
bool isModifier(uint32_t keysym) { return keysym >= 0xFFE1 && keysym <= 0xFFEE; }

// The JSON lines of a file (other lines, e.g. log lines, skipped).
std::vector<json> jsonLines(const fs::path& file) {
  std::vector<json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '{') continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

std::vector<json> ofType(const std::vector<json>& lines, const std::string& type) {
  std::vector<json> out;
  for (const json& j : lines)
    if (j.value("type", "") == type) out.push_back(j);
  return out;
}

// funkhaus_x_recorder on a display: its output goes to a file, commands to its stdin.
class XRecorder {
 public:
  Result<void> start(const std::string& display, const std::string& xauthority,
                     const fs::path& log) {
    log_ = log;
    UniqueFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    int pipe_fds[2];
    if (!out.valid() || pipe2(pipe_fds, O_CLOEXEC) != 0)
      return makeError("recorder: cannot make its log or pipe");
    UniqueFd read_end(pipe_fds[0]);
    commands_.reset(pipe_fds[1]);
    ChildSpec spec;
    spec.program = FUNKHAUS_X_RECORDER;
    spec.environment = test::environmentWith({"DISPLAY=" + display, "XAUTHORITY=" + xauthority});
    spec.stdin_fd = read_end.get();
    spec.stdout_fd = out.get();
    auto process = ChildProcess::spawn(spec);
    if (!process) return process.error();
    process_.emplace(std::move(*process));
    if (!Funkhausd::waitFor(10s, [&] { return !ofType(lines(), "ready").empty(); }))
      return makeError("recorder: not ready after 10 s: {}", text());
    return {};
  }
  ~XRecorder() {
    if (process_) {
      command("quit");
      process_->stop(2s);
    }
  }

  std::vector<json> lines() const { return jsonLines(log_); }
  std::string text() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  json ready() const {
    const auto r = ofType(lines(), "ready");
    return r.empty() ? json() : r.front();
  }
  bool running() { return process_ && !process_->poll().has_value(); }

  // Asks for "keymap" or "pointer" and returns the answer (null after 5 s).
  json ask(const std::string& what) {
    const size_t before = ofType(lines(), what).size();
    command(what);
    json answer;
    Funkhausd::waitFor(5s, [&] {
      const auto a = ofType(lines(), what);
      if (a.size() <= before) return false;
      answer = a.back();
      return true;
    });
    return answer;
  }

 private:
  void command(const std::string& c) {
    const std::string line = c + "\n";
    if (commands_.valid() && ::write(commands_.get(), line.data(), line.size()) < 0)
      commands_.reset();
  }

  fs::path log_;
  UniqueFd commands_;
  std::optional<ChildProcess> process_;
};

class InputClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v Xvfb > /dev/null") != 0)
      GTEST_SKIP() << "Xvfb is needed for the virtual monitor: scripts/install-deps.sh installs it";
    auto moonlight = test::findMoonlight();
    if (!moonlight) GTEST_SKIP() << moonlight.error().message;
    moonlight_ = *moonlight;
    auto probe = test::buildGamestreamProbe();
    if (!probe) GTEST_SKIP() << probe.error().message;
    probe_ = *probe;
    base_port_ = test::freeGamestreamBasePort();
    ASSERT_NE(base_port_, 0) << "no free port set on loopback";
    dir_ = fs::temp_directory_path() / ("funkhaus-input-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Funkhausd::state_home = dir_ / "state";
  }

  void TearDown() override {
    if (HasFailure()) {
      if (probe_run_) std::printf("probe output:\n%s\n", probe_run_->output().c_str());
      if (recorder_) std::printf("recorder output:\n%s\n", recorder_->text().c_str());
      if (funkhausd_) std::printf("funkhausd log:\n%s\n", funkhausd_->log().c_str());
    }
    if (probe_run_ && probe_run_->running()) probe_run_->process().stop(2s);
    probe_run_.reset();
    recorder_.reset();
    funkhausd_.reset();
    Funkhausd::state_home.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // funkhausd with the virtual monitor and funkhaus-input, Moonlight Embedded paired.
  void startHost() {
    const std::string config = test::gamestreamConfig(base_port_, "funkhaus-input-e2e") +
                               test::smallMonitorConfig(kWidth, kHeight);
    funkhausd_.emplace(config, false, "user", true,
                       std::vector<std::string>{"vdisplay", "capture", "encode", "net", "input"});
    ASSERT_TRUE(Funkhausd::waitFor(20s, [&] { return webRunning() && !monitor().is_null(); }))
        << funkhausd_->status().dump();
    for (const char* name : {"vdisplay", "capture", "encode", "net"})
      ASSERT_TRUE(
          Funkhausd::waitFor(20s, [&] { return funkhausd_->worker(name)["state"] == "running"; }))
          << name << ": " << funkhausd_->status().dump();
    ASSERT_NO_FATAL_FAILURE(inputOnMonitor());
    ASSERT_NO_FATAL_FAILURE(pair("8642"));
  }

  // funkhaus-input runs with the monitor's DISPLAY: funkhausd starts it once the driver
  // leased the monitor (it has no other sink on this kernel, which has no /dev/uinput).
  void inputOnMonitor() {
    const std::string display = monitor()["display"].get<std::string>();
    auto onMonitor = [&] {
      const json w = funkhausd_->worker("input");
      return w.is_object() && w["state"] == "running" && w["pid"].is_number() &&
             environOf(w["pid"].get<pid_t>(), "DISPLAY") == display;
    };
    ASSERT_TRUE(Funkhausd::waitFor(10s, onMonitor))
        << "funkhaus-input is not running on the virtual monitor " << display << ": "
        << funkhausd_->worker("input").dump() << "\n"
        << funkhausd_->log();
  }

  // One variable of a process's environment ("" when absent or unreadable).
  static std::string environOf(pid_t pid, const std::string& name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
    for (std::string entry; std::getline(in, entry, '\0');)
      if (entry.rfind(name + "=", 0) == 0) return entry.substr(name.size() + 1);
    return "";
  }

  bool webRunning() const {
    const json s = funkhausd_->status();
    if (!s.is_object() || !s.contains("host_workers")) return false;
    for (const auto& w : s["host_workers"])
      if (w["name"] == "web") return w["state"] == "running";
    return false;
  }

  json monitor() const {
    const json s = funkhausd_->status();
    if (!s.is_object() || !s.contains("sessions") || s["sessions"].empty()) return json();
    const json m = s["sessions"][0].value("monitors", json::array());
    return m.empty() ? json() : m[0];
  }

  json inputRing() const {
    const json s = funkhausd_->status();
    if (!s.is_object() || !s.contains("sessions") || s["sessions"].empty()) return json();
    return s["sessions"][0].value("rings", json::object()).value("input", json());
  }

  void pair(const std::string& pin) {
    test::pairMoonlight(moonlight_, dir_ / "client", base_port_, *funkhausd_, pin);
  }

  // The recorder on the monitor's display.
  void startRecorder() {
    const json m = monitor();
    ASSERT_TRUE(m.is_object() && m["display"].is_string()) << funkhausd_->status().dump();
    const std::string xauthority =
        m["xauthority"].is_string() ? m["xauthority"].get<std::string>() : std::string();
    recorder_.emplace();
    auto started =
        recorder_->start(m["display"].get<std::string>(), xauthority, dir_ / "recorder.log");
    ASSERT_TRUE(started) << started.error().message;
  }

  // The probe streaming 640x480@30 with `script`, which should begin with
  // `wait-file <ready_file()>`: the test makes that file once the recorder has the focus.
  void startProbe(const std::vector<std::string>& script, int seconds) {
    {
      std::ofstream out(dir_ / "input.script");
      for (const std::string& line : script) out << line << "\n";
    }
    auto run = test::MoonlightRun::start(
        probe_,
        {"--host", "127.0.0.1", "--http-port", std::to_string(base_port_), "--keydir",
         (dir_ / "client/keys").string(), "--width", std::to_string(kWidth), "--height",
         std::to_string(kHeight), "--fps", "30", "--bitrate", "2000", "--seconds",
         std::to_string(seconds), "--input-script", (dir_ / "input.script").string(), "--quit"},
        dir_ / "client");
    ASSERT_TRUE(run.ok()) << run.error().message;
    probe_run_.emplace(std::move(*run));
  }
  fs::path readyFile() const { return dir_ / "recorder.ready"; }

  std::vector<json> probeInput() const {
    std::vector<json> out;
    if (!probe_run_) return out;
    std::istringstream in(probe_run_->output());
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("{\"type\":\"input\"", 0) != 0) continue;
      json j = json::parse(line, nullptr, false);
      if (j.is_object()) out.push_back(std::move(j));
    }
    return out;
  }
  // The probe's line of `mark NAME`, waiting up to `timeout` for it.
  json waitMark(const std::string& name, std::chrono::milliseconds timeout) {
    json found;
    Funkhausd::waitFor(timeout, [&] {
      for (const json& j : probeInput())
        if (j["action"] == "mark" && j["name"] == name) {
          found = j;
          return true;
        }
      return !probe_run_->running();
    });
    return found;
  }
  // Ends the probe (SIGINT: it stops the stream, quits the app and prints its summary).
  json stopProbe() {
    probe_run_->process().signal(SIGINT);
    EXPECT_TRUE(probe_run_->wait(30s).has_value()) << "the probe did not end on SIGINT";
    const std::string out = probe_run_->output();
    const size_t at = out.rfind("{\"type\":\"summary\"");
    return at == std::string::npos ? json() : json::parse(out.substr(at), nullptr, false);
  }

  void checkStream(const json& summary) {
    ASSERT_TRUE(summary.is_object()) << probe_run_->output();
    EXPECT_EQ(summary["connected"], true) << summary.dump();
    EXPECT_TRUE(summary["terminated_error"].is_null()) << summary.dump();
    EXPECT_EQ(summary["exit_code"], 0) << summary.dump();
    EXPECT_EQ(summary["input"]["failed"], 0) << summary.dump();
  }

  std::string moonlight_;
  std::string probe_;
  uint16_t base_port_ = 0;
  fs::path dir_;
  std::optional<Funkhausd> funkhausd_;
  std::optional<test::MoonlightRun> probe_run_;
  std::optional<XRecorder> recorder_;
};

// `n` key presses of `vk` (down, 5 ms, up, 15 ms): the latency sample.
void appendPresses(std::vector<std::string>& script, const char* vk, int n) {
  for (int i = 0; i < n; ++i) {
    script.push_back(std::string("key ") + vk + " down");
    script.push_back("sleep 5");
    script.push_back(std::string("key ") + vk + " up");
    script.push_back("sleep 15");
  }
}

// Latencies in ms from each probe send of a key action to the recorder's matching event (the
// i-th with the i-th); the count of sends and of events.
struct Latency {
  std::vector<double> ms;
  size_t sent = 0, received = 0;
};
Latency keyLatency(const std::vector<json>& sent_lines, const std::vector<json>& recorded, int vk,
                   bool down, uint32_t code_point) {
  std::vector<int64_t> sent, got;
  for (const json& j : sent_lines)
    if (j["action"] == "key" && j["vk"] == vk && j["down"] == down)
      sent.push_back(j["sent_ns"].get<int64_t>());
  for (const json& r : recorded)
    if (r["type"] == (down ? "key_press" : "key_release") && r["code_point"] == code_point)
      got.push_back(r["t_ns"].get<int64_t>());
  Latency l{{}, sent.size(), got.size()};
  for (size_t i = 0; i < std::min(sent.size(), got.size()); ++i)
    l.ms.push_back(static_cast<double>(got[i] - sent[i]) / 1e6);
  return l;
}

TEST_F(InputClientTest, KeysTextPointerButtonsAndWheelsArriveAsSent) {
  ASSERT_NO_FATAL_FAILURE(startHost());
  std::vector<std::string> script = {
      "wait-file " + readyFile().string(),
      "mark start",
      // Absolute (scaled from the reference size to the monitor's mode), relative, absolute.
      "position 200 150 800 600",
      "sleep 100",
      "move 10 -5",
      "sleep 100",
      "move -30 20",
      "sleep 100",
      "position 100 50 1000 1000",
      "sleep 100",
      // a, Shift+a, Shift+1, space.
      "key 0x41 down",
      "key 0x41 up",
      "sleep 20",
      "key 0xA0 down shift",
      "key 0x41 down shift",
      "key 0x41 up shift",
      "key 0xA0 up",
      "sleep 20",
      "key 0xA0 down shift",
      "key 0x31 down shift",
      "key 0x31 up shift",
      "key 0xA0 up",
      "sleep 20",
      "key 0x20 down",
      "key 0x20 up",
      "sleep 20",
      // Unicode text: one packet per code point.
      "text ä€",
      "sleep 200",
      // Buttons left, middle, right; wheel up, down, left, right (X buttons 4, 5, 6, 7).
      "button 1 down",
      "button 1 up",
      "button 2 down",
      "button 2 up",
      "button 3 down",
      "button 3 up",
      "sleep 20",
      "scroll 120",
      "sleep 20",
      "scroll -120",
      "sleep 20",
      "hscroll -120",
      "sleep 20",
      "hscroll 120",
      "sleep 300",
      "mark latency",
  };
  appendPresses(script, "0x4B", 100);  // 'k'
  script.push_back("sleep 500");
  script.push_back("mark end");
  ASSERT_NO_FATAL_FAILURE(startProbe(script, 60));
  ASSERT_NO_FATAL_FAILURE(startRecorder());
  std::ofstream(readyFile()) << "";
  const json end = waitMark("end", 60s);
  ASSERT_TRUE(end.is_object()) << "the script never ended";
  const json keymap = recorder_->ask("keymap");
  const json summary = stopProbe();
  ASSERT_NO_FATAL_FAILURE(checkStream(summary));
  EXPECT_EQ(summary["input"]["performed"], summary["input"]["actions"]) << summary.dump();

  const std::vector<json> recorded = recorder_->lines();
  const std::vector<json> sent = probeInput();
  for (const json& j : sent) EXPECT_EQ(j["rc"], 0) << "LiSend* refused " << j.dump();

  // Pointer: each expected position is reached, in order (scaled to the monitor's mode).
  const json m = monitor();
  const int w = m["width"].get<int>(), h = m["height"].get<int>();
  const int x1 = 200 * w / 800, y1 = 150 * h / 600;
  const std::vector<std::pair<int, int>> positions = {
      {x1, y1}, {x1 + 10, y1 - 5}, {x1 - 20, y1 + 15}, {100 * w / 1000, 50 * h / 1000}};
  const auto motions = ofType(recorded, "motion");
  size_t at = 0;
  for (const auto& [x, y] : positions) {
    while (at < motions.size() && !(motions[at]["root_x"] == x && motions[at]["root_y"] == y)) ++at;
    EXPECT_LT(at, motions.size()) << "the pointer never reached (" << x << ", " << y
                                  << ") in order; motion: " << json(motions).dump();
  }

  // Keys: what a client types (modifiers left out), Shift seen in the state of the shifted ones.
  std::vector<uint32_t> typed;
  std::vector<uint32_t> shifted;
  int shift_presses = 0;
  for (const json& k : ofType(recorded, "key_press")) {
    const auto ks = k["keysym"].get<uint32_t>();
    if (ks == kShiftL) ++shift_presses;
    if (isModifier(ks) || ks == 0x6B) continue;  // 'k': the latency sample
    typed.push_back(k["code_point"].is_number() ? k["code_point"].get<uint32_t>() : ks);
    if ((k["state"].get<int>() & 1) != 0) shifted.push_back(typed.back());
  }
  EXPECT_EQ(typed, (std::vector<uint32_t>{'a', 'A', '!', ' ', 0xE4, 0x20AC}))
      << json(ofType(recorded, "key_press")).dump();
  EXPECT_EQ(shifted, (std::vector<uint32_t>{'A', '!'}));
  EXPECT_EQ(shift_presses, 2);
  // Every key that went down came up again, and nothing is down now.
  EXPECT_EQ(ofType(recorded, "key_press").size(), ofType(recorded, "key_release").size());
  ASSERT_TRUE(keymap.is_object()) << "the recorder did not answer";
  EXPECT_TRUE(keymap["down"].empty()) << keymap.dump();

  // Buttons, pressed and released in order.
  std::vector<int> pressed, released;
  for (const json& b : ofType(recorded, "button_press")) pressed.push_back(b["button"].get<int>());
  for (const json& b : ofType(recorded, "button_release"))
    released.push_back(b["button"].get<int>());
  EXPECT_EQ(pressed, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(released, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(ofType(recorded, "focus_out").empty()) << "something took the focus";

  // The input ring: nothing rejected or lost.
  const json ring = inputRing();
  ASSERT_TRUE(ring.is_object()) << funkhausd_->status().dump();
  EXPECT_EQ(ring["rejected"], 0) << ring.dump();
  EXPECT_EQ(ring["overrun"], 0) << ring.dump();
  EXPECT_EQ(ring["consumed"], ring["events"]) << ring.dump();

  // The latency: 100 presses and releases of 'k'.
  Latency down = keyLatency(sent, recorded, 0x4B, true, 'k');
  Latency up = keyLatency(sent, recorded, 0x4B, false, 'k');
  EXPECT_EQ(down.sent, 100u);
  EXPECT_EQ(down.received, down.sent) << "key presses lost";
  EXPECT_EQ(up.received, up.sent) << "key releases lost";
  std::vector<double> all = down.ms;
  all.insert(all.end(), up.ms.begin(), up.ms.end());
  std::printf(
      "[figures] input latency LiSendKeyboardEvent -> X KeyPress (XTEST on the virtual monitor), "
      "%zu presses: p50 %.2f ms, p99 %.2f ms; with the releases (%zu events): p50 %.2f ms, p99 "
      "%.2f ms\n",
      down.ms.size(), percentile(std::span<double>(down.ms), 0.5),
      percentile(std::span<double>(down.ms), 0.99), all.size(),
      percentile(std::span<double>(all), 0.5), percentile(std::span<double>(all), 0.99));
  std::printf("[figures] input ring after the script: %s; root %dx%d, monitor mode %dx%d\n",
              ring.dump().c_str(), recorder_->ready()["width"].get<int>(),
              recorder_->ready()["height"].get<int>(), w, h);
}

TEST_F(InputClientTest, KilledInputWorkerReleasesTheHeldKeyAndItsSuccessorTypesOn) {
  ASSERT_NO_FATAL_FAILURE(startHost());
  const fs::path killed = dir_ / "killed";
  ASSERT_NO_FATAL_FAILURE(
      startProbe({"wait-file " + readyFile().string(), "key 0x42 down", "sleep 300", "mark held",
                  "wait-file " + killed.string(), "key 0x42 up", "sleep 20", "key 0x43 down",
                  "key 0x43 up", "sleep 20", "text x", "sleep 1500", "mark end"},
                 60));
  ASSERT_NO_FATAL_FAILURE(startRecorder());
  std::ofstream(readyFile()) << "";
  ASSERT_TRUE(waitMark("held", 30s).is_object()) << "the script never held its key";

  // 'b' is down on the server.
  const json held = recorder_->ask("keymap");
  ASSERT_TRUE(held.is_object()) << "the recorder did not answer";
  bool b_down = false;
  for (const auto& ks : held["keysyms"]) b_down |= ks == 0x62;  // b
  ASSERT_TRUE(b_down) << "the held key is not down: " << held.dump();

  const json before = funkhausd_->worker("input");
  ASSERT_TRUE(before.is_object() && before["pid"].is_number()) << funkhausd_->status().dump();
  const uint64_t t0 = monotonicNs();
  ASSERT_EQ(::kill(before["pid"].get<pid_t>(), SIGKILL), 0);
  ASSERT_TRUE(Funkhausd::waitFor(15s, [&] {
    const json w = funkhausd_->worker("input");
    return w.is_object() && w["state"] == "running" && w["pid"] != before["pid"];
  })) << funkhausd_->status().dump();
  const double successor_ms = static_cast<double>(monotonicNs() - t0) / 1e6;
  json keymap;
  const bool released = Funkhausd::waitFor(10s, [&] {
    keymap = recorder_->ask("keymap");
    return keymap.is_object() && keymap["down"].empty();
  });
  const double released_ms = static_cast<double>(monotonicNs() - t0) / 1e6;
  EXPECT_TRUE(released) << "keys still down after the successor started: " << keymap.dump();
  bool released_by_event = false;  // the recorder saw the release of 'b'
  for (const json& r : ofType(recorder_->lines(), "key_release"))
    released_by_event |= r["code_point"] == 0x62;  // b
  EXPECT_TRUE(released_by_event) << "no KeyRelease of the held key reached the focus window";

  // The client goes on: its release (nothing to do now), then 'c' and 'x' arrive.
  std::ofstream(killed) << "";
  ASSERT_TRUE(waitMark("end", 30s).is_object()) << "the script never ended";
  std::vector<uint32_t> typed;
  for (const json& k : ofType(recorder_->lines(), "key_press"))
    if (!isModifier(k["keysym"].get<uint32_t>()) && k["code_point"].is_number())
      typed.push_back(k["code_point"].get<uint32_t>());
  EXPECT_EQ(typed, (std::vector<uint32_t>{'b', 'c', 'x'}));
  const json after = recorder_->ask("keymap");
  EXPECT_TRUE(after.is_object() && after["down"].empty()) << after.dump();

  const json summary = stopProbe();
  ASSERT_NO_FATAL_FAILURE(checkStream(summary));
  EXPECT_EQ(summary["input"]["performed"], summary["input"]["actions"]) << summary.dump();
  double longest_pause = 0;  // between decoded frames, over 100 ms (0: none)
  for (const auto& p : summary["pauses"])
    longest_pause = std::max(longest_pause, p["duration_ms"].get<double>());
  std::printf(
      "[figures] kill -9 funkhaus-input with a key held: successor running after %.0f ms, the "
      "key up (QueryKeymap) after %.0f ms; the stream went on: %d frames decoded at %.1f fps, "
      "longest pause %.0f ms (0: under 100 ms); input ring %s\n",
      successor_ms, released_ms, summary["frames_decoded"].get<int>(), summary["fps"].get<double>(),
      longest_pause, inputRing().dump().c_str());
}

// Rumble a game plays on a pad reaches the client: funkhaus-input writes it into the input
// ring (here the test does, as the uinput sink's callback would: this kernel has no uinput, the
// VM tests cover the sink), net sends control message 0x010B, the client's rumble callback
// reports the motors.
TEST_F(InputClientTest, RumbleInTheInputRingReachesTheClient) {
  ASSERT_NO_FATAL_FAILURE(startHost());
  ASSERT_NO_FATAL_FAILURE(startProbe({"wait-file " + readyFile().string(), "mark go"}, 8));
  std::ofstream(readyFile()) << "";
  ASSERT_TRUE(waitMark("go", 30s).is_object()) << "the stream did not start";
  // The input ring: funkhausd's memfd named funkhaus-input.
  UniqueFd ring;
  for (const auto& entry :
       fs::directory_iterator("/proc/" + std::to_string(funkhausd_->pid()) + "/fd")) {
    std::error_code ec;
    if (fs::read_symlink(entry.path(), ec).string().find("memfd:funkhaus-input") ==
        std::string::npos)
      continue;
    ring.reset(::open(entry.path().c_str(), O_RDWR | O_CLOEXEC));
    break;
  }
  ASSERT_TRUE(ring.valid()) << "no input ring among funkhausd's fds";
  const size_t size = sizeof(abi::InputRingHeader);
  void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, ring.get(), 0);
  ASSERT_NE(mapped, MAP_FAILED);
  auto& header = *static_cast<abi::InputRingHeader*>(mapped);
  ASSERT_EQ(header.magic, abi::kInputRingMagic);
  // Pad 2: strong 0x4000, weak 0x8000, as InputConsumer::setRumble() publishes one word.
  abi::InputRumble r;
  std::memcpy(&r, &header.rumble[2], sizeof r);
  r.generation += 1;
  r.low_frequency = 0x4000;
  r.high_frequency = 0x8000;
  uint64_t word;
  std::memcpy(&word, &r, sizeof word);
  // The pad's word, as the ring library addresses it (8-aligned: asserted by the ABI).
  auto* words = static_cast<uint64_t*>(mapped);
  std::atomic_ref<uint64_t>(words[offsetof(abi::InputRingHeader, rumble) / 8 + 2])
      .store(word, std::memory_order_release);
  munmap(mapped, size);
  json got;
  ASSERT_TRUE(Funkhausd::waitFor(5s, [&] {
    std::istringstream in(probe_run_->output());
    for (std::string line; std::getline(in, line);)
      if (line.rfind("{", 0) == 0 && line.find("\"rumble\"") != std::string::npos)
        got = json::parse(line, nullptr, false);
    return got.is_object();
  })) << probe_run_->output();
  EXPECT_EQ(got["controller"], 2) << got.dump();
  EXPECT_EQ(got["low"], 0x4000) << got.dump();
  EXPECT_EQ(got["high"], 0x8000) << got.dump();
}

}  // namespace
}  // namespace funkhaus
