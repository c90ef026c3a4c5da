// Barcode stamping and reading.
#include "funkhaus/capture/barcode.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace funkhaus::capture {

namespace {

// The band, in cell order (row-major): 2 sync bytes, 8 bytes frame number and 8 bytes capture
// time (little-endian), 4 bytes CRC-32 of those 16, 2 sync bytes. Each byte MSB first.
constexpr uint8_t kSyncHead[2] = {0xA5, 0x3C};
constexpr uint8_t kSyncTail[2] = {0xC3, 0x5A};
constexpr size_t kPayloadBytes = 16;
constexpr size_t kBandBytes = 2 + kPayloadBytes + 4 + 2;
static_assert(kBandBytes * 8 == kBarcodeColumns * kBarcodeRows, "every cell carries one bit");

// From this width up blocks are multiples of 8 pixels (x264's transform grid), and from the
// next one up multiples of 16 (whole macroblocks: a cell is coded as a unit even when the
// encoder is starved of bits and only updates some macroblocks).
constexpr uint32_t kGridWidth = 256;
constexpr uint32_t kMacroblockWidth = 1280;
constexpr uint32_t kMinBlock = 2;
// A frame whose sync blocks differ by less than this (of 255) holds no barcode.
constexpr int kMinContrast = 64;

constexpr std::array<uint32_t, 256> makeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = makeCrcTable();

// CRC-32 (IEEE 802.3, as zlib).
uint32_t crc32(const uint8_t* data, size_t size) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = kCrcTable[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void putLe(uint8_t* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}

uint64_t getLe(const uint8_t* in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{in[i]} << (8 * i);
  return v;
}

std::array<uint8_t, kBandBytes> encodeBand(const BarcodeData& data) {
  std::array<uint8_t, kBandBytes> band{};
  uint8_t* p = band.data();
  std::memcpy(p, kSyncHead, 2);
  putLe(p + 2, data.frame_number, 8);
  putLe(p + 10, data.capture_ns, 8);
  putLe(p + 18, crc32(p + 2, kPayloadBytes), 4);
  std::memcpy(p + 22, kSyncTail, 2);
  return band;
}

bool bitOf(const uint8_t* bytes, uint32_t cell) { return (bytes[cell / 8] >> (7 - cell % 8)) & 1; }

bool isSyncCell(uint32_t cell) { return cell < 16 || cell >= (kBandBytes - 2) * 8; }

}  // namespace

Result<BarcodeLayout> barcodeLayout(uint32_t width, uint32_t height) {
  uint32_t block = 0;
  if (width >= kMacroblockWidth) {
    block = std::max<uint32_t>(16, width / 60 / 16 * 16);
  } else if (width >= kGridWidth) {
    block = std::max<uint32_t>(8, width / 80 / 8 * 8);
  } else {
    block = width / kBarcodeColumns;
  }
  if (block < kMinBlock)
    return makeError("a {}x{} frame is too narrow for a barcode (needs width >= {})", width, height,
                     kMinBlock * kBarcodeColumns);
  if (height < block * kBarcodeRows)
    return makeError(
        "a {}x{} frame is too short for a barcode of {}-pixel blocks (needs height "
        ">= {})",
        width, height, block, block * kBarcodeRows);
  return BarcodeLayout{block, block * kBarcodeColumns, block * kBarcodeRows};
}

Result<void> stampBarcode(uint8_t* luma, uint32_t stride, uint32_t width, uint32_t height,
                          const BarcodeData& data) {
  auto layout = barcodeLayout(width, height);
  if (!layout) return layout.error();
  if (stride < width) return makeError("luma stride {} is below the width {}", stride, width);
  const auto band = encodeBand(data);
  const uint32_t b = layout->block;
  for (uint32_t row = 0; row < kBarcodeRows; ++row) {
    // Build one pixel row of this block row, then copy it b times.
    uint8_t* first = luma + uint64_t{row} * b * stride;
    for (uint32_t col = 0; col < kBarcodeColumns; ++col) {
      const bool one = bitOf(band.data(), row * kBarcodeColumns + col);
      std::memset(first + col * b, one ? kBarcodeWhite : kBarcodeBlack, b);
    }
    for (uint32_t y = 1; y < b; ++y)
      std::memcpy(first + uint64_t{y} * stride, first, layout->band_width);
  }
  return {};
}

Result<BarcodeData> readBarcode(const uint8_t* luma, uint32_t stride, uint32_t width,
                                uint32_t height) {
  auto layout = barcodeLayout(width, height);
  if (!layout) return layout.error();
  if (luma == nullptr) return makeError("no luma plane");
  if (stride < width) return makeError("luma stride {} is below the width {}", stride, width);
  const uint32_t b = layout->block;
  // Mean of the centre half of each block: away from the edges, where the codec rings.
  const uint32_t lo = b / 4;
  const uint32_t hi = b - b / 4;
  const uint32_t area = (hi - lo) * (hi - lo);
  constexpr uint32_t kCells = kBarcodeColumns * kBarcodeRows;
  std::array<int, kCells> mean{};
  for (uint32_t cell = 0; cell < kCells; ++cell) {
    const uint32_t x0 = (cell % kBarcodeColumns) * b;
    const uint32_t y0 = (cell / kBarcodeColumns) * b;
    uint32_t sum = 0;
    for (uint32_t y = y0 + lo; y < y0 + hi; ++y) {
      const uint8_t* row = luma + uint64_t{y} * stride + x0;
      for (uint32_t x = lo; x < hi; ++x) sum += row[x];
    }
    mean[cell] = static_cast<int>((sum + area / 2) / area);
  }

  // Black and white levels from the 32 sync cells (half of them ones).
  uint8_t sync_bits[kBandBytes]{};
  std::memcpy(sync_bits, kSyncHead, 2);
  std::memcpy(sync_bits + kBandBytes - 2, kSyncTail, 2);
  int sum_one = 0, sum_zero = 0, ones = 0, zeros = 0;
  for (uint32_t cell = 0; cell < kCells; ++cell) {
    if (!isSyncCell(cell)) continue;
    if (bitOf(sync_bits, cell)) {
      sum_one += mean[cell];
      ++ones;
    } else {
      sum_zero += mean[cell];
      ++zeros;
    }
  }
  const int white = sum_one / ones;
  const int black = sum_zero / zeros;
  const int contrast = white - black;
  if (contrast < kMinContrast)
    return makeError(
        "no barcode: sync blocks differ by {} luma levels (black {}, white {}; needs "
        ">= {})",
        contrast, black, white, kMinContrast);
  const int threshold = (white + black) / 2;
  // A block this close to the threshold is ambiguous: report it rather than guess.
  const int margin = contrast / 5;

  uint8_t bytes[kBandBytes]{};
  for (uint32_t cell = 0; cell < kCells; ++cell) {
    const int m = mean[cell];
    if (m > threshold - margin && m < threshold + margin)
      return makeError(
          "barcode block {} (row {}, column {}) is ambiguous: mean {}, threshold {} "
          "+- {}",
          cell, cell / kBarcodeColumns, cell % kBarcodeColumns, m, threshold, margin);
    const bool one = m >= threshold;
    if (isSyncCell(cell) && one != bitOf(sync_bits, cell))
      return makeError("barcode sync block {} reads {} (mean {}), expected {}", cell, one ? 1 : 0,
                       m, one ? 0 : 1);
    if (one) bytes[cell / 8] |= static_cast<uint8_t>(0x80u >> (cell % 8));
  }
  const uint32_t crc = crc32(bytes + 2, kPayloadBytes);
  const uint32_t stored = static_cast<uint32_t>(getLe(bytes + 18, 4));
  if (crc != stored)
    return makeError("barcode CRC mismatch (stored 0x{:08x}, computed 0x{:08x})", stored, crc);
  return BarcodeData{getLe(bytes + 2, 8), getLe(bytes + 10, 8)};
}

}  // namespace funkhaus::capture
