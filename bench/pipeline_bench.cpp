// funkhaus_pipeline_bench: host latency capture -> last RTP packet sent, per frame, for the
// real three processes under funkhausd and for the same stage code in one process (one
// thread; and three threads over the real rings), one variant after the other in one run, with
// the same viewer: an RTP sink on UDP that reads and discards. Prints p50/p99 of each, the
// ratios, and the per-stage split of the status pages. See bench/README.md.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/bench/latency.h"
#include "funkhaus/bench/machine.h"
#include "funkhaus/bench/peers.h"
#include "funkhaus/bench/rtp_sink.h"
#include "funkhaus/bench/variant.h"
#include "funkhaus/capture/frame_clock.h"
#include "funkhaus/common/clock.h"

namespace {

using namespace funkhaus;
using namespace funkhaus::bench;

constexpr int kFirstFrameTimeoutMs = 20'000;
constexpr uint64_t kWindowNs = 5'000'000'000;      // the status pages' latency window
constexpr uint64_t kKeepAliveNs = 20'000'000'000;  // RTSP keep-alive (session timeout 60 s)
constexpr uint64_t kDrainNs = 500'000'000;  // after the window: its last frames reach the sink
constexpr double kTargetP50Ms = 8.0;
constexpr double kTargetRatio = 1.05;

struct Options {
  BenchSettings settings;
  uint32_t seconds = 20;  // per variant, over all rounds
  uint32_t rounds = 4;
  uint32_t warmup = 3;
  std::vector<std::string> variants = {"processes", "single", "threads"};
  bool verbose = false;
  bool peers = false;  // issue 15: funkhaus against GStreamer and ffmpeg (peers.cpp)
  uint32_t bitrate_kbps = 8000;
};

// One variant in one round.
struct RoundResult {
  std::string key, name;
  std::string error;  // empty: it ran
  std::vector<uint64_t> latencies_ns;
  size_t expected = 0, incomplete = 0;
  std::vector<std::vector<StageFigure>> windows;
};

// One variant over all rounds.
struct Pooled {
  std::string key, name;
  std::vector<std::string> errors;
  std::vector<uint64_t> latencies_ns;
  size_t expected = 0, incomplete = 0;
  std::vector<std::vector<StageFigure>> windows;
  std::vector<Percentiles> rounds;
  Percentiles latency;
  bool ran() const { return errors.empty() && latency.count > 0; }
};

void sleepUntilNs(uint64_t ns) {
  const uint64_t now = monotonicNs();
  if (ns > now) std::this_thread::sleep_for(std::chrono::nanoseconds(ns - now));
}

std::unique_ptr<Variant> makeVariant(const std::string& key, const Options& o) {
  if (key == "processes")
    return makeThreeProcessVariant(o.settings, binDir(), binDir().parent_path() / "bench-tmp");
  if (key == "single") return makeSingleThreadVariant(o.settings);
  return makeThreadedVariant(o.settings);
}

void printStages(const char* label, const std::vector<StageFigure>& stages) {
  std::printf("    %s", label);
  for (const StageFigure& s : stages) {
    std::printf("  %s %.1f fps p50 %.2f p99 %.2f ms", s.name.c_str(), s.fps, s.p50_ms, s.p99_ms);
    if (s.stage_p50_ms > 0) std::printf(" (own %.2f/%.2f)", s.stage_p50_ms, s.stage_p99_ms);
  }
  std::printf("\n");
}

double percentOfCore(uint64_t ns, uint64_t window_ns) {
  return 100.0 * static_cast<double>(ns) / static_cast<double>(window_ns);
}

// CPU each process used in the window and what the whole machine did, in % of one core.
void printCpu(const std::vector<ProcessCpu>& from, const std::vector<ProcessCpu>& to,
              uint64_t machine_busy_ns, uint64_t window_ns) {
  std::printf("CPU in the window (%% of one core):");
  double ours = 0;
  for (size_t i = 0; i < from.size() && i < to.size(); ++i) {
    if (!from[i].cpu_ns || !to[i].cpu_ns || *to[i].cpu_ns < *from[i].cpu_ns) {
      std::printf(" %s ?,", from[i].name.c_str());
      continue;
    }
    const double percent = percentOfCore(*to[i].cpu_ns - *from[i].cpu_ns, window_ns);
    ours += percent;
    std::printf(" %s %.1f,", from[i].name.c_str(), percent);
  }
  const double machine = percentOfCore(machine_busy_ns, window_ns);
  std::printf(" ours %.1f; whole machine busy %.1f, so everything else %.1f\n", ours, machine,
              std::max(0.0, machine - ours));
}

// Runs one variant for one round: start, first frame, warm-up, then `window_ns` of frames
// whose capture time falls in the window.
RoundResult runRound(const std::string& key, const Options& o, uint64_t window_ns, uint32_t round) {
  RoundResult out;
  out.key = key;
  auto variant = makeVariant(key, o);
  out.name = variant->name();
  std::printf("\n=== round %u: %s\n", round + 1, out.name.c_str());
  std::fflush(stdout);
  auto sink = RtpSink::open();
  if (!sink) {
    out.error = sink.error().message;
    return out;
  }
  (*sink)->start();
  auto fail = [&](std::string why) {
    out.error = std::move(why);
    (void)variant->stop();
    (*sink)->stop();
    std::printf("FAILED: %s\n", out.error.c_str());
    return out;
  };
  if (auto started = variant->start(**sink); !started) return fail(started.error().message);
  const uint64_t first_deadline = monotonicNs() + uint64_t{kFirstFrameTimeoutMs} * 1'000'000;
  while ((*sink)->framesSeen() == 0) {
    if (monotonicNs() > first_deadline)
      return fail(
          fmt::format("no frame reached the sink within {} s", kFirstFrameTimeoutMs / 1000));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("first frame at the sink; warming up %u s, then measuring %.1f s\n", o.warmup,
              static_cast<double>(window_ns) / 1e9);
  std::fflush(stdout);
  sleepUntilNs(monotonicNs() + uint64_t{o.warmup} * 1'000'000'000);

  const uint64_t from = monotonicNs();
  const uint64_t to = from + window_ns;
  const std::vector<ProcessCpu> cpu_from = variant->cpu();
  const uint64_t machine_from = machineBusyNs();
  std::vector<ProcessCpu> cpu_to;
  uint64_t machine_to = 0;
  uint64_t next_keepalive = from + kKeepAliveNs;
  for (uint64_t at = from + kWindowNs;; at += kWindowNs) {
    const uint64_t sample = std::min(at, to);
    while (next_keepalive < sample) {
      sleepUntilNs(next_keepalive);
      if (auto k = variant->keepAlive(); !k) return fail("keep-alive: " + k.error().message);
      next_keepalive += kKeepAliveNs;
    }
    sleepUntilNs(sample);
    if (sample == to) {
      cpu_to = variant->cpu();
      machine_to = machineBusyNs();
    }
    auto stages = variant->stages();
    if (!stages) return fail("status: " + stages.error().message);
    out.windows.push_back(*stages);
    printStages(fmt::format("status pages at +{:4.1f} s:", static_cast<double>(sample - from) / 1e9)
                    .c_str(),
                *stages);
    std::fflush(stdout);
    if (sample == to) break;
  }
  sleepUntilNs(to + kDrainNs);
  auto stopped = variant->stop();
  (*sink)->stop();
  if (!stopped) std::printf("stop: %s\n", stopped.error().message.c_str());

  const RtpSink& s = **sink;
  const auto offset = estimateOffset(s.reports());
  if (!offset) {
    out.error = "no RTCP sender report reached the sink: RTP timestamps cannot be mapped";
    std::printf("FAILED: %s\n", out.error.c_str());
    return out;
  }
  const FrameLatencies lat = latenciesOf(s.frames(), offset->offset, from, to);
  for (const FrameLatency& f : lat.frames) out.latencies_ns.push_back(f.latency_ns);
  const capture::FrameClock clock(o.settings.fps);
  out.expected = clock.frameAt(to) - clock.frameAt(from);
  out.incomplete = lat.incomplete + lat.before_capture;
  const SinkCounters& c = s.counters();
  std::printf(
      "sink: %llu RTP packets (%llu payload bytes), %zu frames, %llu sender reports (RTP offset: "
      "%zu of %zu agree), %llu sequence gaps, %llu frames without marker, %llu foreign, %llu "
      "malformed, %llu without kernel stamp\n",
      static_cast<unsigned long long>(c.packets), static_cast<unsigned long long>(c.bytes),
      s.frames().size(), static_cast<unsigned long long>(c.reports), offset->agreeing,
      offset->reports, static_cast<unsigned long long>(c.sequence_gaps),
      static_cast<unsigned long long>(c.unended), static_cast<unsigned long long>(c.foreign),
      static_cast<unsigned long long>(c.malformed), static_cast<unsigned long long>(c.unstamped));
  for (const std::string& note : variant->notes(s, from, to)) std::printf("%s\n", note.c_str());
  printCpu(cpu_from, cpu_to, machine_to - machine_from, to - from);
  const Percentiles p = percentilesOf(out.latencies_ns);
  std::printf(
      "round %u, %s: capture -> last RTP packet sent: p50 %.2f ms, p99 %.2f ms, mean %.2f ms, "
      "max %.2f ms over %zu frames (%zu due in the window, %zu incomplete)\n",
      round + 1, out.name.c_str(), p.p50_ms, p.p99_ms, p.mean_ms, p.max_ms, p.count, out.expected,
      out.incomplete);
  std::fflush(stdout);
  if (p.count == 0) out.error = "no complete frame was captured in the measured window";
  return out;
}

// Median over the windows of one stage's p50.
double medianStageP50(const Pooled& o, const std::string& stage) {
  std::vector<double> v;
  for (const auto& w : o.windows)
    for (const StageFigure& s : w)
      if (s.name == stage) v.push_back(s.p50_ms);
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];
}

void printRatio(const Pooled& a, const Pooled& b) {
  if (!a.ran() || !b.ran()) return;
  std::printf("[figures] ratio %s / %s: p50 %.3f, p99 %.3f", a.name.c_str(), b.name.c_str(),
              a.latency.p50_ms / b.latency.p50_ms, a.latency.p99_ms / b.latency.p99_ms);
  if (a.rounds.size() > 1 && a.rounds.size() == b.rounds.size()) {
    std::vector<double> ratios;
    for (size_t i = 0; i < a.rounds.size(); ++i)
      if (b.rounds[i].p50_ms > 0) ratios.push_back(a.rounds[i].p50_ms / b.rounds[i].p50_ms);
    std::printf("; p50 ratio per round:");
    for (double r : ratios) std::printf(" %.3f", r);
    std::sort(ratios.begin(), ratios.end());
    if (!ratios.empty())
      std::printf(" (median %.3f, range %.3f..%.3f)", ratios[(ratios.size() - 1) / 2],
                  ratios.front(), ratios.back());
  }
  std::printf("\n");
}

void printSplit(const Pooled& o) {
  if (o.windows.empty()) return;
  std::printf(
      "[figures] per-stage split, %s (capture -> stage output, median of %zu status-page "
      "windows' p50): capture %.2f ms, encode %.2f ms, net %.2f ms\n",
      o.name.c_str(), o.windows.size(), medianStageP50(o, "capture"), medianStageP50(o, "encode"),
      medianStageP50(o, "net"));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "funkhaus_pipeline_bench: capture -> last RTP packet sent, per frame, for the real three "
      "processes under funkhausd and the same stage code in one process, one after the other."};
  app.add_option("--seconds", o.seconds,
                 "measured seconds per variant, split over the rounds (default 20)")
      ->check(CLI::Range(1u, 3600u));
  app.add_option("--rounds", o.rounds,
                 "rounds; each runs every variant once, in alternating order (default 4)")
      ->check(CLI::Range(1u, 100u));
  app.add_option("--warmup", o.warmup,
                 "seconds after the first frame before measuring, per round (default 3)")
      ->check(CLI::Range(0u, 600u));
  app.add_option("--width", o.settings.width, "frame width (default 1920)")
      ->check(CLI::Range(256u, 16384u));
  app.add_option("--height", o.settings.height, "frame height (default 1080)")
      ->check(CLI::Range(64u, 16384u));
  app.add_option("--fps", o.settings.fps, "frames per second (default 60)")
      ->check(CLI::Range(capture::kMinFps, capture::kMaxFps));
  app.add_option("--variants", o.variants,
                 "comma-separated: processes, single, threads (default all three)")
      ->delimiter(',')
      ->check(CLI::IsMember({"processes", "single", "threads"}));
  app.add_flag("--verbose", o.verbose, "log the in-process stages' info messages");
  app.add_flag("--stats", o.settings.stats_capture,
               "the three-process variant runs with a stats capture armed in funkhausd (the "
               "recorder's overhead)");
  app.add_flag("--peers", o.peers,
               "instead: funkhaus, GStreamer and ffmpeg capturing the same X display, draw -> "
               "last RTP packet and CPU of each (bench/README.md, Peers)");
  app.add_option("--bitrate", o.bitrate_kbps, "--peers: kbit/s of every tool (default 8000)")
      ->check(CLI::Range(100u, 500'000u));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "funkhaus_pipeline_bench: %s (see --help)\n", e.what());
    return abi::kExitBadConfig;
  }
  if (o.settings.width % 2 != 0 || o.settings.height % 2 != 0) {
    std::fprintf(stderr, "funkhaus_pipeline_bench: --width and --height must be even (I420)\n");
    return abi::kExitBadConfig;
  }
  if (o.peers) {
    spdlog::set_level(o.verbose ? spdlog::level::info : spdlog::level::warn);
    PeersOptions p;
    p.width = o.settings.width;
    p.height = o.settings.height;
    p.fps = o.settings.fps;
    p.bitrate_kbps = o.bitrate_kbps;
    p.seconds = o.seconds;
    p.rounds = o.rounds;
    p.warmup = o.warmup;
    p.verbose = o.verbose;
    return runPeers(p);
  }
  std::vector<std::string> keys;
  for (const std::string& v : o.variants)
    if (std::find(keys.begin(), keys.end(), v) == keys.end()) keys.push_back(v);
  spdlog::set_level(o.verbose ? spdlog::level::info : spdlog::level::warn);
  auto config = hostConfig(o.settings);
  if (!config) {
    std::fprintf(stderr, "funkhaus_pipeline_bench: %s\n", config.error().message.c_str());
    return abi::kExitBadConfig;
  }
  const uint64_t round_ns = uint64_t{o.seconds} * 1'000'000'000 / o.rounds;

  std::printf(
      "funkhaus_pipeline_bench: %ux%u @ %u fps, %s preset %s %u kbit/s (the host's defaults); "
      "%u s measured per variant in %u round(s) of %.1f s, each after %u s of warm-up\n",
      o.settings.width, o.settings.height, o.settings.fps, config->encode.encoder.c_str(),
      config->encode.preset.c_str(), config->encode.bitrate_kbps, o.seconds, o.rounds,
      static_cast<double>(round_ns) / 1e9, o.warmup);
  std::printf("machine: %s, %ld CPUs online\n", cpuModel().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf(
      "latency = capture time (the capture stage's clock reading at the frame's deadline, before "
      "it draws) -> the kernel's receive stamp of the frame's last RTP packet (marker) on "
      "loopback, taken inside the sender's sendmmsg; the sink recovers the capture time from the "
      "RTP timestamp (90 kHz, +-5.6 us) through the RTCP sender reports. Frames captured within "
      "the measured window count.\n");

  std::map<std::string, Pooled> pooled;
  for (uint32_t round = 0; round < o.rounds; ++round) {
    // Alternate the order (A B C, C B A, ...) so that a drift of the machine over the run
    // weighs on every variant alike.
    std::vector<std::string> order = keys;
    if (round % 2 == 1) std::reverse(order.begin(), order.end());
    for (const std::string& key : order) {
      RoundResult r = runRound(key, o, round_ns, round);
      Pooled& p = pooled[key];
      p.key = key;
      p.name = r.name;
      if (!r.error.empty()) p.errors.push_back(fmt::format("round {}: {}", round + 1, r.error));
      p.rounds.push_back(percentilesOf(r.latencies_ns));
      p.latencies_ns.insert(p.latencies_ns.end(), r.latencies_ns.begin(), r.latencies_ns.end());
      p.expected += r.expected;
      p.incomplete += r.incomplete;
      p.windows.insert(p.windows.end(), r.windows.begin(), r.windows.end());
    }
  }
  for (auto& [key, p] : pooled) p.latency = percentilesOf(p.latencies_ns);

  std::printf("\n=== summary: %ux%u @ %u fps, %u s per variant in %u round(s)\n", o.settings.width,
              o.settings.height, o.settings.fps, o.seconds, o.rounds);
  std::printf("%-40s %7s %7s %8s %8s %8s %8s   p50 per round (ms)\n", "variant", "frames", "due",
              "p50 ms", "p99 ms", "mean ms", "max ms");
  bool all_ran = true;
  for (const std::string& key : keys) {
    const Pooled& p = pooled[key];
    if (!p.ran()) {
      all_ran = false;
      std::printf("%-40s FAILED:", p.name.c_str());
      for (const std::string& e : p.errors) std::printf(" %s;", e.c_str());
      std::printf("\n");
      continue;
    }
    std::printf("%-40s %7zu %7zu %8.2f %8.2f %8.2f %8.2f  ", p.name.c_str(), p.latency.count,
                p.expected, p.latency.p50_ms, p.latency.p99_ms, p.latency.mean_ms,
                p.latency.max_ms);
    for (const Percentiles& r : p.rounds) std::printf(" %.2f", r.p50_ms);
    std::printf("\n");
  }
  for (const std::string& key : keys) {
    const Pooled& p = pooled[key];
    if (p.ran())
      std::printf(
          "[figures] %s: capture -> last RTP packet sent p50 %.2f ms, p99 %.2f ms over %zu "
          "frames\n",
          p.name.c_str(), p.latency.p50_ms, p.latency.p99_ms, p.latency.count);
  }
  const Pooled* processes = pooled.count("processes") ? &pooled["processes"] : nullptr;
  const Pooled* single = pooled.count("single") ? &pooled["single"] : nullptr;
  const Pooled* threads = pooled.count("threads") ? &pooled["threads"] : nullptr;
  if (processes && single) printRatio(*processes, *single);
  if (threads && single) printRatio(*threads, *single);
  if (processes && threads) printRatio(*processes, *threads);
  for (const std::string& key : keys) printSplit(pooled[key]);
  if (processes && processes->ran())
    std::printf("target: three-process p50 <= %.0f ms: %.2f ms, %s\n", kTargetP50Ms,
                processes->latency.p50_ms,
                processes->latency.p50_ms <= kTargetP50Ms ? "met" : "NOT met");
  if (processes && single && processes->ran() && single->ran()) {
    const double ratio = processes->latency.p50_ms / single->latency.p50_ms;
    std::printf("target: three-process / one-process p50 <= %.2f: %.3f, %s\n", kTargetRatio, ratio,
                ratio <= kTargetRatio ? "met" : "NOT met");
  }
  // Figures never fail the run; a variant that could not run does.
  return all_ran ? 0 : 1;
}
