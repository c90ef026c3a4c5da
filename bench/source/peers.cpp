// funkhaus_pipeline_bench --peers: funkhaus, GStreamer and ffmpeg, one after the other (in
// rounds of alternating order), capturing the same Xvfb display with the same moving content and
// sending RTP H.264 to the same receiver. Latency = the X client's draw (acknowledged by the
// server) -> the kernel's receive stamp of the last RTP packet of the first frame that shows it.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "funkhaus/bench/latency.h"
#include "funkhaus/bench/machine.h"
#include "funkhaus/bench/peers_tools.h"
#include "funkhaus/bench/variant.h"
#include "funkhaus/common/clock.h"

namespace funkhaus::bench {

namespace {

constexpr int kFirstFrameTimeoutMs = 20'000;
constexpr uint64_t kKeepAliveNs = 20'000'000'000;
constexpr uint64_t kDrainNs = 500'000'000;
constexpr double kTargetRatio = 0.7;

void sleepUntilNs(uint64_t ns) {
  const uint64_t now = monotonicNs();
  if (ns > now) std::this_thread::sleep_for(std::chrono::nanoseconds(ns - now));
}

struct ToolTotals {
  std::string name;
  std::string unavailable;
  std::vector<std::string> errors;
  std::vector<uint64_t> latencies_ns;
  uint64_t cpu_ns = 0, window_ns = 0;
  size_t drawn = 0, units = 0, dropped = 0, repeats = 0, undecodable = 0, unreadable = 0,
         unknown = 0, before_draw = 0;
  Percentiles latency;
  double cpu() const {
    return window_ns ? 100.0 * static_cast<double>(cpu_ns) / static_cast<double>(window_ns) : 0;
  }
  bool ran() const { return unavailable.empty() && errors.empty() && latency.count > 0; }
};

std::unique_ptr<PeerTool> makeTool(size_t index, const PeerSettings& s) {
  if (index == 0) return makeFunkhausTool(s);
  if (index == 1) return makeGstreamerTool(s);
  return makeFfmpegTool(s);
}

// One tool for one round.
void runRound(PeerTool& tool, ToolTotals& t, const PeersOptions& o, ContentDrawer& drawer,
              const XvfbDisplay& xvfb, uint64_t window_ns, uint32_t round) {
  std::printf("\n=== round %u: %s\n", round + 1, tool.name());
  std::fflush(stdout);
  auto receiver = PeerReceiver::open();
  if (!receiver) {
    t.errors.push_back(receiver.error().message);
    return;
  }
  (*receiver)->start();
  auto fail = [&](std::string why) {
    (void)tool.stop();
    (*receiver)->stop();
    std::printf("FAILED: %s\n", why.c_str());
    t.errors.push_back(std::move(why));
  };
  if (auto started = tool.start(**receiver); !started) return fail(started.error().message);
  const uint64_t first_deadline = monotonicNs() + uint64_t{kFirstFrameTimeoutMs} * 1'000'000;
  while ((*receiver)->unitsSeen() == 0) {
    if (monotonicNs() > first_deadline)
      return fail(
          fmt::format("no frame reached the receiver within {} s", kFirstFrameTimeoutMs / 1000));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  sleepUntilNs(monotonicNs() + uint64_t{o.warmup} * 1'000'000'000);
  const uint64_t from = monotonicNs();
  const uint64_t to = from + window_ns;
  const auto cpu_from = tool.cpuNs();
  const auto drawer_from = drawer.cpuNs();
  const auto xvfb_from = processCpuNs(xvfb.pid());
  const auto bench_from = processCpuNs(0);
  const uint64_t machine_from = machineBusyNs();
  for (uint64_t k = from + kKeepAliveNs; k < to; k += kKeepAliveNs) {
    sleepUntilNs(k);
    if (auto alive = tool.keepAlive(); !alive) return fail("keep-alive: " + alive.error().message);
  }
  sleepUntilNs(to);
  const auto cpu_to = tool.cpuNs();
  const auto drawer_to = drawer.cpuNs();
  const auto xvfb_to = processCpuNs(xvfb.pid());
  const auto bench_to = processCpuNs(0);
  const uint64_t machine_to = machineBusyNs();
  sleepUntilNs(to + kDrainNs);
  auto stopped = tool.stop();
  (*receiver)->stop();
  if (!cpu_from || !cpu_to) return fail("a process of the tool ended during the measurement");
  if (!stopped) std::printf("stop: %s\n", stopped.error().message.c_str());

  const PeerReceiver& r = **receiver;
  auto decoded = decodeUnits(r.units());
  if (!decoded) return fail("decoding: " + decoded.error().message);
  const std::vector<uint64_t> draws = drawer.drawTimes();
  const MatchResult m = matchUnits(*decoded, draws, from, to);
  const auto drawn_in_window = static_cast<size_t>(
      std::count_if(draws.begin(), draws.end(), [&](uint64_t d) { return d >= from && d < to; }));
  const Percentiles p = percentilesOf(m.latencies_ns);
  const double window_s = static_cast<double>(to - from) / 1e9;
  auto percent = [&](std::optional<uint64_t> a, std::optional<uint64_t> b) {
    return a && b && *b >= *a
               ? 100.0 * static_cast<double>(*b - *a) / static_cast<double>(to - from)
               : -1.0;
  };
  const DepacketizerCounters& c = r.counters();
  std::printf(
      "receiver: %llu RTP packets, %llu access units, %llu dropped (loss or bad payload), %llu "
      "sequence gaps, %llu foreign, %llu malformed\n",
      static_cast<unsigned long long>(c.packets), static_cast<unsigned long long>(c.frames),
      static_cast<unsigned long long>(c.dropped_frames),
      static_cast<unsigned long long>(c.sequence_gaps),
      static_cast<unsigned long long>(r.foreign()), static_cast<unsigned long long>(r.malformed()));
  std::printf(
      "round %u, %s: draw -> last RTP packet p50 %.2f ms, p99 %.2f ms, max %.2f ms over %zu "
      "frames (%zu drawn in the %.1f s window; %zu repeats, %zu undecodable, %zu unreadable, %zu "
      "unknown, %zu before their draw); cpu %.1f %% (X client %.1f %%, Xvfb %.1f %%)\n",
      round + 1, tool.name(), p.p50_ms, p.p99_ms, p.max_ms, p.count, drawn_in_window, window_s,
      m.repeats, m.undecodable, m.unreadable, m.unknown, m.before_draw, percent(cpu_from, cpu_to),
      percent(drawer_from, drawer_to), percent(xvfb_from, xvfb_to));
  // What else ran: a shared machine's other load shows here (tick-based, a few % coarse).
  const double machine = percent(machine_from, machine_to);
  const double known = std::max(0.0, percent(cpu_from, cpu_to)) +
                       std::max(0.0, percent(xvfb_from, xvfb_to)) +
                       std::max(0.0, percent(bench_from, bench_to));
  std::printf(
      "whole machine busy %.1f %% of one core in the window; tool, Xvfb and bench (X client, "
      "receiver) %.1f %%; everything else %.1f %%\n",
      machine, known, std::max(0.0, machine - known));
  std::fflush(stdout);
  if (p.count == 0) {
    t.errors.push_back("no frame with a readable barcode in the window");
    return;
  }
  t.latencies_ns.insert(t.latencies_ns.end(), m.latencies_ns.begin(), m.latencies_ns.end());
  t.cpu_ns += *cpu_to - *cpu_from;
  t.window_ns += to - from;
  t.drawn += drawn_in_window;
  t.units += c.frames;
  t.dropped += c.dropped_frames;
  t.repeats += m.repeats;
  t.undecodable += m.undecodable;
  t.unreadable += m.unreadable;
  t.unknown += m.unknown;
  t.before_draw += m.before_draw;
}

}  // namespace

int runPeers(const PeersOptions& o) {
  PeerSettings s;
  s.width = o.width;
  s.height = o.height;
  s.fps = o.fps;
  s.bitrate_kbps = o.bitrate_kbps;
  s.bin_dir = binDir();
  s.work_root = binDir().parent_path() / "bench-tmp";
  const uint64_t window_ns = uint64_t{o.seconds} * 1'000'000'000 / o.rounds;

  auto xvfb = XvfbDisplay::start(o.width, o.height);
  if (!xvfb) {
    std::printf("peers: cannot run: %s\n", xvfb.error().message.c_str());
    return 1;
  }
  s.display = (*xvfb)->display();
  auto drawer = ContentDrawer::start(s.display, o.width, o.height, o.fps);
  if (!drawer) {
    std::printf("peers: cannot run: %s\n", drawer.error().message.c_str());
    return 1;
  }
  std::printf(
      "funkhaus_pipeline_bench --peers: Xvfb %s %ux%u, content drawn at %u Hz (its phase "
      "against each tool's grabs sweeps a frame period every second); every tool captures it at "
      "%u fps and sends libx264 superfast zerolatency %u kbit/s RTP H.264 to the "
      "same receiver; %u s measured per tool in %u round(s) of %.1f s after %u s of warm-up\n",
      s.display.c_str(), o.width, o.height, o.fps > 1 ? o.fps - 1 : o.fps, o.fps, o.bitrate_kbps,
      o.seconds, o.rounds, static_cast<double>(window_ns) / 1e9, o.warmup);
  std::printf(
      "latency = the X client's draw of a frame (CLOCK_MONOTONIC after the server acknowledged "
      "it) -> the kernel receive stamp of the last RTP packet of the first frame showing it "
      "(barcode read from the decoded picture); cpu = all processes of the tool, %% of one "
      "core\n");
  std::printf("gstreamer:");
  for (const std::string& a : gstreamerArgs(s, 0)) std::printf(" %s", a.c_str());
  std::printf("\nffmpeg:");
  for (const std::string& a : ffmpegArgs(s, 0)) std::printf(" %s", a.c_str());
  std::printf("\n");

  std::vector<ToolTotals> totals(3);
  for (size_t i = 0; i < 3; ++i) {
    auto tool = makeTool(i, s);
    totals[i].name = tool->name();
    totals[i].unavailable = tool->unavailable();
    if (!totals[i].unavailable.empty())
      std::printf("%s: cannot run: %s\n", tool->name(), totals[i].unavailable.c_str());
  }
  for (uint32_t round = 0; round < o.rounds; ++round) {
    std::vector<size_t> order = {0, 1, 2};
    if (round % 2 == 1) std::reverse(order.begin(), order.end());
    for (size_t i : order) {
      if (!totals[i].unavailable.empty()) continue;
      auto tool = makeTool(i, s);
      runRound(*tool, totals[i], o, **drawer, **xvfb, window_ns, round);
    }
  }
  std::printf("\nX client: %llu frames drawn, %llu deadlines missed\n",
              static_cast<unsigned long long>((*drawer)->frames()),
              static_cast<unsigned long long>((*drawer)->missed()));
  drawer->reset();

  bool all_ran = true;
  std::printf("\n");
  for (ToolTotals& t : totals) {
    t.latency = percentilesOf(t.latencies_ns);
    if (!t.ran()) {
      all_ran = false;
      continue;
    }
    std::printf(
        "%s: %zu frames counted of %zu drawn in the windows, %zu access units received, %zu "
        "dropped, %zu repeats, %zu undecodable, %zu unreadable, %zu unknown, %zu before their "
        "draw\n",
        t.name.c_str(), t.latency.count, t.drawn, t.units, t.dropped, t.repeats, t.undecodable,
        t.unreadable, t.unknown, t.before_draw);
  }
  for (const ToolTotals& t : totals) {
    if (t.ran())
      std::printf("%s p50 %.2f ms p99 %.2f ms cpu %.1f %%\n", t.name.c_str(), t.latency.p50_ms,
                  t.latency.p99_ms, t.cpu());
    else if (!t.unavailable.empty())
      std::printf("%s cannot run: %s\n", t.name.c_str(), t.unavailable.c_str());
    else
      std::printf("%s failed: %s\n", t.name.c_str(),
                  t.errors.empty() ? "no frames" : t.errors.front().c_str());
  }
  const ToolTotals& us = totals[0];
  for (size_t i = 1; i < 3; ++i) {
    const ToolTotals& peer = totals[i];
    if (!us.ran() || !peer.ran()) continue;
    const double p50 = us.latency.p50_ms / peer.latency.p50_ms;
    const double p99 = us.latency.p99_ms / peer.latency.p99_ms;
    const double cpu = peer.cpu() > 0 ? us.cpu() / peer.cpu() : 0;
    std::printf("ratio funkhaus/%s p50 %.3f p99 %.3f cpu %.3f\n", peer.name.c_str(), p50, p99, cpu);
    std::printf("target funkhaus/%s: latency ratios <= %.1f %s, cpu <= 1 %s\n", peer.name.c_str(),
                kTargetRatio, p50 <= kTargetRatio && p99 <= kTargetRatio ? "met" : "NOT met",
                cpu <= 1.0 ? "met" : "NOT met");
  }
  return all_ran ? 0 : 1;
}

}  // namespace funkhaus::bench
