// funkhausctl's views of stats captures and log lines.
#include "funkhaus/supervisor/stats_view.h"

#include <fmt/format.h>
#include <algorithm>
#include <ctime>

namespace funkhaus::supervisor {

namespace {

std::string printable(std::string text) {
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return text;
}

std::string text(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "-";
  const nlohmann::json& v = j[key];
  if (v.is_null()) return "-";
  if (v.is_string()) return printable(v.get<std::string>());
  return printable(v.dump());
}

// "2026-12-03 14:15:00" (local time) from Unix milliseconds.
std::string when(const nlohmann::json& unix_ms, const char* format = "%Y-%m-%d %H:%M:%S") {
  if (!unix_ms.is_number_integer()) return "-";
  const time_t seconds = static_cast<time_t>(unix_ms.get<int64_t>() / 1000);
  tm local{};
  localtime_r(&seconds, &local);
  char b[64];
  std::strftime(b, sizeof b, format, &local);
  return b;
}

std::string number(double v) { return fmt::format("{:.2f}", v); }

// A CSV cell: quoted when it holds a comma, a quote or a line break.
std::string csvCell(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::vector<std::string> statsListLines(const nlohmann::json& reply) {
  std::vector<std::string> out;
  const nlohmann::json captures =
      reply.is_object() ? reply.value("captures", nlohmann::json::array()) : nlohmann::json();
  if (!captures.is_array() || captures.empty()) {
    out.push_back("no captures: funkhausctl stats start [--name N] arms one");
    return out;
  }
  const std::string armed = reply.contains("armed") && reply["armed"].is_string()
                                ? reply["armed"].get<std::string>()
                                : std::string();
  out.push_back(fmt::format("{:<48} {:<20} {:>8} {:>9}  {}", "ID", "STARTED", "SAMPLES", "DURATION",
                            "STATE"));
  for (const auto& c : captures) {
    if (!c.is_object()) continue;
    const std::string id = text(c, "id");
    std::string state = id == armed                  ? "armed (recording)"
                        : c.value("complete", false) ? "complete"
                                                     : "incomplete (funkhausd died while armed)";
    if (c.value("truncated", false)) state += ", truncated at 3 h";
    const nlohmann::json samples = c.value("samples", nlohmann::json());
    const std::string duration =
        samples.is_number_integer() && samples.get<int64_t>() >= 0
            ? fmt::format("{}:{:02}", samples.get<int64_t>() / 60, samples.get<int64_t>() % 60)
            : "-";
    out.push_back(fmt::format("{:<48} {:<20} {:>8} {:>9}  {}", id,
                              when(c.value("started_unix_ms", nlohmann::json())),
                              text(c, "samples"), duration, state));
  }
  return out;
}

std::vector<std::string> statsSeriesLines(const nlohmann::json& capture) {
  std::vector<std::string> out;
  if (!capture.is_object()) return {"not a capture"};
  const nlohmann::json t = capture.value("t", nlohmann::json::array());
  out.push_back(fmt::format("capture {} '{}' on {}: started {}, {} samples every {} ms{}{}",
                            text(capture, "id"), text(capture, "name"), text(capture, "host"),
                            when(capture.value("started_unix_ms", nlohmann::json())),
                            t.is_array() ? t.size() : 0, text(capture, "interval_ms"),
                            capture.value("complete", true) ? "" : " (incomplete)",
                            capture.value("truncated", false) ? " (truncated)" : ""));
  out.push_back(fmt::format("  {:<36} {:>8} {:>10} {:>10} {:>10}", "SERIES", "VALUES", "MIN",
                            "MEDIAN", "MAX"));
  const nlohmann::json series = capture.value("series", nlohmann::json::object());
  if (!series.is_object()) return out;
  for (const auto& [name, values] : series.items()) {
    std::vector<double> v;
    if (values.is_array())
      for (const auto& x : values)
        if (x.is_number()) v.push_back(x.get<double>());
    if (v.empty()) {
      out.push_back(
          fmt::format("  {:<36} {:>8} {:>10} {:>10} {:>10}", printable(name), 0, "-", "-", "-"));
      continue;
    }
    std::sort(v.begin(), v.end());
    const double median =
        v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2.0;
    out.push_back(fmt::format("  {:<36} {:>8} {:>10} {:>10} {:>10}", printable(name), v.size(),
                              number(v.front()), number(median), number(v.back())));
  }
  return out;
}

Result<std::string> statsCsv(const nlohmann::json& capture) {
  if (!capture.is_object() || !capture.contains("t") || !capture["t"].is_array() ||
      !capture.contains("series") || !capture["series"].is_object())
    return makeError("not a capture (no \"t\" and \"series\")");
  const nlohmann::json& t = capture["t"];
  const nlohmann::json& series = capture["series"];
  std::string out = "t";
  for (const auto& [name, values] : series.items()) {
    if (!values.is_array() || values.size() != t.size())
      return makeError("series \"{}\" has {} values for {} times", printable(name),
                       values.is_array() ? values.size() : 0, t.size());
    out += "," + csvCell(printable(name));
  }
  out += "\n";
  for (size_t i = 0; i < t.size(); ++i) {
    out += t[i].is_number() ? t[i].dump() : "";
    for (const auto& [name, values] : series.items()) {
      out += ",";
      if (values[i].is_number()) out += values[i].dump();
    }
    out += "\n";
  }
  return out;
}

std::vector<std::string> logLines(const nlohmann::json& reply) {
  std::vector<std::string> out;
  const nlohmann::json lines =
      reply.is_object() ? reply.value("lines", nlohmann::json::array()) : nlohmann::json();
  if (!lines.is_array()) return out;
  for (const auto& l : lines) {
    if (!l.is_object()) continue;
    const nlohmann::json ms = l.value("unix_ms", nlohmann::json());
    out.push_back(fmt::format("{}.{:03} {:<8} {}", when(ms, "%H:%M:%S"),
                              ms.is_number_integer() ? ms.get<int64_t>() % 1000 : 0,
                              text(l, "level"), text(l, "text")));
  }
  return out;
}

}  // namespace funkhaus::supervisor
