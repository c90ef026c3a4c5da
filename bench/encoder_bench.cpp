// funkhaus_encoder_bench: the same clip (the synthetic source's moving picture with its barcode,
// rendered once up front) through funkhaus's own Encoder, paced like capture, for each encoder
// setting in turn; prints per variant encode latency (frame due -> access unit out) p50/p99,
// bitrate against the target, PSNR of the decoded output against the source, and the CPU the
// process used. Issue 15; see bench/README.md "Encoder settings".
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/bench/encoder_run.h"
#include "funkhaus/bench/machine.h"
#include "funkhaus/common/percentile.h"

namespace {

using namespace funkhaus;
using namespace funkhaus::bench;

struct Options {
  uint32_t frames = 600;
  std::optional<uint32_t> seconds;
  uint32_t rounds = 3;
  uint32_t warmup = 60;  // frames at the start of each run left out of every figure
  uint32_t width = 1920, height = 1080, fps = 60;
  uint64_t bitrate = 8'000'000;
  std::string preset = "superfast";
  std::vector<std::string> variants;
  uint32_t max_other = 15;  // % of one core others may use in a run before it is run again
  uint32_t tries = 3;
  bool verbose = false;
};

// One variant pooled over its rounds.
struct Pooled {
  EncoderVariant variant;
  std::vector<std::string> errors;
  std::vector<uint64_t> latencies_ns;
  std::vector<uint64_t> unit_bytes;  // of the measured units
  std::vector<double> round_p50_ms;
  uint32_t disturbed = 0;  // runs left out: others used more than --max-other in every try
  uint64_t bytes = 0;      // of the measured units
  uint64_t covered = 0;    // frame intervals the measured units span
  uint64_t cpu_ns = 0, wall_ns = 0, machine_busy_ns = 0;
  uint64_t skipped = 0, handed_in = 0, units = 0, pictures = 0;
  SquaredError error;
  std::string x264_options;
};

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

// The settings x264 reports for itself that the variants change.
std::string x264Summary(const std::string& text) {
  if (text.empty()) return "no x264 SEI";
  const auto o = parseX264Options(text);
  auto get = [&](const char* k) {
    auto it = o.find(k);
    return it == o.end() ? std::string("?") : it->second;
  };
  return fmt::format(
      "threads={} lookahead_threads={} sliced_threads={} slices={} rc_lookahead={} mbtree={} "
      "rc={} vbv_maxrate={} vbv_bufsize={}",
      get("threads"), get("lookahead_threads"), get("sliced_threads"), get("slices"),
      get("rc_lookahead"), get("mbtree"), get("rc"), get("vbv_maxrate"), get("vbv_bufsize"));
}

// Runs one variant once and adds it to its pool. False when it could not run.
// What the rest of the machine used during a run, in % of one core.
double otherLoad(const EncoderRun& run) {
  if (run.machine_busy_ns <= run.cpu_ns) return 0;
  return 100.0 * static_cast<double>(run.machine_busy_ns - run.cpu_ns) /
         static_cast<double>(run.wall_ns);
}

bool runOnce(const Clip& clip, const Options& o, Pooled& pool, uint32_t round) {
  std::printf("round %u %-20s ", round + 1, pool.variant.key.c_str());
  std::fflush(stdout);
  auto run = runPaced(clip, pool.variant.config);
  // A run that shared the machine with something else is run again (the latest try is kept).
  for (uint32_t t = 1; run && t < o.tries && otherLoad(*run) > o.max_other; ++t) {
    std::printf("(others used %.0f %% of a core: again) ", otherLoad(*run));
    std::fflush(stdout);
    run = runPaced(clip, pool.variant.config);
  }
  if (!run) {
    pool.errors.push_back(run.error().message);
    std::printf("FAILED: %s\n", run.error().message.c_str());
    return false;
  }
  const bool disturbed = otherLoad(*run) > o.max_other;
  std::vector<uint64_t> lat, sizes;
  uint64_t bytes = 0;
  uint32_t first = UINT32_MAX, last = 0;
  for (const EncodedUnit& u : run->units) {
    if (u.source == UINT32_MAX || u.source < o.warmup) continue;
    lat.push_back(u.out_ns - u.due_ns);
    bytes += u.data.size();
    sizes.push_back(u.data.size());
    first = std::min(first, u.source);
    last = std::max(last, u.source);
  }
  size_t pictures = 0;
  auto quality = qualityOf(clip, run->units, o.warmup, &pictures);
  if (!quality) {
    pool.errors.push_back(quality.error().message);
    std::printf("FAILED: %s\n", quality.error().message.c_str());
    return false;
  }
  if (lat.empty()) {
    pool.errors.push_back("no access unit after the warm-up");
    std::printf("FAILED: no access unit after the warm-up\n");
    return false;
  }
  const uint64_t covered = uint64_t{last} - first + 1;
  std::vector<uint64_t> sorted = lat;
  std::sort(sorted.begin(), sorted.end());
  const double p50 = ms(percentileOfSorted<uint64_t>(sorted, 0.50));
  const double p99 = ms(percentileOfSorted<uint64_t>(sorted, 0.99));
  const double rate = static_cast<double>(bytes) * 8 * o.fps / static_cast<double>(covered);
  std::printf(
      "p50 %6.2f ms p99 %6.2f ms  %5.3fx rate  PSNR Y %.2f all %.2f dB  CPU %5.1f %% (machine "
      "%5.1f %%)  %zu units (%u skipped)\n",
      p50, p99, rate / static_cast<double>(pool.variant.config.bitrate), quality->psnrY(),
      quality->psnrAll(), 100.0 * static_cast<double>(run->cpu_ns) / run->wall_ns,
      100.0 * static_cast<double>(run->machine_busy_ns) / run->wall_ns, run->units.size(),
      run->skipped);
  if (disturbed) {
    ++pool.disturbed;
    std::printf("    left out of the figures: others used %.0f %% of a core\n", otherLoad(*run));
    return true;
  }
  if (pool.x264_options.empty()) {
    pool.x264_options = run->x264_options;
    std::printf("    x264: %s\n", x264Summary(run->x264_options).c_str());
  }
  std::fflush(stdout);
  pool.latencies_ns.insert(pool.latencies_ns.end(), lat.begin(), lat.end());
  pool.unit_bytes.insert(pool.unit_bytes.end(), sizes.begin(), sizes.end());
  pool.round_p50_ms.push_back(p50);
  pool.bytes += bytes;
  pool.covered += covered;
  pool.cpu_ns += run->cpu_ns;
  pool.wall_ns += run->wall_ns;
  pool.machine_busy_ns += run->machine_busy_ns;
  pool.skipped += run->skipped;
  pool.handed_in += run->handed_in;
  pool.units += run->units.size();
  pool.pictures += pictures;
  pool.error.add(*quality);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  const encode::EncoderConfig defaults;
  std::vector<std::string> all_keys;
  for (const EncoderVariant& v : encoderVariants(defaults)) all_keys.push_back(v.key);
  CLI::App app{
      "funkhaus_encoder_bench: one clip through funkhaus's Encoder (libx264) with each setting, "
      "paced like capture: latency, bitrate accuracy, PSNR, CPU."};
  app.add_option("--frames", o.frames, "frames in the clip, per run (default 600)")
      ->check(CLI::Range(2u, 36000u));
  app.add_option("--seconds", o.seconds, "clip length in seconds instead of --frames")
      ->check(CLI::Range(1u, 600u));
  app.add_option("--rounds", o.rounds,
                 "rounds; each runs every variant once, order reversed every other round "
                 "(default 3)")
      ->check(CLI::Range(1u, 100u));
  app.add_option("--warmup", o.warmup,
                 "frames at the start of each run left out of the figures (default 60)")
      ->check(CLI::Range(0u, 36000u));
  app.add_option("--width", o.width, "frame width (default 1920)")->check(CLI::Range(256u, 8192u));
  app.add_option("--height", o.height, "frame height (default 1080)")
      ->check(CLI::Range(64u, 8192u));
  app.add_option("--fps", o.fps, "frames per second (default 60)")
      ->check(CLI::Range(1u, encode::kMaxFps));
  app.add_option("--bitrate", o.bitrate, "target bit/s (default 8000000)")
      ->check(CLI::Range(encode::kMinBitrate, encode::kMaxBitrate));
  app.add_option("--preset", o.preset, "x264 preset (default superfast)");
  app.add_option("--variants", o.variants, "comma-separated, default all")
      ->delimiter(',')
      ->check(CLI::IsMember(all_keys));
  app.add_option("--max-other", o.max_other,
                 "a run during which the rest of the machine used more than this % of one core "
                 "is run again, and left out of the figures after --tries (default 15)")
      ->check(CLI::Range(0u, 1000u));
  app.add_option("--tries", o.tries, "runs at most per variant and round (default 3)")
      ->check(CLI::Range(1u, 20u));
  app.add_flag("--verbose", o.verbose, "log the encoder's info messages");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    std::printf("\nvariants:\n");
    for (const EncoderVariant& v : encoderVariants(defaults))
      std::printf("  %-20s %s\n", v.key.c_str(), v.what.c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "funkhaus_encoder_bench: %s (see --help)\n", e.what());
    return abi::kExitBadConfig;
  }
  if (o.width % 2 != 0 || o.height % 2 != 0) {
    std::fprintf(stderr, "funkhaus_encoder_bench: --width and --height must be even (I420)\n");
    return abi::kExitBadConfig;
  }
  if (o.seconds) o.frames = *o.seconds * o.fps;
  if (o.warmup >= o.frames) {
    std::fprintf(stderr, "funkhaus_encoder_bench: --warmup must be below the clip's frames\n");
    return abi::kExitBadConfig;
  }
  encode::EncoderConfig base;
  base.bitrate = o.bitrate;
  base.fps = o.fps;
  base.preset = o.preset;
  if (auto valid = encode::validateConfig(base); !valid) {
    std::fprintf(stderr, "funkhaus_encoder_bench: %s\n", valid.error().message.c_str());
    return abi::kExitBadConfig;
  }
  spdlog::set_level(o.verbose ? spdlog::level::info : spdlog::level::warn);
  encode::routeLibavLogToSpdlog();

