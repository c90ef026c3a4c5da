// Standalone fuzz driver for builds without libFuzzer (the ctest fuzz_NAME_smoke): replays the
// target's checked-in corpus (--corpus DIR, the regression inputs) and files given on the command
// line, then mutates the target's valid seeds deterministically (bit flips, field overwrites,
// truncation), feeding each to LLVMFuzzerTestOneInput. Writes the valid seeds as a libFuzzer seed
// corpus with --write-seeds DIR.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// Valid inputs to mutate, defined by each fuzz target next to LLVMFuzzerTestOneInput.
std::vector<std::vector<uint8_t>> fuzzSeeds();

namespace {

// Every regular file under dir, sorted (a stable order); none when dir does not exist (a target
// may have no corpus yet).
std::vector<std::string> corpusFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 10000;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::strtol(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--corpus") == 0 && i + 1 < argc) {
      const auto found = corpusFiles(argv[++i]);
      files.insert(files.end(), found.begin(), found.end());
    } else if (std::strcmp(argv[i], "--write-seeds") == 0 && i + 1 < argc) {
      // Seed corpus for a libFuzzer build (FUNKHAUS_LIBFUZZER=ON): one file per seed.
      const std::string dir = argv[++i];
      int n = 0;
      for (const auto& seed : fuzzSeeds()) {
        std::ofstream out(dir + "/seed-" + std::to_string(n++), std::ios::binary);
        out.write(reinterpret_cast<const char*>(seed.data()),
                  static_cast<std::streamsize>(seed.size()));
      }
      std::printf("wrote %d seeds to %s\n", n, dir.c_str());
      return 0;
    } else {
      files.emplace_back(argv[i]);
    }
  }
  for (const auto& file : files) {
    // Names the input a crash happened on (the last line before it).
    std::fprintf(stderr, "fuzz driver: replaying %s\n", file.c_str());
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "fuzz driver: cannot read %s\n", file.c_str());
      return 1;
    }
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  const auto base = fuzzSeeds();
  std::mt19937_64 rng(0xF00D);
  static const uint64_t kInteresting[] = {
      0,    1,          2,          31,           32,
      63,   64,         255,        256,          4095,
      4096, 0x7FFFFFFF, 0xFFFFFFFF, ~uint64_t{0}, uint64_t{1} << 40};
  for (long it = 0; it < iterations; ++it) {
    std::vector<uint8_t> input = base[static_cast<size_t>(it) % base.size()];
    const int mutations = 1 + static_cast<int>(rng() % 6);
    for (int m = 0; m < mutations; ++m) {
      // Bias towards the headers, where the parsing happens.
      const size_t limit = rng() % 4 == 0 ? input.size() : std::min<size_t>(input.size(), 512);
      const size_t pos = rng() % limit;
      switch (rng() % 4) {
        case 0:
          input[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          input[pos] = static_cast<uint8_t>(rng());
          break;
        case 2: {
          const uint64_t v = kInteresting[rng() % std::size(kInteresting)];
          const size_t at = pos & ~size_t{3};
          std::memcpy(input.data() + at, &v,
                      std::min<size_t>(rng() % 2 ? 4 : 8, input.size() - at));
          break;
        }
        case 3:
          input.resize(1 + rng() % input.size());
          break;
      }
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  std::printf("fuzz driver: %ld mutated inputs and %zu files ran without a crash\n", iterations,
              files.size());
  return 0;
}
