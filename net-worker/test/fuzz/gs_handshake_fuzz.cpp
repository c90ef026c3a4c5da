// Fuzz target: the bytes a client sends on TCP 48010 (one request per connection). Each parsed
// request is answered under two host configs (HEVC offered, nothing required; and stereo plus
// surround, H.264 only, control encryption required): a 200 is one of the seven steps, a refusal
// has a reason, and the reply's bytes are framed as gamestream.md §4.1 says.
// fuzz-parser: net-worker/source/gamestream/handshake.cpp
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../gamestream/handshake_test_data.h"
#include "funkhaus/net/gamestream/handshake.h"

namespace {

funkhaus::net::gamestream::HandshakeConfig config() {
  funkhaus::net::gamestream::HandshakeConfig c;
  c.audio_ping_payload = "0123456789ABCDEF";
  c.video_ping_payload = "FEDCBA9876543210";
  c.connect_data = 0x12345678;
  c.hevc = true;
  return c;
}

// What a host with a surround offer and stricter demands answers: no HEVC (an HEVC ANNOUNCE is
// refused), control encryption required, reference picture invalidation and touch events on.
funkhaus::net::gamestream::HandshakeConfig strictConfig() {
  using namespace funkhaus::net::gamestream;
  HandshakeConfig c = config();
  c.hevc = false;
  c.encryption_supported = kEncryptionAll;
  c.encryption_requested = kEncryptionControlV2;
  c.feature_flags = kSsFeaturePenTouchEvents | kSsFeatureControllerTouchEvents;
  c.ref_pic_invalidation = true;
  c.surround = surroundOffer();
  return c;
}

void checkReply(const funkhaus::net::RtspRequest& request,
                const funkhaus::net::gamestream::HandshakeReply& reply) {
  using namespace funkhaus::net::gamestream;
  if ((reply.status == 200) == (reply.step == HandshakeStep::kRefused)) __builtin_trap();
  if (reply.status != 200 && reply.detail.empty()) __builtin_trap();
  if (reply.stream.has_value() != (reply.step == HandshakeStep::kAnnounce)) __builtin_trap();
  if (std::string_view(handshakeStepName(reply.step)) == "?") __builtin_trap();
  const std::string wire = formatReply(reply, request.cseq().value_or(0));
  const size_t end = wire.find("\r\n\r\n");
  if (wire.compare(0, 9, "RTSP/1.0 ") != 0 || end == std::string::npos ||
      wire.size() != end + 4 + reply.body.size() || wire.find("\r\nCSeq: ") == std::string::npos)
    __builtin_trap();
  // Nothing from the request breaks the reply's lines: every CR and LF of the head is a CRLF.
  for (size_t i = 0; i < end + 4; ++i) {
    if (wire[i] == '\r' && wire[i + 1] != '\n') __builtin_trap();
    if (wire[i] == '\n' && wire[i - 1] != '\r') __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::net;
  using namespace funkhaus::net::gamestream;
  static const HandshakeConfig kConfig = config();
  static const HandshakeConfig kStrict = strictConfig();
  const RtspUnit u = parseRtspUnit(std::span<const uint8_t>(data, size), handshakeLimits());
  if (u.kind != RtspUnit::Kind::kRequest) return 0;
  checkReply(u.request, answerHandshake(u.request, kConfig));
  checkReply(u.request, answerHandshake(u.request, kStrict));
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  std::vector<std::vector<uint8_t>> out;
  for (const std::string& s : funkhaus::net::gamestream::testing::moonlightHandshake())
    out.emplace_back(s.begin(), s.end());
  return out;
}
