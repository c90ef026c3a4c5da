// CaptureSource factory and the mode helpers shared by the sources.
#include "funkhaus/capture/capture_source.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "funkhaus/common/clock.h"
#include "sources.h"

namespace funkhaus::capture {

Result<std::unique_ptr<CaptureSource>> CaptureSource::create(const SourceConfig& config,
                                                             uint64_t payload_capacity,
                                                             SourceFailure* failure) {
  SourceFailure ignored = SourceFailure::kTransient;
  if (failure == nullptr) failure = &ignored;
  switch (config.kind) {
    case SourceKind::kSynthetic:
      return createSyntheticSource(config, payload_capacity, failure);
    case SourceKind::kX11:
      return createX11Source(config, payload_capacity, failure);
    case SourceKind::kVdisplay:
      return createVdisplaySource(config, payload_capacity, failure);
  }
  *failure = SourceFailure::kBadConfig;
  return makeError("unknown capture source {}", static_cast<int>(config.kind));
}

bool CaptureSource::waitForFrame(uint64_t until_ns) {
  sleepUntilNs(until_ns);  // EINTR (SIGTERM) just returns early
  return false;
}

Result<abi::FrameGeometry> fitI420(uint32_t src_width, uint32_t src_height, uint32_t max_width,
                                   uint32_t max_height, uint64_t payload_capacity) {
  if (src_width < 2 || src_height < 2)
    return makeError("source size {}x{} is too small", src_width, src_height);
  auto bytesOf = [](uint32_t w, uint32_t h) -> uint64_t {
    auto g = makeGeometry(abi::PixelFormat::kI420, w, h);
    if (!g) return UINT64_MAX;
    auto size = framePayloadSize(*g);
    return size ? *size : UINT64_MAX;
  };
  // Start from the bounding box, then shrink (aspect kept) until the frame fits the slot.
  double scale = std::min({1.0, double(max_width) / src_width, double(max_height) / src_height});
  const double full = static_cast<double>(bytesOf(src_width & ~1u, src_height & ~1u));
  if (full > 0 && full * scale * scale > double(payload_capacity))
    scale = std::min(scale, std::sqrt(double(payload_capacity) / full));
  uint32_t w = std::max<uint32_t>(2, static_cast<uint32_t>(src_width * scale) & ~1u);
  for (; w >= 2; w -= 2) {
    const uint32_t h =
        std::max<uint32_t>(2, static_cast<uint32_t>(uint64_t{w} * src_height / src_width) & ~1u);
    if (w <= max_width && h <= max_height && bytesOf(w, h) <= payload_capacity)
      return makeGeometry(abi::PixelFormat::kI420, w, h);
  }
  return makeError("no I420 frame with the aspect of {}x{} fits inside {}x{} and {} bytes",
                   src_width, src_height, max_width, max_height, payload_capacity);
}

Result<bool> ensureMode(FrameProducer& producer, const abi::FrameGeometry& geometry) {
  if (std::memcmp(&producer.mode(), &geometry, sizeof geometry) == 0) return false;
  if (auto set = producer.setMode(geometry); !set) return set.error();
  return true;
}

}  // namespace funkhaus::capture
