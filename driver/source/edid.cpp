// CVT reduced-blanking timing (VESA CVT 1.2) and EDID 1.4 / CTA-861.3 block building.
#include "funkhaus/vdisplay/edid.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace funkhaus::vdisplay {
namespace {

constexpr double kRbMinVBlankUs = 460.0;
constexpr uint32_t kRbHBlank = 160;
constexpr uint32_t kRbHSync = 32;
constexpr uint32_t kRbVFrontPorch = 3;
constexpr uint32_t kMinVBackPorch = 6;
constexpr double kClockStepMHz = 0.25;
constexpr uint32_t kCellGranularity = 8;

constexpr uint32_t kDpi = 96;  // the physical size we claim, matching Xvfb's -dpi 96

// CVT vertical sync width by aspect ratio (the standard's integer test, as its reference
// implementations evaluate it: truncating division).
uint32_t cvtVSync(uint32_t w, uint32_t h) {
  if (h * 4 / 3 == w) return 4;
  if (h * 16 / 9 == w) return 5;
  if (h * 16 / 10 == w) return 6;
  if (h % 4 == 0 && h * 5 / 4 == w) return 7;
  if (h * 15 / 9 == w) return 7;
  return 10;  // custom aspect ratio
}

// EDID's "character" descriptors: text, then a newline, padded with spaces.
void textDescriptor(uint8_t* d, uint8_t tag, const std::string& text) {
  std::memset(d, 0, 18);
  d[3] = tag;
  const size_t n = std::min<size_t>(text.size(), 13);
  std::memcpy(d + 5, text.data(), n);
  if (n < 13) {
    d[5 + n] = 0x0A;
    for (size_t i = n + 1; i < 13; ++i) d[5 + i] = 0x20;
  }
}

Result<void> detailedTiming(uint8_t* d, const VideoTiming& t) {
  const uint64_t clock_10khz = t.pixel_clock_hz / 10'000;
  const uint32_t h_blank = t.h_front + t.h_sync + t.h_back;
  const uint32_t v_blank = t.v_front + t.v_sync + t.v_back;
  if (clock_10khz == 0 || clock_10khz > 0xFFFF || t.h_active > 0xFFF || h_blank > 0xFFF ||
      t.v_active > 0xFFF || v_blank > 0xFFF || t.h_front > 0x3FF || t.h_sync > 0x3FF ||
      t.v_front > 0x3F || t.v_sync > 0x3F)
    return makeError("timing {}x{} with a {} Hz pixel clock does not fit a detailed timing",
                     t.h_active, t.v_active, t.pixel_clock_hz);
  const uint32_t h_mm = millimetresAt96Dpi(t.h_active);
  const uint32_t v_mm = millimetresAt96Dpi(t.v_active);
  d[0] = static_cast<uint8_t>(clock_10khz & 0xFF);
  d[1] = static_cast<uint8_t>(clock_10khz >> 8);
  d[2] = static_cast<uint8_t>(t.h_active & 0xFF);
  d[3] = static_cast<uint8_t>(h_blank & 0xFF);
  d[4] = static_cast<uint8_t>(((t.h_active >> 8) << 4) | (h_blank >> 8));
  d[5] = static_cast<uint8_t>(t.v_active & 0xFF);
  d[6] = static_cast<uint8_t>(v_blank & 0xFF);
  d[7] = static_cast<uint8_t>(((t.v_active >> 8) << 4) | (v_blank >> 8));
  d[8] = static_cast<uint8_t>(t.h_front & 0xFF);
  d[9] = static_cast<uint8_t>(t.h_sync & 0xFF);
  d[10] = static_cast<uint8_t>(((t.v_front & 0xF) << 4) | (t.v_sync & 0xF));
  d[11] = static_cast<uint8_t>(((t.h_front >> 8) << 6) | ((t.h_sync >> 8) << 4) |
                               ((t.v_front >> 4) << 2) | (t.v_sync >> 4));
  d[12] = static_cast<uint8_t>(h_mm & 0xFF);
  d[13] = static_cast<uint8_t>(v_mm & 0xFF);
  d[14] = static_cast<uint8_t>(((h_mm >> 8) << 4) | (v_mm >> 8));
  d[15] = 0;  // no borders
  d[16] = 0;
  // Non-interlaced, no stereo, digital separate sync with the two polarities.
  d[17] =
      static_cast<uint8_t>(0x18 | (t.v_sync_positive ? 0x04 : 0) | (t.h_sync_positive ? 0x02 : 0));
  return {};
}

// Display range limits around the timings we offer (the preferred one and 640x480@60 with its
// 59.94 Hz, 31.47 kHz and 25.175 MHz), when the fields can express them.
bool rangeLimits(uint8_t* d, const VideoTiming& t) {
  const double v_hz = t.refreshHz();
  const double h_khz = static_cast<double>(t.pixel_clock_hz) / t.hTotal() / 1000.0;
  const auto v_min = std::min<uint32_t>(static_cast<uint32_t>(std::floor(v_hz)), 59);
  const auto v_max = std::max<uint32_t>(static_cast<uint32_t>(std::ceil(v_hz)), 60);
  const auto h_min = std::min<uint32_t>(static_cast<uint32_t>(std::floor(h_khz)), 31);
  const auto h_max = std::max<uint32_t>(static_cast<uint32_t>(std::ceil(h_khz)), 32);
  const auto clock_10mhz =
      std::max<uint32_t>(static_cast<uint32_t>((t.pixel_clock_hz + 9'999'999) / 10'000'000), 3);
  if (v_min < 1 || v_max > 255 || h_min < 1 || h_max > 255 || clock_10mhz > 255) return false;
  std::memset(d, 0, 18);
  d[3] = 0xFD;
  d[4] = 0;  // no +255 offsets
  d[5] = static_cast<uint8_t>(v_min);
  d[6] = static_cast<uint8_t>(v_max);
  d[7] = static_cast<uint8_t>(h_min);
  d[8] = static_cast<uint8_t>(h_max);
  d[9] = static_cast<uint8_t>(clock_10mhz);
  d[10] = 0x01;  // range limits only, no formula
  d[11] = 0x0A;
  for (int i = 12; i < 18; ++i) d[i] = 0x20;
  return true;
}

void setChecksum(uint8_t* block) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < kEdidBlockSize; ++i) sum += block[i];
  block[kEdidBlockSize - 1] = static_cast<uint8_t>((256 - sum % 256) % 256);
}

