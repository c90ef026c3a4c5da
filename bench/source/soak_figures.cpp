// The chaos soak's figures (soak.h): /proc and /dev/shm readings, pauses, the verdict.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <utility>

#include "funkhaus/bench/soak.h"

namespace funkhaus::bench {

namespace {

namespace fs = std::filesystem;

std::string readText(const fs::path& file) {
  std::ifstream in(file);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::optional<uint64_t> toNumber(std::string_view s) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  return v;
}

// Memfd links of one process: (device, inode) -> size, so a memfd held by several processes
// (a ring mapped by two workers) counts its bytes once.
void memfdsOf(pid_t pid, uint64_t& links, std::set<std::pair<dev_t, ino_t>>& seen,
              uint64_t& bytes) {
  std::error_code ec;
  const fs::path dir = fs::path("/proc") / std::to_string(pid) / "fd";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code link_ec;
    const fs::path target = fs::read_symlink(it->path(), link_ec);
    if (link_ec || target.string().rfind("/memfd:", 0) != 0) continue;
    ++links;
    struct stat st {};
    if (stat(it->path().c_str(), &st) != 0) continue;
    if (seen.insert({st.st_dev, st.st_ino}).second) bytes += static_cast<uint64_t>(st.st_size);
  }
}

std::string ratioText(uint64_t chaos, uint64_t baseline) {
  if (baseline == 0) return fmt::format("{} / 0", chaos);
  return fmt::format("{} / {} = {:.1f} %", chaos, baseline,
                     100.0 * static_cast<double>(chaos) / static_cast<double>(baseline));
}

}  // namespace

std::optional<ProcStat> parseProcStat(std::string_view line) {
  const size_t close = line.rfind(')');
  if (close == std::string_view::npos || close + 2 >= line.size()) return std::nullopt;
  std::string_view rest = line.substr(close + 2);  // "S 123 ..."
  if (rest.size() < 3 || rest[1] != ' ') return std::nullopt;
  ProcStat s;
  s.state = rest[0];
  rest.remove_prefix(2);
  const size_t space = rest.find(' ');
  const auto ppid = toNumber(rest.substr(0, space));
  if (!ppid) return std::nullopt;
  s.ppid = static_cast<pid_t>(*ppid);
  return s;
}

std::optional<uint64_t> parseVmRssKb(std::string_view text) {
  const size_t at = text.find("VmRSS:");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + 6);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  return toNumber(rest.substr(0, rest.find(' ')));
}

HostSample sampleHost(pid_t pid, uint64_t at_ns) {
  HostSample s;
  s.at_ns = at_ns;
  const fs::path proc = fs::path("/proc") / std::to_string(pid);
  std::error_code ec;
  for (fs::directory_iterator it(proc / "fd", ec), end; !ec && it != end; it.increment(ec)) ++s.fds;
  s.rss_kb = parseVmRssKb(readText(proc / "status")).value_or(0);

  std::vector<pid_t> live = {pid};
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto child = toNumber(name);
    if (!child) continue;
    const auto stat = parseProcStat(readText(it->path() / "stat"));
    if (!stat || stat->ppid != pid) continue;
    if (stat->state == 'Z') {
      ++s.zombies;
    } else {
      ++s.children;
      live.push_back(static_cast<pid_t>(*child));
    }
  }
  std::set<std::pair<dev_t, ino_t>> seen;
  for (pid_t p : live) memfdsOf(p, s.memfds, seen, s.memfd_bytes);

  const uid_t uid = getuid();
  for (fs::directory_iterator it("/dev/shm", ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind("funkhaus", 0) != 0) continue;
    struct stat st {};
    if (lstat(it->path().c_str(), &st) != 0 || st.st_uid != uid) continue;
    ++s.shm_files;
    s.shm_bytes += static_cast<uint64_t>(st.st_size);
  }
  return s;
}

