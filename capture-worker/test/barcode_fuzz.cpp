// Fuzz target: readBarcode on arbitrary decoded luma (frames come from other processes and
// from decoders of network streams). Any input reads as a barcode or a clear error; a barcode
// that reads re-stamps to one that reads the same.
// fuzz-parser: capture-worker/source/barcode.cpp
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "funkhaus/capture/barcode.h"

namespace {

// Input: width (2 bytes LE, 0..1023 + 1), height (1 byte + 1), stride padding (1 byte), then
// the luma rows (zero-padded when short).
struct Frame {
  uint32_t width, height, stride;
  std::vector<uint8_t> luma;
};

Frame frameOf(const uint8_t* data, size_t size) {
  Frame f{};
  f.width = 1 + ((data[0] | uint32_t{data[1]} << 8) % 1024);
  f.height = 1 + data[2];
  f.stride = f.width + data[3] % 64;
  f.luma.assign(size_t{f.stride} * f.height, 0);
  std::memcpy(f.luma.data(), data + 4, std::min(size - 4, f.luma.size()));
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::capture;
  if (size < 4) return 0;
  Frame f = frameOf(data, size);
  auto read = readBarcode(f.luma.data(), f.stride, f.width, f.height);
  if (!read) return 0;
  std::vector<uint8_t> again(f.luma.size(), 128);
  if (!stampBarcode(again.data(), f.stride, f.width, f.height, *read)) __builtin_trap();
  auto reread = readBarcode(again.data(), f.stride, f.width, f.height);
  if (!reread || !(*reread == *read)) __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus::capture;
  std::vector<std::vector<uint8_t>> out;
  struct Size {
    uint32_t w, h, pad;
  };
  for (Size s : {Size{64, 12, 0}, Size{64, 16, 3}, Size{256, 48, 0}}) {
    std::vector<uint8_t> seed = {static_cast<uint8_t>((s.w - 1) & 0xFF),
                                 static_cast<uint8_t>((s.w - 1) >> 8),
                                 static_cast<uint8_t>(s.h - 1), static_cast<uint8_t>(s.pad)};
    std::vector<uint8_t> luma(size_t{s.w + s.pad} * s.h, 90);
    (void)stampBarcode(luma.data(), s.w + s.pad, s.w, s.h, {0x1234, 0xABCDEF});
    seed.insert(seed.end(), luma.begin(), luma.end());
    out.push_back(seed);
  }
  return out;
}