// CIE xy to the 10-bit EDID encoding.
uint32_t chroma(double v) { return static_cast<uint32_t>(std::lround(v * 1024.0)); }

}  // namespace

double VideoTiming::refreshHz() const {
  const uint64_t total = uint64_t{hTotal()} * vTotal();
  return total == 0 ? 0.0 : static_cast<double>(pixel_clock_hz) / static_cast<double>(total);
}

Result<VideoTiming> cvtReducedBlanking(uint32_t width, uint32_t height, uint32_t refresh_millihz) {
  if (width == 0 || height == 0 || refresh_millihz == 0)
    return makeError("CVT: {}x{} at {} mHz is empty", width, height, refresh_millihz);
  if (width % kCellGranularity != 0)
    return makeError("CVT: width {} is not a multiple of the {}-pixel cell", width,
                     kCellGranularity);
  const double field_rate = refresh_millihz / 1000.0;
  const double frame_us = 1'000'000.0 / field_rate;
  if (frame_us <= kRbMinVBlankUs)
    return makeError("CVT: {} Hz leaves no time outside the {} us vertical blank", field_rate,
                     kRbMinVBlankUs);
  VideoTiming t;
  t.h_active = width;
  t.v_active = height;
  t.v_sync = cvtVSync(width, height);
  const double h_period_est_us = (frame_us - kRbMinVBlankUs) / height;
  const auto vbi_lines = static_cast<uint32_t>(std::floor(kRbMinVBlankUs / h_period_est_us)) + 1;
  const uint32_t v_blank = std::max(vbi_lines, kRbVFrontPorch + t.v_sync + kMinVBackPorch);
  t.v_front = kRbVFrontPorch;
  t.v_back = v_blank - kRbVFrontPorch - t.v_sync;
  t.h_sync = kRbHSync;
  t.h_front = kRbHBlank / 2 - kRbHSync;
  t.h_back = kRbHBlank / 2;
  const double total_pixels = width + kRbHBlank;
  const double total_lines = height + v_blank;
  const double clock_mhz =
      std::floor(field_rate * total_lines * total_pixels / 1e6 / kClockStepMHz) * kClockStepMHz;
  if (clock_mhz <= 0)
    return makeError("CVT: {}x{} at {} Hz rounds to a zero pixel clock", width, height, field_rate);
  t.pixel_clock_hz = static_cast<uint64_t>(std::llround(clock_mhz * 1e6));
  t.h_sync_positive = true;
  t.v_sync_positive = false;
  return t;
}

uint8_t edidBlockSum(std::span<const uint8_t> block) {
  uint32_t sum = 0;
  for (size_t i = 0; i < block.size() && i < kEdidBlockSize; ++i) sum += block[i];
  return static_cast<uint8_t>(sum % 256);
}

