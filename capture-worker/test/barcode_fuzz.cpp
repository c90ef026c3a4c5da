// Fuzz target: readBarcode on arbitrary decoded luma (frames come from other processes and
// from decoders of network streams). Any input reads as a barcode or a clear error; a barcode
// that reads re-stamps to one that reads the same.
// fuzz-parser: capture-worker/source/barcode.cpp
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <sanitizer/asan_interface.h>

#include "funkhaus/capture/barcode.h"

namespace {

// Input: width (2 bytes LE, 0..1023 + 1), height (1 byte + 1), stride padding (1 byte), then
// the luma rows (zero-padded when short).
constexpr size_t kMaxPlane = size_t{1024 + 63} * 256;  // the largest stride x height

// A luma plane of `size` bytes in a buffer allocated once. A fresh vector of up to 272 KiB per
// execution (under ASan an mmap, zero-fill and page faults of its own) was 40% of the run's
// time. The plane ends where the buffer ends (ASan's redzone past it) and the bytes before it
// are poisoned, so a read outside the plane is still caught as with a vector of its size.
class Plane {
 public:
  uint8_t* get(size_t size) {
    ASAN_UNPOISON_MEMORY_REGION(buffer_.data(), buffer_.size());
    uint8_t* plane = buffer_.data() + buffer_.size() - size;
    ASAN_POISON_MEMORY_REGION(buffer_.data(), buffer_.size() - size);
    return plane;
  }

 private:
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(kMaxPlane);
};

struct Frame {
  uint32_t width, height, stride;
  uint8_t* luma;
  size_t size;
};

Frame frameOf(const uint8_t* data, size_t size, Plane& plane) {
  Frame f{};
  f.width = 1 + ((data[0] | uint32_t{data[1]} << 8) % 1024);
  f.height = 1 + data[2];
  f.stride = f.width + data[3] % 64;
  f.size = size_t{f.stride} * f.height;
  f.luma = plane.get(f.size);
  const size_t given = std::min(size - 4, f.size);
  std::memcpy(f.luma, data + 4, given);
  std::memset(f.luma + given, 0, f.size - given);
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::capture;
  static Plane input_plane, stamp_plane;
  if (size < 4) return 0;
  const Frame f = frameOf(data, size, input_plane);
  auto read = readBarcode(f.luma, f.stride, f.width, f.height);
  if (!read) return 0;
  uint8_t* again = stamp_plane.get(f.size);
  std::memset(again, 128, f.size);
  if (!stampBarcode(again, f.stride, f.width, f.height, *read)) __builtin_trap();
  auto reread = readBarcode(again, f.stride, f.width, f.height);
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