uint64_t pauseAround(const std::vector<uint64_t>& arrivals, uint64_t at_ns, uint64_t window_ns,
                     uint64_t end_ns, uint64_t next_fault_ns) {
  const uint64_t from = at_ns > window_ns ? at_ns - window_ns : 0;
  const auto first = std::lower_bound(arrivals.begin(), arrivals.end(), from);
  if (first == arrivals.end() || *first > end_ns) return 0;
  const auto after = std::upper_bound(arrivals.begin(), arrivals.end(), at_ns);
  if (after == arrivals.end() || *after > end_ns) {
    const uint64_t last = after == arrivals.begin() ? at_ns : *(after - 1);
    return end_ns > last ? end_ns - last : 0;
  }
  // The gap the fault opened: from the last frame at or before it to the first after it, then
  // any longer gap that follows while the pipeline was still coming back.
  uint64_t longest = after == arrivals.begin() ? *after - at_ns : *after - *(after - 1);
  for (auto it = after + 1; it != arrivals.end() && *(it - 1) <= at_ns + window_ns; ++it) {
    if (*it > end_ns || *it > next_fault_ns) break;
    longest = std::max(longest, *it - *(it - 1));
  }
  return longest;
}

std::vector<VerdictRow> soakVerdict(const std::vector<uint64_t>& baseline,
                                    const std::vector<uint64_t>& chaos,
                                    const std::vector<HostSample>& samples, const SoakTargets& t) {
  std::vector<VerdictRow> rows;
  uint64_t total_b = 0, total_c = 0;
  const std::string frame_target = fmt::format(">= {:.0f} %", t.min_frame_ratio * 100.0);
  auto ratioMet = [&](uint64_t c, uint64_t b) {
    return b > 0 && static_cast<double>(c) >= t.min_frame_ratio * static_cast<double>(b);
  };
  for (size_t i = 0; i < baseline.size() && i < chaos.size(); ++i) {
    rows.push_back({fmt::format("frames viewer {} chaos/baseline", i),
                    ratioText(chaos[i], baseline[i]), frame_target,
                    ratioMet(chaos[i], baseline[i])});
    total_b += baseline[i];
    total_c += chaos[i];
  }
  rows.push_back({"frames all viewers chaos/baseline", ratioText(total_c, total_b), frame_target,
                  ratioMet(total_c, total_b)});
  if (samples.size() < 2) {
    rows.push_back({"fds, RSS, shm, zombies", "fewer than two samples", "flat", false});
    return rows;
  }
  const HostSample& a = samples.front();
  const HostSample& z = samples.back();
  auto flat = [&](const char* what, uint64_t first, uint64_t last) {
    rows.push_back({what,
                    fmt::format("{} -> {} ({:+})", first, last,
                                static_cast<int64_t>(last) - static_cast<int64_t>(first)),
                    "flat (end <= start)", last <= first});
  };
  flat("funkhausd fds", a.fds, z.fds);
  flat("/dev/shm funkhaus* files", a.shm_files, z.shm_files);
  flat("/dev/shm funkhaus* bytes", a.shm_bytes, z.shm_bytes);
  flat("memfd links (funkhausd + workers)", a.memfds, z.memfds);
  flat("memfd bytes (distinct)", a.memfd_bytes, z.memfd_bytes);
  const int64_t growth = static_cast<int64_t>(z.rss_kb) - static_cast<int64_t>(a.rss_kb);
  rows.push_back({"funkhausd RSS growth",
                  fmt::format("{} -> {} kB ({:+} kB)", a.rss_kb, z.rss_kb, growth),
                  fmt::format("<= {} kB", t.max_rss_growth_kb),
                  growth <= static_cast<int64_t>(t.max_rss_growth_kb)});
  uint64_t most = 0;
  for (const HostSample& s : samples) most = std::max(most, s.zombies);
  rows.push_back(
      {"zombie children of funkhausd (most in any sample)", std::to_string(most), "0", most == 0});
  return rows;
}

}  // namespace funkhaus::bench
