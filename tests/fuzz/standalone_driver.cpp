// Standalone fuzz driver for builds without libFuzzer: mutates valid ring images
// deterministically (bit flips, header-field overwrites, truncation) and feeds each to
// LLVMFuzzerTestOneInput. Also replays files given on the command line, and writes the valid
// images as a libFuzzer seed corpus with --write-seeds DIR.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<uint8_t> image(const funkhaus::SharedMemory& shm) {
  auto* p = reinterpret_cast<const uint8_t*>(shm.data());
  return {p, p + shm.size()};
}

// Valid images of both ring kinds, with a published frame / committed records in them, so
// mutations explore the paths past attach.
std::vector<std::vector<uint8_t>> seeds() {
  using namespace funkhaus;
  std::vector<std::vector<uint8_t>> out;
  FrameRingConfig fc;
  fc.slot_count = 3;
  fc.mode = *makeGeometry(abi::PixelFormat::kBgra, 16, 8);
  auto frame_ring = createFrameRing(fc);
  {
    auto producer = FrameProducer::attach(*SharedMemory::attachDup(frame_ring->fd()));
    auto slot = producer->beginFrame();
    producer->publish(*slot, FrameMeta{});
  }
  out.push_back(image(*frame_ring));
  PacketRingConfig pc;
  pc.capacity = 1024;
  pc.max_record_size = 256;
  auto packet_ring = createPacketRing(pc);
  {
    auto producer = PacketProducer::attach(*SharedMemory::attachDup(packet_ring->fd()));
    const std::byte payload[200] = {};
    for (int i = 0; i < 6; ++i) producer->push(PacketMeta{}, payload);
  }
  out.push_back(image(*packet_ring));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 10000;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::strtol(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--write-seeds") == 0 && i + 1 < argc) {
      // Seed corpus for a libFuzzer build (FUNKHAUS_LIBFUZZER=ON): one file per valid image.
      const std::string dir = argv[++i];
      int n = 0;
      for (const auto& seed : seeds()) {
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
    std::ifstream in(file, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  const auto base = seeds();
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
