// The three-process variant: the real funkhausd (user mode) spawning funkhaus-capture, -encode
// and -net from the build's bin directory; the sink plays the stream through RTSP over UDP.
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "funkhaus/bench/funkhausd_host.h"
#include "funkhaus/bench/rtsp_viewer.h"
#include "funkhaus/bench/variant.h"
#include "funkhaus/supervisor/latency_split.h"

namespace funkhaus::bench {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kRtspTimeoutMs = 10'000;

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

class ThreeProcessVariant : public Variant {
 public:
  ThreeProcessVariant(const BenchSettings& settings, fs::path bin_dir, fs::path work_root)
      : settings_(settings), bin_dir_(std::move(bin_dir)), work_root_(std::move(work_root)) {}
  ~ThreeProcessVariant() override { (void)stop(); }

  const char* name() const override { return "three processes (funkhausd)"; }

  Result<void> start(RtpSink& sink) override {
    FunkhausdLaunch launch;
    launch.bin_dir = bin_dir_;
    launch.work_root = work_root_;
    launch.dir_name = "pipeline";
    launch.config = [this](const std::string& socket) { return hostConfigToml(settings_, socket); };
    auto host = FunkhausdHost::start(launch);
    if (!host) return host.error();
    host_ = std::move(*host);
    if (settings_.stats_capture) {
      auto armed = host_->call(R"({"cmd":"stats-start","name":"pipeline-bench"})");
      if (!armed || !armed->is_object() || armed->value("ok", false) != true)
        return makeError("stats-start: {}", armed ? armed->dump() : armed.error().message);
      stats_id_ = text(*armed, "id");
    }
    auto viewer = RtspViewer::play(host_->rtspPort(), host_->rtspPath(), sink, kRtspTimeoutMs);
    if (!viewer)
      return makeError("viewer: {}\nfunkhausd log:\n{}", viewer.error().message, host_->logTail());
    viewer_.emplace(std::move(*viewer));
    return {};
  }

  Result<std::vector<StageFigure>> stages() override {
    if (!host_) return makeError("funkhausd is not running");
    auto s = host_->call(R"({"cmd":"status"})");
    if (!s) return s.error();
    last_status_ = *s;
    std::vector<StageFigure> out;
    for (const json& w : FunkhausdHost::sessionWorkers(*s)) {
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
        {"funkhausd", running() ? processCpuNs(host_->pid()) : std::nullopt}};
    if (host_)
      for (const FunkhausdHost::Worker& w : host_->workers())
        out.push_back({w.name, processCpuNs(w.pid)});
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
        if (auto s = host_->call(R"({"cmd":"status"})"); s) last_status_ = *s;
        stopStats();
        if (auto t = viewer_->teardown(); !t) result = t.error();
      }
      viewer_.reset();
    }
    if (host_) {
      // After a failed teardown funkhausd's log and config stay for a look.
      if (auto stopped = host_->stop(/*keep_files=*/!result.ok()); !stopped && result.ok())
        result = stopped.error();
      host_.reset();
    }
    return result;
  }

  // The armed capture: stopped, its sample count noted, removed (it lives in the user's state
  // directory).
  void stopStats() {
    if (stats_id_.empty()) return;
    if (auto stopped = host_->call(R"({"cmd":"stats-stop"})"); stopped && stopped->is_object())
      stats_note_ = "stats capture " + stats_id_ +
                    " was armed: " + std::to_string(stopped->value("samples", 0)) +
                    " samples (removed)";
    (void)host_->call(json({{"cmd", "stats-rm"}, {"id", stats_id_}}).dump());
    stats_id_.clear();
  }

  std::vector<std::string> notes(const RtpSink&, uint64_t, uint64_t) const override {
    std::vector<std::string> out;
    if (!stats_note_.empty()) out.push_back(stats_note_);
    for (const json& w : FunkhausdHost::sessionWorkers(last_status_)) {
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
  bool running() const { return host_ && host_->running(); }

  BenchSettings settings_;
  fs::path bin_dir_, work_root_;
  std::unique_ptr<FunkhausdHost> host_;
  std::string stats_id_, stats_note_;
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