Result<std::vector<uint8_t>> buildEdid(const EdidParams& p) {
  std::vector<uint8_t> edid(p.hdr ? 2 * kEdidBlockSize : kEdidBlockSize, 0);
  uint8_t* b = edid.data();
  static constexpr uint8_t kHeader[8] = {0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00};
  std::memcpy(b, kHeader, sizeof kHeader);
  // Manufacturer "FNK": three 5-bit letters ('A' = 1), big-endian.
  const uint16_t vendor =
      static_cast<uint16_t>((('F' - '@') << 10) | (('N' - '@') << 5) | ('K' - '@'));
  b[8] = static_cast<uint8_t>(vendor >> 8);
  b[9] = static_cast<uint8_t>(vendor & 0xFF);
  b[10] = 0x44;  // product code 0x5644 ("VD"), little-endian
  b[11] = 0x56;
  for (int i = 0; i < 4; ++i) b[12 + i] = static_cast<uint8_t>(p.serial >> (8 * i));
  b[16] = 0;            // week unspecified
  b[17] = 2024 - 1990;  // year of manufacture
  b[18] = 1;            // EDID 1.4
  b[19] = 4;
  // Digital input, DisplayPort, 8 bits per colour (10 with HDR).
  b[20] = static_cast<uint8_t>(0x80 | (p.hdr ? 0x30 : 0x20) | 0x05);
  // Maximum image size in cm; at least 10 cm a side (smaller is "dubious" to EDID parsers).
  const uint32_t h_cm =
      std::clamp<uint32_t>((millimetresAt96Dpi(p.timing.h_active) + 5) / 10, 10, 255);
  const uint32_t v_cm =
      std::clamp<uint32_t>((millimetresAt96Dpi(p.timing.v_active) + 5) / 10, 10, 255);
  b[21] = static_cast<uint8_t>(h_cm);
  b[22] = static_cast<uint8_t>(v_cm);
  b[23] = 120;  // gamma 2.2
  // RGB 4:4:4, sRGB default colour space, preferred timing is native.
  b[24] = 0x06;
  // sRGB primaries and D65 white.
  const uint32_t rx = chroma(0.640), ry = chroma(0.330), gx = chroma(0.300), gy = chroma(0.600);
  const uint32_t bx = chroma(0.150), by = chroma(0.060), wx = chroma(0.3127), wy = chroma(0.3290);
  b[25] = static_cast<uint8_t>(((rx & 3) << 6) | ((ry & 3) << 4) | ((gx & 3) << 2) | (gy & 3));
  b[26] = static_cast<uint8_t>(((bx & 3) << 6) | ((by & 3) << 4) | ((wx & 3) << 2) | (wy & 3));
  b[27] = static_cast<uint8_t>(rx >> 2);
  b[28] = static_cast<uint8_t>(ry >> 2);
  b[29] = static_cast<uint8_t>(gx >> 2);
  b[30] = static_cast<uint8_t>(gy >> 2);
  b[31] = static_cast<uint8_t>(bx >> 2);
  b[32] = static_cast<uint8_t>(by >> 2);
  b[33] = static_cast<uint8_t>(wx >> 2);
  b[34] = static_cast<uint8_t>(wy >> 2);
  // Established timings: 640x480@60 (CTA-861 requires it of every sink), nothing else.
  b[35] = 0x20;
  b[36] = 0;
  b[37] = 0;
  for (int i = 38; i < 54; ++i) b[i] = 0x01;  // no standard timings
  if (auto dtd = detailedTiming(b + 54, p.timing); !dtd) return dtd.error();
  if (!rangeLimits(b + 72, p.timing)) {
    std::memset(b + 72, 0, 18);
    b[72 + 3] = 0x10;  // dummy descriptor
  }
  textDescriptor(b + 90, 0xFC, p.name);
  // The serial is the binary one above; CTA-861 wants no serial string beside it.
  std::memset(b + 108, 0, 18);
  b[108 + 3] = 0x10;  // dummy descriptor
  b[126] = p.hdr ? 1 : 0;
  setChecksum(b);

  if (p.hdr) {
    uint8_t* c = b + kEdidBlockSize;
    c[0] = 0x02;  // CTA-861 extension
    c[1] = 0x03;  // revision 3
    c[3] = 0x80;  // IT formats underscanned; no audio, no YCbCr; no native DTDs
    size_t at = 4;
    // Video capability data block: RGB quantization range selectable, never overscanned.
    c[at++] = (7 << 5) | 2;
    c[at++] = 0x00;
    c[at++] = 0x40 | 0x08 | 0x02;  // QS; S_PT 0 (= S_IT, S_CE); S_IT, S_CE underscanned
    // Colorimetry data block: BT.2020 RGB.
    c[at++] = (7 << 5) | 3;
    c[at++] = 0x05;
    c[at++] = 0x80;
    c[at++] = 0x00;
    // HDR static metadata data block: EOTFs traditional SDR, SMPTE ST 2084 (PQ) and HLG;
    // static metadata type 1; ~1000 cd/m2 peak, 400 cd/m2 frame average, 0.05 cd/m2 minimum.
    c[at++] = (7 << 5) | 6;
    c[at++] = 0x06;
    c[at++] = 0x01 | 0x04 | 0x08;
    c[at++] = 0x01;
    c[at++] = 138;                    // 50 * 2^(138/32) = 994 cd/m2
    c[at++] = 96;                     // 50 * 2^(96/32) = 400 cd/m2
    c[at++] = 18;                     // 994 * (18/255)^2 / 100 = 0.05 cd/m2
    c[2] = static_cast<uint8_t>(at);  // no detailed timings follow the data blocks
    setChecksum(c);
  }
  return edid;
}

uint32_t millimetresAt96Dpi(uint32_t pixels) { return (pixels * 254 + kDpi * 5) / (kDpi * 10); }

}  // namespace funkhaus::vdisplay
