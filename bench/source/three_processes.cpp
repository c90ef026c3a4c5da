// The three-process variant: the real funkhausd (user mode) spawning funkhaus-capture, -encode
// and -net from the build's bin directory; the sink plays the stream through RTSP over UDP.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "funkhaus/bench/rtsp_viewer.h"
#include "funkhaus/bench/variant.h"
#include "funkhaus/common/child_process.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/supervisor/latency_split.h"

namespace funkhaus::bench {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kStartTimeoutMs = 30'000;  // funkhausd up and every worker running
constexpr int kRtspTimeoutMs = 10'000;
constexpr int kControlTimeoutMs = 3'000;
constexpr int kStopTimeoutMs = 10'000;

double number(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string text(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "?";
}

uint64_t counter(const json& worker, const char* key) {
  const auto c = worker.find("counters");
  if (c == worker.end() || !c->is_object()) return 0;
  const auto it = c->find(key);
  return it != c->end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string tail(const fs::path& file, size_t bytes) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return text.size() > bytes ? "..." + text.substr(text.size() - bytes) : text;
}

class ThreeProcessVariant : public Variant {
 public:
  ThreeProcessVariant(const BenchSettings& settings, fs::path bin_dir, fs::path work_root)
      : settings_(settings), bin_dir_(std::move(bin_dir)), work_root_(std::move(work_root)) {}
  ~ThreeProcessVariant() override { (void)stop(); }

  const char* name() const override { return "three processes (funkhausd)"; }

  Result<void> start(RtpSink& sink) override {
    static int counter = 0;
    dir_ = work_root_ / ("pipeline-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (!fs::create_directories(dir_, ec) || ec)
      return makeError("cannot create {}: {}", dir_.string(), ec.message());
    socket_ = (dir_ / "control.sock").string();
    if (socket_.size() >= sizeof(sockaddr_un::sun_path))
      return makeError("control socket path {} is longer than a unix socket path may be", socket_);
    for (char c : socket_)
      if (c == '\'' || static_cast<unsigned char>(c) < 0x20)
        return makeError("the work directory {} holds a quote or control character", dir_.string());
    const fs::path config = dir_ / "funkhaus.toml";
    std::ofstream file(config);
    file << hostConfigToml(settings_, socket_);
    file.close();
    if (!file) return makeError("cannot write {}", config.string());
    const fs::path funkhausd = bin_dir_ / "funkhausd";
    for (const char* w : {"funkhausd", "funkhaus-capture", "funkhaus-encode", "funkhaus-net"})
      if (access((bin_dir_ / w).c_str(), X_OK) != 0)
        return makeError("{} is missing or not executable: build it first",
                         (bin_dir_ / w).string());

    log_ = dir_ / "funkhausd.log";
    std::vector<std::string> args = {funkhausd.string(), "--mode",        "user",
                                     "--config",         config.string(), "--worker-dir",
                                     bin_dir_.string()};
    UniqueFd out(open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out.valid()) return makeError("{}: {}", log_.string(), std::strerror(errno));
    ChildSpec spec;
    spec.program = args.front();
    spec.args.assign(args.begin() + 1, args.end());
    spec.stdout_fd = out.get();    // and stderr
    spec.drop_privileges = false;  // the bench's own user: funkhausd decides what its workers get
    // In the bench's process group, as before: a terminal's Ctrl-C stops both. A bench that dies
    // takes funkhausd (and through it the workers) along: the death signal.
    spec.own_process_group = false;
    auto process = ChildProcess::spawn(spec);
    if (!process) return makeError("starting funkhausd: {}", process.error().message);
    process_.emplace(std::move(*process));

    // Every worker running.
    const uint64_t deadline = monotonicNs() + uint64_t{kStartTimeoutMs} * 1'000'000;
    json status;
    for (;;) {
      if (auto exited = process_->poll())
        return makeError("funkhausd exited at start ({}):\n{}", describeExit(*exited),
                         tail(log_, 3000));
      auto s = call(R"({"cmd":"status"})");
      if (s && allRunning(*s)) {
        status = std::move(*s);
        break;
      }
      if (monotonicNs() > deadline)
        return makeError("funkhausd's workers were not all running after {} s:\n{}",
                         kStartTimeoutMs / 1000, tail(log_, 3000));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    worker_pids_.clear();
    for (const json& w : workers(status)) {
      const auto pid = w.find("pid");
      if (pid != w.end() && pid->is_number_integer())
        worker_pids_.emplace_back(text(w, "name"), static_cast<pid_t>(pid->get<int64_t>()));
    }
    const auto net = status.find("net");
    if (net == status.end() || !net->is_object() || !(*net)["rtsp_port"].is_number_unsigned() ||
        !(*net)["path"].is_string())
      return makeError("funkhausd's status has no net.rtsp_port / net.path: {}", status.dump());
    const auto port = (*net)["rtsp_port"].get<uint64_t>();
    if (port == 0 || port > 65535) return makeError("funkhausd reports RTSP port {}", port);
    auto viewer = RtspViewer::play(static_cast<uint16_t>(port), (*net)["path"].get<std::string>(),
                                   sink, kRtspTimeoutMs);
    if (!viewer)
      return makeError("viewer: {}\nfunkhausd log:\n{}", viewer.error().message, tail(log_, 3000));
    viewer_.emplace(std::move(*viewer));
    return {};
  }

  Result<std::vector<StageFigure>> stages() override {
    auto s = call(R"({"cmd":"status"})");
    if (!s) return s.error();
    last_status_ = *s;
    std::vector<StageFigure> out;
    for (const json& w : workers(*s)) {
      StageFigure f;
      f.name = text(w, "name");
      f.fps = number(w, "fps");
      f.p50_ms = number(w, "latency_p50_ms");
      f.p99_ms = number(w, "latency_p99_ms");
      f.stage_p50_ms = number(w, "stage_p50_ms");
      f.stage_p99_ms = number(w, "stage_p99_ms");
      out.push_back(f);
    }
    return out;
  }

  std::vector<ProcessCpu> cpu() const override {
    std::vector<ProcessCpu> out = {
        {"funkhausd", running() ? processCpuNs(process_->pid()) : std::nullopt}};
    for (const auto& [name, pid] : worker_pids_) out.push_back({name, processCpuNs(pid)});
    out.push_back({"bench (sink)", processCpuNs(0)});
    return out;
  }

  Result<void> keepAlive() override {
    if (!viewer_) return makeError("no viewer");
    return viewer_->keepAlive();
  }

  Result<void> stop() override {
    Result<void> result;
    if (viewer_) {
      if (running()) {
        // The last status before the end: counters of the run.
        if (auto s = call(R"({"cmd":"status"})"); s) last_status_ = *s;
        if (auto t = viewer_->teardown(); !t) result = t.error();
      }
      viewer_.reset();
    }
    if (running()) {
      process_->signal(SIGTERM);
      const auto exited = process_->wait(std::chrono::milliseconds(kStopTimeoutMs));
      if (!exited) {
        process_->stop(std::chrono::milliseconds(0));
        result = makeError("funkhausd did not stop within {} s of SIGTERM: killed",
                           kStopTimeoutMs / 1000);
      } else if (result.ok() && *exited != ExitStatus{false, 0}) {
        result = makeError("funkhausd exited ({}):\n{}", describeExit(*exited), tail(log_, 3000));
      }
    }
    process_.reset();
    if (!dir_.empty()) {
      // funkhausd waits for every worker before it exits: nothing of this run is left.
      if (result.ok()) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
      }
      dir_.clear();
    }
    return result;
  }

  std::vector<std::string> notes(const RtpSink&, uint64_t, uint64_t) const override {
    std::vector<std::string> out;
    for (const json& w : workers(last_status_)) {
      std::ostringstream line;
      const auto restarts = w.find("restarts");
      line << text(w, "name") << ": frames in " << counter(w, "frames_in") << ", out "
           << counter(w, "frames_out") << ", drops " << counter(w, "drops") << ", errors "
           << counter(w, "errors") << ", restarts "
           << (restarts != w.end() && restarts->is_number_integer() ? restarts->get<int64_t>()
                                                                    : -1);
      out.push_back(line.str());
    }
    // The screen-to-wire split as funkhausctl status prints it (each stage's own time, total).
    const auto sessions = last_status_.find("sessions");
    if (sessions != last_status_.end() && sessions->is_array() && !sessions->empty() &&
        (*sessions)[0].is_object())
      for (std::string& line :
           supervisor::latencySplitLines((*sessions)[0].value("latency", json())))
        out.push_back(std::move(line));
    return out;
  }

 private:
  static std::vector<json> workers(const json& status) {
    std::vector<json> out;
    if (!status.is_object()) return out;
    const auto sessions = status.find("sessions");
    if (sessions == status.end() || !sessions->is_array() || sessions->empty()) return out;
    const json& session = (*sessions)[0];
    const auto ws = session.is_object() ? session.find("workers") : session.end();
    if (!session.is_object() || ws == session.end() || !ws->is_array()) return out;
    for (const json& w : *ws)
      if (w.is_object()) out.push_back(w);
    return out;
  }

  static bool allRunning(const json& status) {
    const auto ws = workers(status);
    if (ws.size() < 3) return false;
    for (const json& w : ws)
      if (text(w, "state") != "running") return false;
    return true;
  }

  // One control request, one JSON line back.
  Result<json> call(const std::string& request) const {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_.c_str(), socket_.size() + 1);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return makeError("control socket {}: {}", socket_, std::strerror(errno));
    const std::string line = request + "\n";
    if (send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
      return makeError("control socket: send: {}", std::strerror(errno));
    std::string reply;
    char buf[4096];
    const uint64_t deadline = monotonicNs() + uint64_t{kControlTimeoutMs} * 1'000'000;
    for (;;) {
      const uint64_t now = monotonicNs();
      if (now > deadline)
        return makeError("control socket: no reply within {} ms", kControlTimeoutMs);
      pollfd p{fd.get(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000) + 1) <= 0) continue;
      const ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return makeError("control socket: recv: {}", std::strerror(errno));
      if (n == 0) break;
      reply.append(buf, static_cast<size_t>(n));
      if (reply.size() > (1u << 20)) return makeError("control socket: reply larger than 1 MiB");
    }
    json j = json::parse(reply, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return makeError("control socket: reply is not JSON");
    return j;
  }

  BenchSettings settings_;
  fs::path bin_dir_, work_root_, dir_, log_;
  std::string socket_;
  bool running() const { return process_ && process_->running(); }

  std::optional<ChildProcess> process_;  // funkhausd
  std::vector<std::pair<std::string, pid_t>> worker_pids_;
  std::optional<RtspViewer> viewer_;
  json last_status_;
};

}  // namespace

std::unique_ptr<Variant> makeThreeProcessVariant(const BenchSettings& settings,
                                                 std::filesystem::path bin_dir,
                                                 std::filesystem::path work_root) {
  return std::make_unique<ThreeProcessVariant>(settings, std::move(bin_dir), std::move(work_root));
}

}  // namespace funkhaus::bench
