// SDP builder. Profile RTP/AVP with a=rtcp-fb lines: both ffmpeg and GStreamer accept it, and
// GStreamer then sends PLI/FIR (see net-worker/README.md for what was tried).
#include "funkhaus/net/rtsp/sdp.h"

#include <fmt/format.h>

#include "funkhaus/net/rtsp/rtp_packetizer.h"

namespace funkhaus::net {

std::string base64Encode(std::span<const uint8_t> in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8 | in[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (const size_t rest = in.size() - i; rest != 0) {
    const uint32_t v = uint32_t{in[i]} << 16 | (rest == 2 ? uint32_t{in[i + 1]} << 8 : 0);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string profileLevelId(std::span<const uint8_t> sps) {
  if (sps.size() < 4) return "";
  return fmt::format("{:02x}{:02x}{:02x}", sps[1], sps[2], sps[3]);
}

std::string buildSdp(const ParameterSets& sets, const SdpOptions& o) {
  std::string sdp;
  const char* family = o.origin_ipv6 ? "IP6" : "IP4";
  sdp += "v=0\r\n";
  sdp += fmt::format("o=- {} 1 IN {} {}\r\n", o.session_id, family, o.origin_address);
  sdp += fmt::format("s={}\r\n", o.session_name);
  sdp += fmt::format("c=IN {} {}\r\n", family, o.origin_ipv6 ? "::" : "0.0.0.0");
  sdp += "t=0 0\r\n";
  sdp += "a=tool:funkhaus\r\n";
  sdp += "a=range:npt=now-\r\n";
  sdp += "a=control:*\r\n";
  sdp += "m=video 0 RTP/AVP 96\r\n";
  std::string fmtp;
  if (sets.codec == Codec::kH264) {
    sdp += "a=rtpmap:96 H264/90000\r\n";
    fmtp = "packetization-mode=1";
    if (const std::string pli = profileLevelId(sets.sps); !pli.empty())
      fmtp += ";profile-level-id=" + pli;
    if (!sets.sps.empty() && !sets.pps.empty())
      fmtp += ";sprop-parameter-sets=" + base64Encode(sets.sps) + "," + base64Encode(sets.pps);
  } else {
    sdp += "a=rtpmap:96 H265/90000\r\n";
    auto add = [&](const char* name, const std::vector<uint8_t>& nal) {
      if (nal.empty()) return;
      if (!fmtp.empty()) fmtp += ';';
      fmtp += fmt::format("{}={}", name, base64Encode(nal));
    };
    add("sprop-vps", sets.vps);
    add("sprop-sps", sets.sps);
    add("sprop-pps", sets.pps);
  }
  if (!fmtp.empty()) sdp += "a=fmtp:96 " + fmtp + "\r\n";
  sdp += "a=rtcp-fb:96 nack\r\n";
  sdp += "a=rtcp-fb:96 nack pli\r\n";
  sdp += "a=rtcp-fb:96 ccm fir\r\n";
  sdp += fmt::format("a=control:{}\r\n", kTrackControl);
  if (o.audio) {
    // RFC 7587: the clock is 48 kHz and the channels 2 whatever the packets hold; sprop-stereo
    // says the packets are stereo.
    sdp += fmt::format("m=audio 0 RTP/AVP {}\r\n", kRtpAudioPayloadType);
    sdp += fmt::format("a=rtpmap:{} opus/48000/2\r\n", kRtpAudioPayloadType);
    sdp += fmt::format("a=fmtp:{} sprop-stereo=1\r\n", kRtpAudioPayloadType);
    sdp += fmt::format("a=control:{}\r\n", kAudioTrackControl);
  }
  return sdp;
}

}  // namespace funkhaus::net
