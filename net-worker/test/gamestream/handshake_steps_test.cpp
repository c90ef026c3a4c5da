// The GameStream RTSP handshake: Moonlight-shaped requests through the project's RTSP parser
// (in 512- and 536-byte chunks) and answerHandshake, reply bytes checked exactly.
#include <gtest/gtest.h>

#include <span>
#include <string>

#include "funkhaus/net/gamestream/handshake.h"
#include "handshake_test_data.h"

namespace funkhaus::net::gamestream {
namespace {

using testing::AnnounceBody;
using testing::moonlightHandshake;
using testing::moonlightRequest;

HandshakeConfig testConfig() {
  HandshakeConfig c;
  c.session_id = "FUNKHAUS;timeout = 90";
  c.audio_ping_payload = "0123456789ABCDEF";
  c.video_ping_payload = "FEDCBA9876543210";
  c.connect_data = 305419896;  // 0x12345678
  return c;
}

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Feeds `wire` to parseRtspUnit as a connection receives it, `chunk` bytes at a time: every
// prefix must ask for more, the whole must be one request of exactly its size.
RtspRequest receive(const std::string& wire, size_t chunk) {
  size_t have = 0;
  for (;;) {
    have = std::min(wire.size(), have + chunk);
    RtspUnit u = parseRtspUnit(bytes(wire).first(have), handshakeLimits());
    if (have < wire.size()) {
      EXPECT_EQ(u.kind, RtspUnit::Kind::kNeedMore) << "at " << have << " of " << wire.size();
      if (u.kind != RtspUnit::Kind::kNeedMore) return {};
      continue;
    }
    EXPECT_EQ(u.kind, RtspUnit::Kind::kRequest) << u.error;
    EXPECT_EQ(u.consumed, wire.size());
    return u.request;
  }
}

RtspRequest request(const std::string& wire) { return receive(wire, wire.size()); }

std::string answer(const std::string& wire, const HandshakeConfig& config = testConfig()) {
  const RtspRequest r = request(wire);
  return formatReply(answerHandshake(r, config), r.cseq().value_or(0));
}

TEST(GsHandshake, ParserTakesMoonlightRequestsInChunks) {
  for (const std::string host : {"192.168.1.10", "0.0.0.0"}) {
    for (size_t chunk : {512u, 536u, 1u}) {
      for (const std::string& wire : moonlightHandshake("FUNKHAUS", host)) {
        const RtspRequest r = receive(wire, chunk);
        EXPECT_FALSE(r.method.empty()) << wire;
        EXPECT_EQ(r.version_minor, 0);
        ASSERT_NE(r.header("Host"), nullptr);
        EXPECT_EQ(*r.header("Host"), host);
        EXPECT_EQ(*r.header("X-GS-ClientVersion"), "14");
      }
    }
  }
  const RtspRequest announce = request(moonlightHandshake()[5]);
  EXPECT_EQ(announce.method, "ANNOUNCE");
  EXPECT_EQ(announce.uri, "streamid=control/13/0");
  EXPECT_EQ(announce.body, AnnounceBody().text());
  EXPECT_GT(announce.body.size(), 1000u);
  const RtspRequest play = request(moonlightHandshake()[6]);
  EXPECT_EQ(play.uri, "/");
}

TEST(GsHandshake, SevenStepsReplyExactly) {
  const auto requests = moonlightHandshake();
  ASSERT_EQ(requests.size(), 7u);
  const HandshakeConfig config = testConfig();
  const HandshakeStep steps[] = {HandshakeStep::kOptions,      HandshakeStep::kDescribe,
                                 HandshakeStep::kSetupAudio,   HandshakeStep::kSetupVideo,
                                 HandshakeStep::kSetupControl, HandshakeStep::kAnnounce,
                                 HandshakeStep::kPlay};
  const std::string expected[] = {
      "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, ANNOUNCE, PLAY\r\n\r\n",
      "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 107\r\n\r\n"
      "a=x-ss-general.featureFlags:0\r\n"
      "a=x-ss-general.encryptionSupported:1\r\n"
      "a=x-ss-general.encryptionRequested:0\r\n",
      "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: FUNKHAUS;timeout = 90\r\n"
      "Transport: server_port=48000\r\nX-SS-Ping-Payload: 0123456789ABCDEF\r\n\r\n",
      "RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: FUNKHAUS;timeout = 90\r\n"
      "Transport: server_port=47998\r\nX-SS-Ping-Payload: FEDCBA9876543210\r\n\r\n",
      "RTSP/1.0 200 OK\r\nCSeq: 5\r\nSession: FUNKHAUS;timeout = 90\r\n"
      "Transport: server_port=47999\r\nX-SS-Connect-Data: 305419896\r\n\r\n",
      "RTSP/1.0 200 OK\r\nCSeq: 6\r\nSession: FUNKHAUS;timeout = 90\r\n\r\n",
      "RTSP/1.0 200 OK\r\nCSeq: 7\r\nSession: FUNKHAUS;timeout = 90\r\n\r\n",
  };
  for (size_t i = 0; i < requests.size(); ++i) {
    const RtspRequest r = receive(requests[i], 512);
    const HandshakeReply reply = answerHandshake(r, config);
    EXPECT_EQ(reply.step, steps[i]) << handshakeStepName(reply.step) << ": " << reply.detail;
    EXPECT_EQ(reply.status, 200) << reply.detail;
    EXPECT_EQ(formatReply(reply, *r.cseq()), expected[i]);
    EXPECT_EQ(reply.stream.has_value(), steps[i] == HandshakeStep::kAnnounce);
  }
  const HandshakeReply announce = answerHandshake(request(requests[5]), config);
  ASSERT_TRUE(announce.stream);
  EXPECT_EQ(announce.stream->width, 1920u);
  EXPECT_EQ(announce.stream->height, 1080u);
  EXPECT_EQ(announce.stream->fps, 60u);
  EXPECT_EQ(announce.stream->packet_size, 1392u);
  EXPECT_EQ(announce.stream->bitrate_kbps, 20000u);
  EXPECT_TRUE(announce.stream->audioEncrypted());
}

TEST(GsHandshake, OtherPortsPayloadsAndSessionText) {
  HandshakeConfig c = testConfig();
  c.session_id = "DEADBEEFCAFE;timeout = 90";
  c.audio_port = 50011;
  c.video_port = 50009;
  c.control_port = 50010;
  c.connect_data = 0;
  c.audio_ping_payload.clear();  // no header: the client falls back to "PING"
  const auto requests = moonlightHandshake("DEADBEEFCAFE");
  EXPECT_EQ(answer(requests[2], c),
            "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: DEADBEEFCAFE;timeout = 90\r\n"
            "Transport: server_port=50011\r\n\r\n");
  EXPECT_EQ(answer(requests[3], c),
            "RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: DEADBEEFCAFE;timeout = 90\r\n"
            "Transport: server_port=50009\r\nX-SS-Ping-Payload: FEDCBA9876543210\r\n\r\n");
  EXPECT_EQ(answer(requests[4], c),
            "RTSP/1.0 200 OK\r\nCSeq: 5\r\nSession: DEADBEEFCAFE;timeout = 90\r\n"
            "Transport: server_port=50010\r\nX-SS-Connect-Data: 0\r\n\r\n");
  // The session text without ';' works too; the client echoes all of it.
  c.session_id = "ABC";
  EXPECT_EQ(answer(moonlightHandshake("ABC")[6], c),
            "RTSP/1.0 200 OK\r\nCSeq: 7\r\nSession: ABC\r\n\r\n");
  // A Session header that repeats the parameters is the same session.
  EXPECT_EQ(
      answerHandshake(request(moonlightRequest("PLAY", "/", 9, {{"Session", "ABC;timeout=90"}})), c)
          .status,
      200);
}

TEST(GsHandshake, OlderStreamIdsWithoutSuffix) {
  const HandshakeConfig c = testConfig();
  EXPECT_EQ(answerHandshake(request(moonlightRequest("SETUP", "streamid=audio", 3, {})), c).step,
            HandshakeStep::kSetupAudio);
  EXPECT_EQ(
      answerHandshake(
          request(moonlightRequest("SETUP", "streamid=video", 4, {{"Session", "FUNKHAUS"}})), c)
          .step,
      HandshakeStep::kSetupVideo);
}

TEST(GsHandshake, SessionRequiredAfterAudioSetup) {
  const HandshakeConfig c = testConfig();
  struct Case {
    std::string method, uri, body;
  };
  const std::string body = AnnounceBody().text();
  for (const Case& k :
       {Case{"SETUP", "streamid=video/0/0", ""}, Case{"SETUP", "streamid=control/13/0", ""},
        Case{"ANNOUNCE", "streamid=control/13/0", body}, Case{"PLAY", "/", ""}}) {
    const HandshakeReply none =
        answerHandshake(request(moonlightRequest(k.method, k.uri, 4, {}, k.body)), c);
    EXPECT_EQ(none.status, 454) << k.method << " " << k.uri;
    EXPECT_EQ(none.step, HandshakeStep::kRefused);
    EXPECT_NE(none.detail.find("without a Session"), std::string::npos) << none.detail;
    const HandshakeReply other = answerHandshake(
        request(moonlightRequest(k.method, k.uri, 4, {{"Session", "DEADBEEFCAFE"}}, k.body)), c);
    EXPECT_EQ(other.status, 454) << k.method << " " << k.uri;
    EXPECT_EQ(formatReply(other, 4), "RTSP/1.0 454 Session Not Found\r\nCSeq: 4\r\n\r\n");
    const HandshakeReply empty = answerHandshake(
        request(moonlightRequest(k.method, k.uri, 4, {{"Session", ";x"}}, k.body)), c);
    EXPECT_EQ(empty.status, 454);
  }
  // SETUP audio needs no session, but one for another session is refused.
  EXPECT_EQ(
      answerHandshake(
          request(moonlightRequest("SETUP", "streamid=audio/0/0", 3, {{"Session", "FUNKHAUS"}})), c)
          .step,
      HandshakeStep::kSetupAudio);
  EXPECT_EQ(
      answerHandshake(
          request(moonlightRequest("SETUP", "streamid=audio/0/0", 3, {{"Session", "OTHER"}})), c)
          .status,
      454);
}

TEST(GsHandshake, UnknownStreamsMethodsAndMissingCSeq) {
  const HandshakeConfig c = testConfig();
  const std::pair<std::string, std::string> session = {"Session", "FUNKHAUS"};
  for (const std::string uri : {"streamid=audiox/0/0", "streamid=input/0/0", "/", "streamid="}) {
    const HandshakeReply r =
        answerHandshake(request(moonlightRequest("SETUP", uri, 3, {session})), c);
    EXPECT_EQ(r.status, 404) << uri;
    EXPECT_EQ(formatReply(r, 3), "RTSP/1.0 404 Not Found\r\nCSeq: 3\r\n\r\n");
  }
  EXPECT_EQ(answerHandshake(request(moonlightRequest("ANNOUNCE", "streamid=video", 6, {session},
                                                     AnnounceBody().text())),
                            c)
                .status,
            404);
  for (const std::string method : {"TEARDOWN", "GET_PARAMETER", "PAUSE", "options", "RECORD"}) {
    const HandshakeReply r =
        answerHandshake(request(moonlightRequest(method, "/", 8, {session})), c);
    EXPECT_EQ(r.status, 501) << method;
    EXPECT_EQ(r.step, HandshakeStep::kRefused);
    EXPECT_EQ(formatReply(r, 8), "RTSP/1.0 501 Not Implemented\r\nCSeq: 8\r\n\r\n");
  }
  const HandshakeReply no_cseq =
      answerHandshake(request("OPTIONS rtsp://a:48010 RTSP/1.0\r\nHost: a\r\n\r\n"), c);
  EXPECT_EQ(no_cseq.status, 400);
  EXPECT_EQ(formatReply(no_cseq, 0), "RTSP/1.0 400 Bad Request\r\nCSeq: 0\r\n\r\n");
}

TEST(GsHandshake, AnnounceRefusalsNameTheAttribute) {
  const HandshakeConfig c = testConfig();
  const std::pair<std::string, std::string> session = {"Session", "FUNKHAUS"};
  auto announce = [&](const AnnounceBody& body, const HandshakeConfig& config) {
    return answerHandshake(
        request(moonlightRequest("ANNOUNCE", "streamid=control/13/0", 6,
                                 {session, {"Content-type", "application/sdp"}}, body.text())),
        config);
  };
  for (const char* name :
       {"x-nv-video[0].clientViewportWd", "x-nv-video[0].clientViewportHt", "x-nv-video[0].maxFPS",
        "x-nv-video[0].packetSize", "x-nv-vqos[0].bitStreamFormat"}) {
    const HandshakeReply r = announce(AnnounceBody().erase(name), c);
    EXPECT_EQ(r.status, 400) << name;
    EXPECT_EQ(r.step, HandshakeStep::kRefused);
    EXPECT_FALSE(r.stream);
    EXPECT_NE(r.detail.find(name), std::string::npos) << r.detail;
    EXPECT_NE(r.detail.find("missing"), std::string::npos) << r.detail;
    EXPECT_EQ(formatReply(r, 6), "RTSP/1.0 400 Bad Request\r\nCSeq: 6\r\n\r\n");
  }
  const HandshakeReply garbled = announce(AnnounceBody().set("x-nv-video[0].maxFPS", "6O"), c);
  EXPECT_EQ(garbled.status, 400);
  EXPECT_NE(garbled.detail.find("x-nv-video[0].maxFPS"), std::string::npos) << garbled.detail;
  // An ANNOUNCE without a body is missing everything.
  const HandshakeReply empty = answerHandshake(
      request(moonlightRequest("ANNOUNCE", "streamid=control/13/0", 6, {session})), c);
  EXPECT_EQ(empty.status, 400);
  EXPECT_NE(empty.detail.find("missing"), std::string::npos) << empty.detail;
}

TEST(GsHandshake, AnnounceCodecMustHaveBeenOffered) {
  HandshakeConfig c = testConfig();
  const std::pair<std::string, std::string> session = {"Session", "FUNKHAUS"};
  auto announce = [&](const std::string& format, const HandshakeConfig& config) {
    return answerHandshake(request(moonlightRequest(
                               "ANNOUNCE", "streamid=control/13/0", 6, {session},
                               AnnounceBody().set("x-nv-vqos[0].bitStreamFormat", format).text())),
                           config);
  };
  EXPECT_EQ(announce("0", c).status, 200);
  const HandshakeReply hevc = announce("1", c);
  EXPECT_EQ(hevc.status, 400);
  EXPECT_NE(hevc.detail.find("x-nv-vqos[0].bitStreamFormat"), std::string::npos) << hevc.detail;
  EXPECT_EQ(announce("2", c).status, 400);
  c.hevc = true;
  const HandshakeReply ok = announce("1", c);
  ASSERT_EQ(ok.status, 200) << ok.detail;
  EXPECT_EQ(ok.stream->video_format, VideoFormat::kHevc);
  EXPECT_EQ(announce("2", c).status, 400);
  c.av1 = true;
  EXPECT_EQ(announce("2", c).status, 200);
  EXPECT_EQ(announce("3", c).status, 400);
}

TEST(GsHandshake, AnnounceEncryptionAgainstHostBits) {
  HandshakeConfig c = testConfig();
  const std::pair<std::string, std::string> session = {"Session", "FUNKHAUS"};
  auto announce = [&](const std::string& enabled, const std::string& nv_flags) {
    return answerHandshake(
        request(moonlightRequest("ANNOUNCE", "streamid=control/13/0", 6, {session},
                                 AnnounceBody()
                                     .set("x-ss-general.encryptionEnabled", enabled)
                                     .set("x-nv-general.featureFlags", nv_flags)
                                     .text())),
        c);
  };
  // The host supports control V2 only: a client enabling video encryption is refused.
  EXPECT_EQ(announce("1", "135").status, 200);
  const HandshakeReply video = announce("3", "135");
  EXPECT_EQ(video.status, 400);
  EXPECT_NE(video.detail.find("x-ss-general.encryptionEnabled"), std::string::npos);
  // Audio encryption through the NV feature flag needs no host bit (the client decides it).
  EXPECT_EQ(announce("1", "167").status, 200);
  // The host requires audio encryption: either way of turning it on satisfies it.
  c.encryption_supported = kEncryptionControlV2 | kEncryptionAudio;
  c.encryption_requested = kEncryptionAudio;
  const HandshakeReply refused = announce("1", "135");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(formatReply(refused, 6), "RTSP/1.0 403 Forbidden\r\nCSeq: 6\r\n\r\n");
  EXPECT_EQ(announce("5", "135").status, 200);
  EXPECT_EQ(announce("1", "167").status, 200);
}

TEST(GsHandshake, DescribeBodyWithEveryCapability) {
  HandshakeConfig c = testConfig();
  c.feature_flags = kSsFeaturePenTouchEvents | kSsFeatureControllerTouchEvents;
  c.encryption_supported = kEncryptionControlV2 | kEncryptionAudio;
  c.encryption_requested = kEncryptionAudio;
  c.ref_pic_invalidation = true;
  c.hevc = true;
  c.av1 = true;
  c.surround.push_back({6, 4, 2, {0, 1, 2, 4, 5, 3}});
  c.surround.push_back({6, 6, 0, {0, 1, 2, 3, 4, 5}});
  const std::string body =
      "a=x-ss-general.featureFlags:3\r\n"
      "a=x-ss-general.encryptionSupported:5\r\n"
      "a=x-ss-general.encryptionRequested:4\r\n"
      "a=x-nv-video[0].refPicInvalidation:1\r\n"
      "sprop-parameter-sets=AAAAAU\r\n"
      "a=rtpmap:98 AV1/90000\r\n"
      "a=fmtp:97 surround-params=642012453\r\n"
      "a=fmtp:97 surround-params=660012345\r\n";
  EXPECT_EQ(describeBody(c), body);
  EXPECT_EQ(answer(moonlightHandshake()[1], c),
            "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n"
            "Content-Length: 271\r\n\r\n" +
                body);
  // Without HEVC the client must not find the VPS prefix it looks for.
  c.hevc = false;
  EXPECT_EQ(describeBody(c).find("AAAAAU"), std::string::npos);
}

TEST(GsHandshake, BadConfigIsRefusedWith500) {
  const std::string options = moonlightHandshake()[0];
  auto status = [&](const HandshakeConfig& c) {
    EXPECT_FALSE(checkHandshakeConfig(c).ok());
    return answerHandshake(request(options), c).status;
  };
  EXPECT_TRUE(checkHandshakeConfig(testConfig()).ok());
  HandshakeConfig c = testConfig();
  c.session_id = ";timeout = 90";
  EXPECT_EQ(status(c), 500);
  c = testConfig();
  c.session_id = "A\r\nB";
  EXPECT_EQ(status(c), 500);
  c = testConfig();
  c.video_ping_payload = "0123456789ABCDE";  // 15
  EXPECT_EQ(status(c), 500);
  c = testConfig();
  c.audio_ping_payload = "0123456789ABCD;F";
  EXPECT_EQ(status(c), 500);
  c = testConfig();
  c.control_port = 0;
  EXPECT_EQ(status(c), 500);
  c = testConfig();
  c.encryption_requested = kEncryptionVideo;  // not supported
  EXPECT_EQ(status(c), 500);
  c = testConfig();
  c.surround.push_back({8, 10, 3, {0, 1, 2, 3, 4, 5, 6, 7}});
  EXPECT_EQ(status(c), 500);
}

TEST(GsHandshake, RefusalOfAnUnparsableRequest) {
  const std::string junk = "OPTIONS rtsp://a:48010 RTSP/2.0\r\nCSeq: 1\r\n\r\n";
  const RtspUnit u = parseRtspUnit(bytes(junk), handshakeLimits());
  ASSERT_EQ(u.kind, RtspUnit::Kind::kBad);
  const HandshakeReply r = refuseHandshake(u.status, u.error);
  EXPECT_EQ(formatReply(r, 0), "RTSP/1.0 505 RTSP Version Not Supported\r\nCSeq: 0\r\n\r\n");
  // The handshake limits admit an ANNOUNCE body up to what parseAnnounce takes, and no more.
  EXPECT_EQ(handshakeLimits().max_body, kMaxAnnounceBody);
  const std::string big =
      moonlightRequest("ANNOUNCE", "streamid=control/13/0", 6, {{"Session", "FUNKHAUS"}},
                       std::string(kMaxAnnounceBody + 1, 'x'));
  EXPECT_EQ(parseRtspUnit(bytes(big), handshakeLimits()).status, 413);
}

}  // namespace
}  // namespace funkhaus::net::gamestream
