// Prometheus text from the status JSON (metrics.h).
#include "funkhaus/console/metrics.h"

#include <fmt/format.h>

#include <map>
#include <vector>

namespace funkhaus::console {

using nlohmann::json;

namespace {

// Samples grouped by metric so that each family's HELP and TYPE come once, before its samples.
class Exposition {
 public:
  void add(const std::string& name, const char* type, const char* help, const std::string& labels,
           const json& value) {
    if (!value.is_number()) return;  // absent or null: not exposed
    auto [it, fresh] = families_.try_emplace(name);
    if (fresh) {
      order_.push_back(name);
      it->second.header = fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    it->second.samples += fmt::format(
        "{}{} {}\n", name, labels.empty() ? labels : "{" + labels + "}",
        value.is_number_float() ? fmt::format("{}", value.get<double>()) : value.dump());
  }
  std::string text() const {
    std::string out;
    for (const std::string& name : order_) {
      const Family& f = families_.at(name);
      out += f.header + f.samples;
    }
    return out;
  }

 private:
  struct Family {
    std::string header, samples;
  };
  std::vector<std::string> order_;
  std::map<std::string, Family> families_;
};

std::string text(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void worker(Exposition& e, const json& w, const std::string& session) {
  if (!w.is_object()) return;
  const std::string labels =
      fmt::format("worker=\"{}\",session=\"{}\"", labelValue(text(w, "name")), labelValue(session));
  const std::string state = text(w, "state");
  e.add("funkhaus_worker_up", "gauge", "1 when the worker runs (state running or ready)", labels,
        json(state == "running" || state == "ready" ? 1 : 0));
  e.add("funkhaus_worker_restarts_total", "counter", "restarts of the worker by funkhausd", labels,
        w.value("restarts", json()));
  e.add("funkhaus_worker_uptime_seconds", "gauge", "seconds since the worker's process started",
        labels, w.value("uptime_s", json()));
  e.add("funkhaus_worker_fps", "gauge", "frames out per second over the last second", labels,
        w.value("fps", json()));
  e.add("funkhaus_worker_latency_p50_ms", "gauge", "capture to this stage's output, median", labels,
        w.value("latency_p50_ms", json()));
  e.add("funkhaus_worker_latency_p99_ms", "gauge", "capture to this stage's output, 99th pct",
        labels, w.value("latency_p99_ms", json()));
  e.add("funkhaus_worker_stage_p50_ms", "gauge", "this stage's own time, median", labels,
        w.value("stage_p50_ms", json()));
  e.add("funkhaus_worker_stage_p99_ms", "gauge", "this stage's own time, 99th percentile", labels,
        w.value("stage_p99_ms", json()));
  e.add("funkhaus_worker_viewers", "gauge", "viewers the worker serves", labels,
        w.value("viewers", json()));
  if (const auto c = w.find("counters"); c != w.end() && c->is_object()) {
    static const std::vector<std::pair<const char*, const char*>> kCounters = {
        {"frames_in", "frames or records taken from the input ring"},
        {"frames_out", "frames, records or packets produced"},
        {"drops", "frames dropped by the worker"},
        {"errors", "recoverable errors"},
        {"bytes_out", "bytes produced"},
        {"keyframes", "keyframes produced"},
        {"repeats", "access units that repeat the picture held"}};
    for (const auto& [key, help] : kCounters)
      e.add(fmt::format("funkhaus_worker_{}_total", key), "counter", help, labels,
            c->value(key, json()));
  }
}

}  // namespace

std::string labelValue(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string prometheusText(const json& status) {
  Exposition e;
  const bool ok = status.is_object() && status.value("ok", false) == true;
  e.add("funkhaus_up", "gauge", "1 when funkhausd answered the status", "", json(ok ? 1 : 0));
  if (!ok) return e.text();
  if (const auto h = status.find("host_workers"); h != status.end() && h->is_array())
    for (const json& w : *h) worker(e, w, "host");
  const auto sessions = status.find("sessions");
  if (sessions == status.end() || !sessions->is_array()) return e.text();
  e.add("funkhaus_sessions", "gauge", "sessions funkhausd streams", "", json(sessions->size()));
  for (const json& s : *sessions) {
    if (!s.is_object()) continue;
    const std::string id = text(s, "id");
    if (const auto ws = s.find("workers"); ws != s.end() && ws->is_array())
      for (const json& w : *ws) worker(e, w, id);
    const auto latency = s.find("latency");
    if (latency == s.end() || !latency->is_object()) continue;
    if (const auto stages = latency->find("stages"); stages != latency->end() && stages->is_array())
      for (const json& st : *stages) {
        if (!st.is_object()) continue;
        const std::string labels =
            fmt::format("stage=\"{}\",worker=\"{}\",session=\"{}\"", labelValue(text(st, "stage")),
                        labelValue(text(st, "worker")), labelValue(id));
        e.add("funkhaus_stage_latency_p50_ms", "gauge", "per-stage latency split, median", labels,
              st.value("p50_ms", json()));
        e.add("funkhaus_stage_latency_p99_ms", "gauge", "per-stage latency split, 99th pct", labels,
              st.value("p99_ms", json()));
      }
    if (const auto total = latency->find("total"); total != latency->end() && total->is_object()) {
      const std::string labels = fmt::format("session=\"{}\"", labelValue(id));
      e.add("funkhaus_total_latency_p50_ms", "gauge", "screen to wire, median", labels,
            total->value("p50_ms", json()));
      e.add("funkhaus_total_latency_p99_ms", "gauge", "screen to wire, 99th percentile", labels,
            total->value("p99_ms", json()));
    }
  }
  return e.text();
}

}  // namespace funkhaus::console
