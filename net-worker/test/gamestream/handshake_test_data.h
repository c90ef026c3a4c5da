// Test data of the GameStream handshake: requests and an ANNOUNCE body shaped as
// moonlight-common-c (appversion 7.1.431, a Sunshine-style host) sends them. Handshake tests
// and fuzz seeds.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace funkhaus::net::gamestream::testing {

// An ANNOUNCE body as an ordered attribute list: Moonlight's lines for a local 1920x1080 at 60
// fps H.264 stereo stream at 20 Mbps, control encryption (V2) and audio encryption on.
class AnnounceBody {
 public:
  AnnounceBody() {
    attributes_ = {
        {"x-ml-general.featureFlags", "3"},
        {"x-ss-general.encryptionEnabled", "1"},
        {"x-ss-video[0].chromaSamplingType", "0"},
        {"x-nv-video[0].clientViewportWd", "1920"},
        {"x-nv-video[0].clientViewportHt", "1080"},
        {"x-nv-video[0].maxFPS", "60"},
        {"x-nv-video[0].packetSize", "1392"},
        {"x-nv-video[0].rateControlMode", "4"},
        {"x-nv-video[0].timeoutLengthMs", "7000"},
        {"x-nv-video[0].framesWithInvalidRefThreshold", "0"},
        {"x-nv-video[0].initialBitrateKbps", "16000"},
        {"x-nv-video[0].initialPeakBitrateKbps", "16000"},
        {"x-nv-vqos[0].bw.minimumBitrateKbps", "16000"},
        {"x-nv-vqos[0].bw.maximumBitrateKbps", "16000"},
        {"x-ml-video.configuredBitrateKbps", "20000"},
        {"x-nv-vqos[0].fec.enable", "1"},
        {"x-nv-vqos[0].videoQualityScoreUpdateTime", "5000"},
        {"x-nv-vqos[0].qosTrafficType", "5"},
        {"x-nv-aqos.qosTrafficType", "4"},
        {"x-nv-general.featureFlags", "167"},
        {"x-nv-general.useReliableUdp", "13"},
        {"x-nv-vqos[0].fec.minRequiredFecPackets", "2"},
        {"x-nv-vqos[0].bllFec.enable", "0"},
        {"x-nv-vqos[0].drc.enable", "0"},
        {"x-nv-general.enableRecoveryMode", "0"},
        {"x-nv-video[0].videoEncoderSlicesPerFrame", "1"},
        {"x-nv-clientSupportHevc", "0"},
        {"x-nv-vqos[0].bitStreamFormat", "0"},
        {"x-nv-video[0].dynamicRangeMode", "0"},
        {"x-nv-video[0].maxNumReferenceFrames", "1"},
        {"x-nv-video[0].clientRefreshRateX100", "5994"},
        {"x-nv-audio.surround.numChannels", "2"},
        {"x-nv-audio.surround.channelMask", "3"},
        {"x-nv-audio.surround.enable", "0"},
        {"x-nv-audio.surround.AudioQuality", "0"},
        {"x-nv-aqos.packetDuration", "5"},
        {"x-nv-video[0].encoderCscMode", "2"},
    };
  }

  // Replaces the value of `name`, or appends the attribute.
  AnnounceBody& set(const std::string& name, const std::string& value) {
    for (auto& [n, v] : attributes_)
      if (n == name) {
        v = value;
        return *this;
      }
    attributes_.emplace_back(name, value);
    return *this;
  }

  AnnounceBody& erase(const std::string& name) {
    std::erase_if(attributes_, [&](const auto& a) { return a.first == name; });
    return *this;
  }

  // The body: Moonlight's header lines, `a=name:value ` lines (trailing space), tail; CRLF.
  std::string text(const std::string& line_end = "\r\n") const {
    std::string out = "v=0" + line_end + "o=android 0 14 IN IPv4 192.168.1.10" + line_end +
                      "s=NVIDIA Streaming Client" + line_end;
    for (const auto& [name, value] : attributes_) out += "a=" + name + ":" + value + " " + line_end;
    out += "t=0 0" + line_end + "m=video 47998  " + line_end;
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> attributes_;
};

// A request as moonlight-common-c writes it: request line, CSeq, X-GS-ClientVersion 14, Host,
// then `headers`, a blank line and `body` (with Content-length when there is one).
inline std::string moonlightRequest(const std::string& method, const std::string& target,
                                    unsigned cseq,
                                    const std::vector<std::pair<std::string, std::string>>& headers,
                                    const std::string& body = "",
                                    const std::string& host = "192.168.1.10") {
  std::string out = method + " " + target + " RTSP/1.0\r\n";
  out += "CSeq: " + std::to_string(cseq) + "\r\n";
  out += "X-GS-ClientVersion: 14\r\n";
  out += "Host: " + host + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (!body.empty()) out += "Content-length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

// The seven requests of one handshake, in order, for session token `session`.
inline std::vector<std::string> moonlightHandshake(const std::string& session = "FUNKHAUS",
                                                   const std::string& host = "192.168.1.10") {
  const std::string url = "rtsp://" + host + ":48010";
  const std::pair<std::string, std::string> transport = {"Transport",
                                                         "unicast;X-GS-ClientPort=50000-50001"};
  const std::pair<std::string, std::string> since = {"If-Modified-Since",
                                                     "Thu, 01 Jan 1970 00:00:00 GMT"};
  return {
      moonlightRequest("OPTIONS", url, 1, {}, "", host),
      moonlightRequest("DESCRIBE", url, 2, {{"Accept", "application/sdp"}, since}, "", host),
      moonlightRequest("SETUP", "streamid=audio/0/0", 3, {transport, since}, "", host),
      moonlightRequest("SETUP", "streamid=video/0/0", 4, {{"Session", session}, transport, since},
                       "", host),
      moonlightRequest("SETUP", "streamid=control/13/0", 5,
                       {{"Session", session}, transport, since}, "", host),
      moonlightRequest("ANNOUNCE", "streamid=control/13/0", 6,
                       {{"Session", session}, {"Content-type", "application/sdp"}},
                       AnnounceBody().text(), host),
      moonlightRequest("PLAY", "/", 7, {{"Session", session}}, "", host),
  };
}

}  // namespace funkhaus::net::gamestream::testing
