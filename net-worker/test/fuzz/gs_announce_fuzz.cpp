// Fuzz target: the SDP body of a GameStream ANNOUNCE. Parses into parameters inside their ranges
// or is refused with a message.
// fuzz-parser: net-worker/source/gamestream/announce.cpp
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../gamestream/handshake_test_data.h"
#include "funkhaus/net/gamestream/announce.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::net::gamestream;
  const auto r = parseAnnounce(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!r) {
    if (r.error().message.empty()) __builtin_trap();
    return 0;
  }
  const StreamParams& p = *r;
  if (size > kMaxAnnounceBody || p.width == 0 || p.width > 8192 || p.width % 2 != 0 ||
      p.height == 0 || p.height > 8192 || p.height % 2 != 0 || p.fps == 0 || p.fps > 480 ||
      p.packet_size < 64 || p.packet_size > 9000 || static_cast<uint32_t>(p.video_format) > 2 ||
      p.bitrate_kbps == 0 || static_cast<uint32_t>(p.colour_space) > 2 || p.slices_per_frame == 0 ||
      p.audio_channels == 0 || p.audio_channels > 8 ||
      (p.audio_packet_duration_ms != 5 && p.audio_packet_duration_ms != 10))
    __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using funkhaus::net::gamestream::testing::AnnounceBody;
  std::vector<std::vector<uint8_t>> out;
  for (const std::string& s : {AnnounceBody().text(), AnnounceBody().text("\n"),
                               AnnounceBody()
                                   .set("x-nv-vqos[0].bitStreamFormat", "1")
                                   .set("x-ss-general.encryptionEnabled", "7")
                                   .set("x-nv-audio.surround.numChannels", "8")
                                   .erase("x-ml-video.configuredBitrateKbps")
                                   .text()})
    out.emplace_back(s.begin(), s.end());
  return out;
}
