// The stats recorder: sampling the status JSON at 1 s boundaries, captures as JSON files.
#include "funkhaus/supervisor/stats_recorder.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace funkhaus::supervisor {

namespace {

constexpr double kNull = std::numeric_limits<double>::quiet_NaN();
// A capture file larger than this is no capture of ours (3 h of every series is a few MB).
constexpr off_t kMaxCaptureFile = 256 << 20;

std::optional<double> number(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

std::optional<uint64_t> counter(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

// The growth of a counter since the previous sample: none without one, or when it went back
// (the worker restarted and its page counts from zero).
std::optional<double> growth(std::optional<uint64_t> before, std::optional<uint64_t> now) {
  if (!before || !now || *now < *before) return std::nullopt;
  return static_cast<double>(*now - *before);
}

std::string errnoText() { return std::strerror(errno); }

bool writeAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// A regular file of the stats directory, read whole.
Result<std::string> readAt(int dir_fd, const std::string& file) {
  UniqueFd fd(openat(dir_fd, file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return makeError("{}: {}", file, errnoText());
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return makeError("{}: {}", file, errnoText());
  if (!S_ISREG(st.st_mode) || st.st_size > kMaxCaptureFile)
    return makeError("{}: not a capture file", file);
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return makeError("{}: {}", file, errnoText());
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return text;
}

// A capture file's JSON, checked to be a capture with this id.
Result<nlohmann::json> loadCapture(int dir_fd, const std::string& id) {
  auto text = readAt(dir_fd, id + ".json");
  if (!text) return text.error();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kStatsFormat ||
      j.value("id", "") != id || !j.contains("t") || !j["t"].is_array() || !j.contains("series") ||
      !j["series"].is_object() || !j.contains("started_unix_ms") ||
      !j["started_unix_ms"].is_number_integer())
    return makeError("{}.json is not a {} capture", id, kStatsFormat);
  return j;
}

double rounded(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace

std::string statsId(int64_t unix_ms, std::string_view name) {
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  std::string id = stamp;
  if (!name.empty()) {
    id += '-';
    for (const char c : name) id += validStatsId(std::string_view(&c, 1)) && c != '.' ? c : '-';
  }
  return id.substr(0, 64);
}

nlohmann::json statsSlice(const nlohmann::json& capture, size_t from, size_t count) {
  nlohmann::json out = capture;
  auto cut = [&](nlohmann::json& a) {
    if (!a.is_array()) return;
    const size_t begin = std::min(from, a.size());
    const size_t end = count == 0 ? a.size() : std::min(a.size(), begin + count);
    a = nlohmann::json(std::vector<nlohmann::json>(a.begin() + static_cast<long>(begin),
                                                   a.begin() + static_cast<long>(end)));
  };
  out["samples"] = capture.contains("t") && capture["t"].is_array() ? capture["t"].size() : 0;
  out["from"] = from;
  if (out.contains("t")) cut(out["t"]);
  if (out.contains("series") && out["series"].is_object())
    for (auto& [name, values] : out["series"].items()) cut(values);
  return out;
}

std::optional<ProcessUsage> readProcessUsage(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return std::nullopt;
  const size_t close = line.rfind(')');  // the command may hold spaces and parentheses
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // After the command: state (field 3) ... utime (14), stime (15).
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (!fields) return std::nullopt;
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return std::nullopt;
  ProcessUsage usage;
  usage.cpu_seconds =
      static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  usage.rss_bytes = static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
  return usage;
}

StatsRecorder::StatsRecorder(StatsRecorderOptions options) : options_(std::move(options)) {
  if (!options_.unix_ms)
    options_.unix_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  if (!options_.process_usage) options_.process_usage = readProcessUsage;
  if (options_.flush_every == 0) options_.flush_every = 1;
}

StatsRecorder::~StatsRecorder() {
  // funkhausd stops: the armed capture is saved as it is, complete.
  if (armed())
    if (auto stopped = stop(); !stopped)
      spdlog::error("stats capture: {}", stopped.error().message);
}

Result<void> StatsRecorder::open() {
  namespace fs = std::filesystem;
  const fs::path dir = options_.dir;
  std::error_code ec;
  if (options_.create_parent && !fs::exists(dir.parent_path(), ec)) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) {
      open_error_ = fmt::format("creating {}: {}", dir.parent_path().string(), ec.message());
      return makeError("{}", open_error_);
    }
    chmod(dir.parent_path().c_str(), 0700);
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    open_error_ = fmt::format("creating {}: {}", dir.string(), errnoText());
    return makeError("{}", open_error_);
  }
  // Held open: the files are created relative to this very directory, whatever its path
  // becomes (the parent may belong to the service user in system mode).
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || fstat(fd.get(), &st) != 0) {
    open_error_ = fmt::format("{}: {}", dir.string(), errnoText());
    return makeError("{}", open_error_);
  }
  if (st.st_uid != geteuid()) {
    open_error_ = fmt::format("{} belongs to uid {}, not to funkhausd's uid {}: not used",
                              dir.string(), st.st_uid, geteuid());
    return makeError("{}", open_error_);
  }
  if ((st.st_mode & 0777) != 0700) fchmod(fd.get(), 0700);
  dir_fd_ = std::move(fd);
  open_error_.clear();

  saved_.clear();
  DIR* listing = fdopendir(dup(dir_fd_.get()));
  if (listing == nullptr) return makeError("{}: {}", dir.string(), errnoText());
  std::vector<std::string> names;
  while (const dirent* e = readdir(listing)) names.emplace_back(e->d_name);
  closedir(listing);
  for (const std::string& file : names) {
    if (file.starts_with('.') && file.ends_with(".json.tmp")) {  // a save that did not finish
      unlinkat(dir_fd_.get(), file.c_str(), 0);
      continue;
    }
    if (!file.ends_with(".json")) continue;
    const std::string id = file.substr(0, file.size() - 5);
    if (!validStatsId(id)) continue;
    auto j = loadCapture(dir_fd_.get(), id);
    if (!j) {
      spdlog::warn("stats: {}: skipped", j.error().message);
      continue;
    }
    Summary s;
    s.name = (*j)["name"].is_string() ? (*j)["name"].get<std::string>() : "";
    s.started_unix_ms = (*j)["started_unix_ms"].get<int64_t>();
    if ((*j)["stopped_unix_ms"].is_number_integer())
      s.stopped_unix_ms = (*j)["stopped_unix_ms"].get<int64_t>();
    s.samples = (*j)["t"].size();
    s.truncated = (*j).value("truncated", false);
    s.complete = (*j).value("complete", false);
    if (!s.complete)
      spdlog::warn(
          "stats: capture {} was armed when funkhausd stopped without saving it: kept up to its "
          "last save ({} samples), complete=false",
          id, s.samples);
    saved_[id] = std::move(s);
  }
  return {};
}

Result<std::string> StatsRecorder::start(std::string_view name, TimePoint now,
                                         const nlohmann::json& status) {
  if (capture_)
    return makeError("capture {} is armed: stop it first (funkhausctl stats stop)", capture_->id);
  if (!dir_fd_.valid()) return makeError("stats captures are off: {}", open_error_);
  Capture c;
  c.name = std::string(name);
  c.started_unix_ms = options_.unix_ms();
  const std::string base = statsId(c.started_unix_ms, name);
  c.id = base;
  for (int n = 2; saved_.contains(c.id); ++n) {
    const std::string suffix = "-" + std::to_string(n);
    c.id = base.substr(0, 64 - suffix.size()) + suffix;
  }
  c.started = now;
  c.last = now;
  c.next = now + std::chrono::seconds(1);
  record(c, status, 0, /*store=*/false);  // the baseline of the first interval's deltas
  if (auto saved = save(c); !saved) return saved.error();
  spdlog::info("stats: capture {} armed", c.id);
  capture_.emplace(std::move(c));
  armed_.store(true, std::memory_order_relaxed);
  return capture_->id;
}

Result<StatsRecorder::Stopped> StatsRecorder::stop() {
  if (!capture_) return makeError("no capture is armed (funkhausctl stats start)");
  Capture& c = *capture_;
  c.complete = true;
  c.stopped_unix_ms = options_.unix_ms();
  Stopped out{c.id, c.t.size()};
  auto saved = save(c);
  armed_.store(false, std::memory_order_relaxed);
  capture_.reset();
  if (!saved)
    return makeError("capture {} stopped but not saved: {}", out.id, saved.error().message);
  spdlog::info("stats: capture {} stopped, {} samples", out.id, out.samples);
  return out;
}

void StatsRecorder::tick(TimePoint now, const std::function<nlohmann::json()>& status) {
  if (!armed_.load(std::memory_order_relaxed)) return;
  if (!capture_ || capture_->truncated || now < capture_->next) return;
  Capture& c = *capture_;
  if (c.t.size() >= options_.max_samples) {
    c.truncated = true;  // the start is kept, nothing more is appended or read
    spdlog::warn("stats: capture {} reached {} samples: truncated", c.id, c.t.size());
    if (auto saved = save(c); !saved) spdlog::error("stats: {}", saved.error().message);
    return;
  }
  sample(c, now, status());
}

void StatsRecorder::sample(Capture& c, TimePoint now, const nlohmann::json& status) {
  const int64_t k = std::chrono::duration_cast<std::chrono::seconds>(now - c.started).count();
  c.next = c.started + std::chrono::seconds(k + 1);
  const double dt = std::chrono::duration<double>(now - c.last).count();
  record(c, status, dt, /*store=*/true);
  c.t.push_back(k);
  for (auto& [name, values] : c.series) values.resize(c.t.size(), kNull);
  c.last = now;
  if (c.t.size() % options_.flush_every == 0)
    if (auto saved = save(c); !saved) spdlog::error("stats: {}", saved.error().message);
}

void StatsRecorder::record(Capture& c, const nlohmann::json& status, double dt, bool store) {
  const size_t n = c.t.size();
  // A series appears with the first value funkhausd can read for it; before that and whenever
  // it cannot be read it holds null.
  auto put = [&](const std::string& name, std::optional<double> v) {
    if (!store) return;
    auto it = c.series.find(name);
    if (it == c.series.end()) {
      if (!v) return;
      it = c.series.emplace(name, std::vector<double>()).first;
    }
    it->second.resize(n, kNull);
    it->second.push_back(v ? rounded(*v) : kNull);
  };
  auto worker = [&](const nlohmann::json& w) {
    if (!w.is_object() || !w.contains("name") || !w["name"].is_string()) return;
    const std::string name = w["name"].get<std::string>();
    Previous& before = c.previous[name];
    std::optional<int64_t> pid;
    if (w.contains("pid") && w["pid"].is_number_integer()) pid = w["pid"].get<int64_t>();
    const bool same = pid && before.pid == pid;
    const nlohmann::json counters = w.value("counters", nlohmann::json());
    for (const char* metric :
         {"fps", "latency_p50_ms", "latency_p99_ms", "stage_p50_ms", "stage_p99_ms", "viewers"})
      put(name + "." + metric, number(w, metric));
    const auto drops = counter(counters, "drops"), errors = counter(counters, "errors"),
               bytes = counter(counters, "bytes_out");
    put(name + ".drops", same ? growth(before.drops, drops) : std::nullopt);
    put(name + ".errors", same ? growth(before.errors, errors) : std::nullopt);
    // A worker that never counted a byte has no bitrate (not a bitrate of 0).
    std::optional<double> kbps;
    if (const auto sent = growth(before.bytes_out, bytes); sent && *bytes > 0 && same && dt > 0)
      kbps = *sent * 8.0 / 1000.0 / dt;
    put(name + ".bitrate_kbps", kbps);
    std::optional<int64_t> restarts;
    if (w.contains("restarts") && w["restarts"].is_number_integer())
      restarts = w["restarts"].get<int64_t>();
    put(name + ".restarts", restarts && before.restarts && *restarts >= *before.restarts
                                ? std::optional<double>(*restarts - *before.restarts)
                                : std::nullopt);
    std::optional<ProcessUsage> usage;
    if (pid && *pid > 0 && *pid <= std::numeric_limits<int>::max())
      usage = options_.process_usage(static_cast<int>(*pid));
    put(name + ".rss_mb",
        usage ? std::optional<double>(usage->rss_bytes / (1024.0 * 1024.0)) : std::nullopt);
    put(name + ".cpu_percent",
        usage && same && before.cpu_seconds && dt > 0 && usage->cpu_seconds >= *before.cpu_seconds
            ? std::optional<double>((usage->cpu_seconds - *before.cpu_seconds) / dt * 100.0)
            : std::nullopt);
    before =
        Previous{pid,   drops,    errors,
                 bytes, restarts, usage ? std::optional<double>(usage->cpu_seconds) : std::nullopt};
  };
  if (status.contains("sessions") && status["sessions"].is_array())
    for (const auto& session : status["sessions"]) {
      if (!session.is_object()) continue;
      if (session.contains("workers") && session["workers"].is_array())
        for (const auto& w : session["workers"]) worker(w);
      const nlohmann::json latency = session.value("latency", nlohmann::json());
      if (latency.is_object()) {
        const nlohmann::json total = latency.value("total", nlohmann::json());
        put("total.p50_ms", number(total, "p50_ms"));
        put("total.p99_ms", number(total, "p99_ms"));
        if (latency.contains("stages") && latency["stages"].is_array())
          for (const auto& stage : latency["stages"]) {
            if (!stage.is_object() || !stage.contains("stage") || !stage["stage"].is_string())
              continue;
            const std::string s = stage["stage"].get<std::string>();
            put("split." + s + "_ms", number(stage, "p50_ms"));
            put("split." + s + "_p99_ms", number(stage, "p99_ms"));
          }
      }
      const nlohmann::json rings = session.value("rings", nlohmann::json());
      if (rings.is_object())
        for (const auto& [ring, r] : rings.items())
          put("ring-" + ring + ".ring_occupancy", number(r, "occupancy"));
    }
  if (status.contains("host_workers") && status["host_workers"].is_array())
    for (const auto& w : status["host_workers"]) worker(w);
}

nlohmann::json StatsRecorder::captureJson(const Capture& c) const {
  nlohmann::json series = nlohmann::json::object();
  for (const auto& [name, values] : c.series) {
    nlohmann::json a = nlohmann::json::array();
    for (size_t i = 0; i < c.t.size(); ++i) {
      const double v = i < values.size() ? values[i] : kNull;
      a.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
    }
    series[name] = std::move(a);
  }
  return {{"format", kStatsFormat},
          {"id", c.id},
          {"name", c.name},
          {"host", options_.host},
          {"started_unix_ms", c.started_unix_ms},
          {"stopped_unix_ms",
           c.stopped_unix_ms ? nlohmann::json(*c.stopped_unix_ms) : nlohmann::json(nullptr)},
          {"interval_ms", 1000},
          {"truncated", c.truncated},
          {"complete", c.complete},
          {"t", c.t},
          {"series", std::move(series)}};
}

StatsRecorder::Summary StatsRecorder::summaryOf(const Capture& c) const {
  return Summary{c.name, c.started_unix_ms, c.stopped_unix_ms, c.t.size(), c.truncated, c.complete};
}

// Temp file, fsync, rename, fsync of the directory: a crash leaves the old file or the new one.
Result<void> StatsRecorder::save(const Capture& c) {
  if (!validStatsId(c.id)) return makeError("bad capture id");
  if (!dir_fd_.valid()) return makeError("stats captures are off: {}", open_error_);
  const std::string text =
      captureJson(c).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string file = c.id + ".json", temp = "." + c.id + ".json.tmp";
  UniqueFd fd(openat(dir_fd_.get(), temp.c_str(),
                     O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return makeError("saving capture {}: {}: {}", c.id, temp, errnoText());
  if (!writeAll(fd.get(), text) || fsync(fd.get()) != 0) {
    const std::string why = errnoText();
    unlinkat(dir_fd_.get(), temp.c_str(), 0);
    return makeError("saving capture {}: {}", c.id, why);
  }
  fd.reset();
  if (renameat(dir_fd_.get(), temp.c_str(), dir_fd_.get(), file.c_str()) != 0) {
    const std::string why = errnoText();
    unlinkat(dir_fd_.get(), temp.c_str(), 0);
    return makeError("saving capture {}: {}", c.id, why);
  }
  fsync(dir_fd_.get());
  saved_[c.id] = summaryOf(c);
  return {};
}

nlohmann::json StatsRecorder::list() const {
  nlohmann::json captures = nlohmann::json::array();
  auto entry = [](const std::string& id, const Summary& s) {
    return nlohmann::json{{"id", id},
                          {"name", s.name},
                          {"started_unix_ms", s.started_unix_ms},
                          {"stopped_unix_ms", s.stopped_unix_ms ? nlohmann::json(*s.stopped_unix_ms)
                                                                : nlohmann::json(nullptr)},
                          {"samples", s.samples},
                          {"truncated", s.truncated},
                          {"complete", s.complete}};
  };
  for (const auto& [id, s] : saved_)
    captures.push_back(capture_ && capture_->id == id ? entry(id, summaryOf(*capture_))
                                                      : entry(id, s));
  return {{"armed", capture_ ? nlohmann::json(capture_->id) : nlohmann::json(nullptr)},
          {"captures", std::move(captures)}};
}

Result<nlohmann::json> StatsRecorder::show(std::string_view id) const {
  if (!validStatsId(id))
    return makeError("bad capture id \"{}\": letters, digits, '.', '_' and '-', 1 to 64",
                     id.substr(0, 64));
  if (capture_ && capture_->id == id) return captureJson(*capture_);
  if (!saved_.contains(std::string(id)))
    return makeError("no capture \"{}\" (funkhausctl stats list)", id);
  return loadCapture(dir_fd_.get(), std::string(id));
}

Result<void> StatsRecorder::remove(std::string_view id) {
  if (!validStatsId(id))
    return makeError("bad capture id \"{}\": letters, digits, '.', '_' and '-', 1 to 64",
                     id.substr(0, 64));
  if (capture_ && capture_->id == id)
    return makeError("capture {} is armed: stop it first (funkhausctl stats stop)", id);
  const std::string key(id);
  if (!saved_.contains(key)) return makeError("no capture \"{}\" (funkhausctl stats list)", id);
  if (unlinkat(dir_fd_.get(), (key + ".json").c_str(), 0) != 0 && errno != ENOENT)
    return makeError("removing capture {}: {}", id, errnoText());
  saved_.erase(key);
  spdlog::info("stats: capture {} removed", id);
  return {};
}

}  // namespace funkhaus::supervisor
