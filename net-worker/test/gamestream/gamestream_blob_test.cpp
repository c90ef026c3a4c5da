// The GameStream blob as a restarted net reads it: what the previous net left is validated field
// by field, the launch is read only when funkhausd is not writing it, peers survive as bytes.
#include "funkhaus/net/gamestream/gamestream_blob.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>

#include "funkhaus/abi/codec.h"

namespace funkhaus::net::gamestream {
namespace {

// A playing stream as a net leaves it.
std::unique_ptr<abi::GamestreamState> playing() {
  auto s = std::make_unique<abi::GamestreamState>();
  std::memset(s.get(), 0, sizeof *s);
  s->phase = static_cast<uint32_t>(abi::GamestreamPhase::kPlaying);
  s->session_id = 42;
  std::memset(s->video_ping, 'A', sizeof s->video_ping);
  std::memset(s->audio_ping, 'B', sizeof s->audio_ping);
  s->params = {1280, 720, 60, 1392, 10000, static_cast<uint32_t>(abi::Codec::kH264), 2, 20,
               3,    2,   5,  1,    {}};
  s->video_frame_index = 7;
  return s;
}

TEST(GamestreamBlob, ALongStreamsPacketCounterIsValid) {
  auto s = playing();
  EXPECT_TRUE(validateStream(*s).ok());
  // Past 65535 packets: the streamPacketIndex (24 bits) must go on growing after a restart.
  s->video_rtp_seq = 0x123456;
  EXPECT_TRUE(validateStream(*s).ok()) << validateStream(*s).error().message;
}

TEST(GamestreamBlob, WhatCannotBeAStreamIsNamed) {
  auto s = playing();
  s->phase = 9;
  EXPECT_NE(validateStream(*s).error().message.find("phase"), std::string::npos);
  s = playing();
  s->params.codec = 77;
  EXPECT_NE(validateStream(*s).error().message.find("codec"), std::string::npos);
  s = playing();
  s->params.packet_size = 1000;
  EXPECT_NE(validateStream(*s).error().message.find("packet size"), std::string::npos);
  s = playing();
  s->video_peer.family = 99;
  EXPECT_NE(validateStream(*s).error().message.find("video peer"), std::string::npos);
  s = playing();
  s->video_ping[3] = '\0';
  EXPECT_FALSE(validateStream(*s).ok());
}

TEST(GamestreamBlob, TheLaunchIsReadOnlyWhenFunkhausdIsNotWritingIt) {
  auto s = playing();
  EXPECT_FALSE(readLaunch(*s).has_value()) << "never published";
  s->launch.sequence = 3;  // odd: funkhausd writes
  s->launch.active = 1;
  EXPECT_FALSE(readLaunch(*s).has_value());
  s->launch.sequence = 4;
  s->launch.rikeyid = -9;
  const auto launch = readLaunch(*s);
  ASSERT_TRUE(launch.has_value());
  EXPECT_EQ(launch->sequence, 4u);
  EXPECT_EQ(launch->rikeyid, -9);
  resetStream(*s);
  EXPECT_EQ(s->phase, 0u) << "the stream part is zeroed";
  EXPECT_EQ(s->launch.rikeyid, -9) << "the launch is funkhausd's: kept";
}

TEST(GamestreamBlob, PeersSurviveAsBytesAndMatchAcrossIpv4MappedForms) {
  sockaddr_storage v4{};
  auto& a = reinterpret_cast<sockaddr_in&>(v4);
  a.sin_family = AF_INET;
  a.sin_port = htons(50000);
  inet_pton(AF_INET, "10.1.2.3", &a.sin_addr);
  const abi::GamestreamPeer peer = peerOf(v4);
  socklen_t length = 0;
  const sockaddr_storage back = addressOf(peer, &length);
  EXPECT_EQ(length, sizeof(sockaddr_in));
  EXPECT_EQ(std::memcmp(&back, &v4, sizeof(sockaddr_in)), 0);

  sockaddr_storage mapped{};
  auto& m = reinterpret_cast<sockaddr_in6&>(mapped);
  m.sin6_family = AF_INET6;
  m.sin6_port = htons(1234);
  inet_pton(AF_INET6, "::ffff:10.1.2.3", &m.sin6_addr);
  EXPECT_TRUE(sameHost(peer, mapped));
  inet_pton(AF_INET6, "::ffff:10.1.2.4", &m.sin6_addr);
  EXPECT_FALSE(sameHost(peer, mapped));
  EXPECT_FALSE(sameHost(abi::GamestreamPeer{}, v4)) << "an unknown peer matches nobody";
}

}  // namespace
}  // namespace funkhaus::net::gamestream
