// Test helpers for the encode worker: synthetic pictures, rings in one process, a libavcodec
// decoder standing in for a viewer, and a spdlog capture. Used by the encode tests only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/encode/encoder.h"
#include "spdlog/sinks/ringbuffer_sink.h"

namespace funkhaus::encode::test {

enum class Pattern {
  kMoving,  // gradients and a moving box: desktop-like, compresses well
  kNoise,   // fresh pseudo-random noise every frame: every encoder runs at its rate cap
};

// Draws picture `index` of `pattern` into `payload` laid out as `g` (I420, NV12 or BGRA).
void drawPicture(const abi::FrameGeometry& g, std::span<std::byte> payload, uint32_t index,
                 Pattern pattern = Pattern::kMoving);

// The luma (BT.709 limited range for BGRA) a decoder should give back for that picture,
// width x height bytes, even-cropped like the encoder does.
std::vector<uint8_t> expectedLuma(const abi::FrameGeometry& g, std::span<const std::byte> payload);

// Mean absolute difference of two luma planes of the same size.
double meanAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

// A frame ring and a packet ring owned by the test, both sides attached in this process.
struct Rings {
  SharedMemory frame_ring;
  SharedMemory packet_ring;
  std::unique_ptr<FrameProducer> producer;
  std::unique_ptr<FrameConsumer> consumer;
  std::unique_ptr<PacketProducer> packets;
  std::unique_ptr<PacketConsumer> reader;
};
// `capacity_mode` sizes the slots (the largest mode the test will publish).
Rings makeRings(const abi::FrameGeometry& capacity_mode, uint32_t slots = 4);
// Rings as funkhausd owns them: only the owner memfds, nobody attached.
SharedMemory makeFrameRing(const abi::FrameGeometry& capacity_mode, uint32_t slots = 4);
SharedMemory makePacketRing();

// Publishes picture `index` of `pattern` with geometry `g`; returns its token (0: dropped).
uint64_t publishPicture(FrameProducer& producer, const abi::FrameGeometry& g, uint32_t index,
                        uint64_t capture_time_ns, Pattern pattern = Pattern::kMoving);

struct Record {
  abi::PacketRecordHeader header{};
  std::vector<std::byte> payload;
};
// Everything the packet ring holds now.
std::vector<Record> drainRecords(PacketConsumer& reader);

// A libavcodec decoder (h264 or hevc, one thread), like a viewer's.
class Decoder {
 public:
  explicit Decoder(Codec codec);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  struct Picture {
    int width = 0;
    int height = 0;
    int64_t pts = 0;
    bool key_frame = false;
    std::vector<uint8_t> luma;  // width x height
  };
  // Sends one access unit with `pts`; returns the pictures that came out right after it.
  Result<std::vector<Picture>> decode(std::span<const std::byte> access_unit, int64_t pts);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Captures what is logged through spdlog's default logger while alive.
class SpdlogCapture {
 public:
  SpdlogCapture();
  ~SpdlogCapture();
  std::vector<std::string> lines() const;
  // Lines containing every one of `needles`.
  size_t count(const std::vector<std::string>& needles) const;

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// Prints one line of measured figures, prefixed "[figures] ".
void figure(const std::string& line);

}  // namespace funkhaus::encode::test
