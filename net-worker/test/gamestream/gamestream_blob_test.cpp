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

TEST(GamestreamBlob, NoClientsAddressIsAPeer) {
  auto s = playing();
  s->video_peer.family = AF_INET;
  s->video_peer.port = 50000;
  inet_pton(AF_INET, "127.0.0.1", s->video_peer.address);
  EXPECT_TRUE(validateStream(*s).ok());
  for (const char* bad : {"0.0.0.0", "255.255.255.255", "224.0.0.1", "239.1.2.3"}) {
    inet_pton(AF_INET, bad, s->video_peer.address);
    const auto r = validateStream(*s);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("video peer"), std::string::npos) << bad;
  }
  s = playing();
  s->audio_peer.family = AF_INET6;
  s->audio_peer.port = 48000;
  inet_pton(AF_INET6, "::1", s->audio_peer.address);
  EXPECT_TRUE(validateStream(*s).ok());
  inet_pton(AF_INET6, "::ffff:192.0.2.7", s->audio_peer.address);
  EXPECT_TRUE(validateStream(*s).ok()) << "an IPv4-mapped client";
  // The same IPv4 addresses as above, mapped, are no client's either.
  for (const char* bad :
       {"::", "ff02::1", "::ffff:0.0.0.0", "::ffff:255.255.255.255", "::ffff:224.0.0.1"}) {
    inet_pton(AF_INET6, bad, s->audio_peer.address);
    const auto r = validateStream(*s);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("audio peer"), std::string::npos) << bad;
  }
}

// A restarted net sends video at once only to a peer this very stream's ping gave, for a launch
// that is still on, while the client is not silent for longer than the timeout.
TEST(GamestreamBlob, VideoResumesAtOnceOnlyForALiveStreamWithAKnownPeer) {
  constexpr uint64_t kTimeout = 10'000'000'000;
  constexpr uint64_t kNow = 100'000'000'000;
  auto s = playing();
  s->launch_sequence = 4;
  s->last_heard_ns = kNow - 300'000'000;
  s->video_peer.family = AF_INET;
  s->video_peer.port = 50000;
  inet_pton(AF_INET, "127.0.0.1", s->video_peer.address);
  abi::GamestreamLaunch launch{};
  launch.sequence = 4;
  launch.active = 1;
  EXPECT_TRUE(resumesAtOnce(*s, launch, kNow, kTimeout));

  EXPECT_FALSE(resumesAtOnce(*s, std::nullopt, kNow, kTimeout)) << "launch unreadable";
  abi::GamestreamLaunch other = launch;
  other.sequence = 6;
  EXPECT_FALSE(resumesAtOnce(*s, other, kNow, kTimeout)) << "another launch";
  other = launch;
  other.active = 0;
  EXPECT_FALSE(resumesAtOnce(*s, other, kNow, kTimeout)) << "cancelled";
  EXPECT_FALSE(resumesAtOnce(*s, launch, kNow + kTimeout, kTimeout)) << "client silent too long";
  EXPECT_TRUE(resumesAtOnce(*s, launch, kNow - 300'000'000, kTimeout)) << "heard just now";
  EXPECT_FALSE(resumesAtOnce(*s, launch, kNow - 400'000'000, kTimeout)) << "heard in the future";

  auto t = playing();
  *t = *s;
  t->video_peer = {};
  EXPECT_FALSE(resumesAtOnce(*t, launch, kNow, kTimeout)) << "never pinged: waits for the ping";
  *t = *s;
  inet_pton(AF_INET, "0.0.0.0", t->video_peer.address);
  EXPECT_FALSE(resumesAtOnce(*t, launch, kNow, kTimeout)) << "a peer that does not check out";
  *t = *s;
  t->params.packet_size = 1000;
  EXPECT_FALSE(resumesAtOnce(*t, launch, kNow, kTimeout)) << "parameters that do not check out";
  *t = *s;
  t->phase = static_cast<uint32_t>(abi::GamestreamPhase::kAnnounced);
  EXPECT_FALSE(resumesAtOnce(*t, launch, kNow, kTimeout)) << "not playing yet";
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