  std::vector<Pooled> pools;
  for (const EncoderVariant& v : encoderVariants(base))
    if (o.variants.empty() ||
        std::find(o.variants.begin(), o.variants.end(), v.key) != o.variants.end()) {
      Pooled p;
      p.variant = v;
      pools.push_back(std::move(p));
    }

  std::printf(
      "funkhaus_encoder_bench: %ux%u @ %u fps, %u frames per run (%u warm-up left out), "
      "%s %s, %llu bit/s, %u rounds; %s, %ld CPUs online\n",
      o.width, o.height, o.fps, o.frames, o.warmup, base.encoder.c_str(), o.preset.c_str(),
      static_cast<unsigned long long>(o.bitrate), o.rounds, cpuModel().c_str(),
      sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("rendering the clip... ");
  std::fflush(stdout);
  auto clip = Clip::render(o.width, o.height, o.frames);
  if (!clip) {
    std::printf("\n");
    std::fprintf(stderr, "funkhaus_encoder_bench: %s\n", clip.error().message.c_str());
    return abi::kExitBadConfig;
  }
  std::printf("done\n");

  bool all_ran = true;
  for (uint32_t r = 0; r < o.rounds; ++r) {
    std::printf("\n=== round %u\n", r + 1);
    for (size_t i = 0; i < pools.size(); ++i) {
      Pooled& p = pools[r % 2 == 0 ? i : pools.size() - 1 - i];
      all_ran = runOnce(*clip, o, p, r) && all_ran;
    }
  }

  std::printf(
      "\n[figures] %ux%u @ %u fps, %s %s, target %llu bit/s, %u rounds x %u frames pooled "
      "(first %u of each run left out); latency = frame due -> access unit out\n",
      o.width, o.height, o.fps, base.encoder.c_str(), o.preset.c_str(),
      static_cast<unsigned long long>(o.bitrate), o.rounds, o.frames, o.warmup);
  // A unit's size against one frame's share of the rate (bitrate / fps): at the target rate
  // a unit of k budgets needs k frame intervals on the wire.
  const double budget_bytes = static_cast<double>(o.bitrate) / 8 / o.fps;
  std::printf(
      "| variant | p50 ms | p99 ms | p50 per round | rate/target | unit p99/max, frame budgets "
      "| PSNR Y dB | PSNR YUV dB | CPU %% | machine busy %% | skipped | runs left out |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (Pooled& p : pools) {
    if (p.latencies_ns.empty()) {
      std::printf("| %s | not measured: %s |\n", p.variant.key.c_str(),
                  !p.errors.empty() ? p.errors.front().c_str()
                  : p.disturbed > 0 ? "every run shared the machine (--max-other)"
                                    : "no units");
      all_ran = false;
      continue;
    }
    std::sort(p.latencies_ns.begin(), p.latencies_ns.end());
    std::sort(p.unit_bytes.begin(), p.unit_bytes.end());
    std::string rounds;
    for (double r : p.round_p50_ms) rounds += fmt::format("{}{:.2f}", rounds.empty() ? "" : " ", r);
    const double rate = static_cast<double>(p.bytes) * 8 * o.fps / static_cast<double>(p.covered);
    std::printf(
        "| %s | %.2f | %.2f | %s | %.3f | %.2f / %.2f | %.2f | %.2f | %.1f | %.1f | %llu of %llu "
        "| %u |\n",
        p.variant.key.c_str(), ms(percentileOfSorted<uint64_t>(p.latencies_ns, 0.50)),
        ms(percentileOfSorted<uint64_t>(p.latencies_ns, 0.99)), rounds.c_str(),
        rate / static_cast<double>(o.bitrate),
        static_cast<double>(percentileOfSorted<uint64_t>(p.unit_bytes, 0.99)) / budget_bytes,
        static_cast<double>(p.unit_bytes.back()) / budget_bytes, p.error.psnrY(), p.error.psnrAll(),
        100.0 * static_cast<double>(p.cpu_ns) / static_cast<double>(p.wall_ns),
        100.0 * static_cast<double>(p.machine_busy_ns) / static_cast<double>(p.wall_ns),
        static_cast<unsigned long long>(p.skipped),
        static_cast<unsigned long long>(p.skipped + p.handed_in), p.disturbed);
  }
  std::printf("\nx264's own account (its SEI):\n");
  for (const Pooled& p : pools)
    std::printf("  %-20s %s\n", p.variant.key.c_str(), x264Summary(p.x264_options).c_str());
  return all_ran ? 0 : abi::kExitFailure;
}
