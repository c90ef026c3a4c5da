// ENet wire codec: byte layouts checked against Debian libenet's own packed protocol structs
// (enet/protocol.h), so a layout mistake in ours cannot hide behind a round trip.
#include <arpa/inet.h>
#include <enet/enet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "funkhaus/net/gamestream/enet_wire.h"

namespace funkhaus::net::gamestream::enet {
namespace {

template <class T>
std::vector<uint8_t> bytesOf(const T& value, size_t size = sizeof(T)) {
  std::vector<uint8_t> out(size);
  std::memcpy(out.data(), &value, size);
  return out;
}

TEST(EnetWire, CommandSizesAreLibenets) {
  EXPECT_EQ(commandSize(kCommandAcknowledge), sizeof(ENetProtocolAcknowledge));
  EXPECT_EQ(commandSize(kCommandConnect), sizeof(ENetProtocolConnect));
  EXPECT_EQ(commandSize(kCommandVerifyConnect), sizeof(ENetProtocolVerifyConnect));
  EXPECT_EQ(commandSize(kCommandDisconnect), sizeof(ENetProtocolDisconnect));
  EXPECT_EQ(commandSize(kCommandPing), sizeof(ENetProtocolPing));
  EXPECT_EQ(commandSize(kCommandSendReliable), sizeof(ENetProtocolSendReliable));
  EXPECT_EQ(commandSize(kCommandSendUnreliable), sizeof(ENetProtocolSendUnreliable));
  EXPECT_EQ(commandSize(kCommandSendFragment), sizeof(ENetProtocolSendFragment));
  EXPECT_EQ(commandSize(kCommandSendUnsequenced), sizeof(ENetProtocolSendUnsequenced));
  EXPECT_EQ(commandSize(kCommandBandwidthLimit), sizeof(ENetProtocolBandwidthLimit));
  EXPECT_EQ(commandSize(kCommandThrottleConfigure), sizeof(ENetProtocolThrottleConfigure));
  EXPECT_EQ(commandSize(kCommandSendUnreliableFragment), sizeof(ENetProtocolSendFragment));
  EXPECT_EQ(commandSize(13), 0u);
  EXPECT_EQ(commandSize(0), 0u);
}

TEST(EnetWire, AcknowledgeBytes) {
  std::vector<uint8_t> ours;
  appendCommand(ours, acknowledge(7, 0x1234, 0xBEEF));
  // Written out by hand: command 1, channel, BE16 seq, BE16 received seq, BE16 sent time.
  EXPECT_EQ(ours, (std::vector<uint8_t>{0x01, 0x07, 0x12, 0x34, 0x12, 0x34, 0xBE, 0xEF}));

  ENetProtocolAcknowledge theirs{};
  theirs.header.command = ENET_PROTOCOL_COMMAND_ACKNOWLEDGE;
  theirs.header.channelID = 7;
  theirs.header.reliableSequenceNumber = htons(0x1234);
  theirs.receivedReliableSequenceNumber = htons(0x1234);
  theirs.receivedSentTime = htons(0xBEEF);
  EXPECT_EQ(ours, bytesOf(theirs));
}

TEST(EnetWire, VerifyConnectBytesMatchLibenetsStruct) {
  Command v;
  v.command = kCommandVerifyConnect | kFlagAcknowledge;
  v.channel = kConnectionChannel;
  v.reliable_seq = 1;
  v.outgoing_peer_id = 0;
  v.incoming_session_id = 1;
  v.outgoing_session_id = 2;
  v.mtu = 1400;
  v.window_size = 32768;
  v.channel_count = 48;
  v.incoming_bandwidth = 0;
  v.outgoing_bandwidth = 0;
  v.throttle_interval = 5000;
  v.throttle_acceleration = 2;
  v.throttle_deceleration = 2;
  v.connect_id = 0xA1B2C3D4;
  std::vector<uint8_t> ours;
  appendCommand(ours, v);
  ASSERT_EQ(ours.size(), 44u);

  ENetProtocolVerifyConnect theirs{};
  theirs.header.command = static_cast<int>(ENET_PROTOCOL_COMMAND_VERIFY_CONNECT) |
                          static_cast<int>(ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE);
  theirs.header.channelID = 0xFF;
  theirs.header.reliableSequenceNumber = htons(1);
  theirs.outgoingPeerID = htons(0);
  theirs.incomingSessionID = 1;
  theirs.outgoingSessionID = 2;
  theirs.mtu = htonl(1400);
  theirs.windowSize = htonl(32768);
  theirs.channelCount = htonl(48);
  theirs.packetThrottleInterval = htonl(5000);
  theirs.packetThrottleAcceleration = htonl(2);
  theirs.packetThrottleDeceleration = htonl(2);
  theirs.connectID = htonl(0xA1B2C3D4);
  EXPECT_EQ(ours, bytesOf(theirs));
  // A few bytes by hand as well: the command byte, channel, and the MTU at offset 8.
  EXPECT_EQ(ours[0], 0x83);
  EXPECT_EQ(ours[1], 0xFF);
  EXPECT_EQ((std::vector<uint8_t>(ours.begin() + 8, ours.begin() + 12)),
            (std::vector<uint8_t>{0x00, 0x00, 0x05, 0x78}));
}

TEST(EnetWire, ParsesLibenetsConnect) {
  ENetProtocolHeader header{};
  header.peerID =
      htons(static_cast<uint16_t>(static_cast<int>(ENET_PROTOCOL_MAXIMUM_PEER_ID) |
                                  static_cast<int>(ENET_PROTOCOL_HEADER_FLAG_SENT_TIME)));
  header.sentTime = htons(0x0102);
  ENetProtocolConnect connect{};
  connect.header.command = static_cast<int>(ENET_PROTOCOL_COMMAND_CONNECT) |
                           static_cast<int>(ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE);
  connect.header.channelID = 0xFF;
  connect.header.reliableSequenceNumber = htons(1);
  connect.outgoingPeerID = htons(5);
  connect.incomingSessionID = 0xFF;
  connect.outgoingSessionID = 0xFF;
  connect.mtu = htonl(900);
  connect.windowSize = htonl(65536);
  connect.channelCount = htonl(48);
  connect.packetThrottleInterval = htonl(5000);
  connect.packetThrottleAcceleration = htonl(2);
  connect.packetThrottleDeceleration = htonl(3);
  connect.connectID = htonl(0xCAFEF00D);
  connect.data = htonl(0x11223344);
  std::vector<uint8_t> datagram = bytesOf(header);
  const auto c = bytesOf(connect);
  datagram.insert(datagram.end(), c.begin(), c.end());

  const auto parsed = parseDatagram(datagram);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->header.peer_id, kMaxPeerId);
  EXPECT_TRUE(parsed->header.has_sent_time);
  EXPECT_EQ(parsed->header.sent_time, 0x0102);
  EXPECT_FALSE(parsed->truncated);
  ASSERT_EQ(parsed->commands.size(), 1u);
  const Command& got = parsed->commands[0];
  EXPECT_EQ(got.number(), kCommandConnect);
  EXPECT_TRUE(got.acknowledged());
  EXPECT_EQ(got.channel, 0xFF);
  EXPECT_EQ(got.reliable_seq, 1);
  EXPECT_EQ(got.outgoing_peer_id, 5);
  EXPECT_EQ(got.incoming_session_id, 0xFF);
  EXPECT_EQ(got.mtu, 900u);
  EXPECT_EQ(got.channel_count, 48u);
  EXPECT_EQ(got.throttle_deceleration, 3u);
  EXPECT_EQ(got.connect_id, 0xCAFEF00Du);
  EXPECT_EQ(got.data, 0x11223344u);
}

TEST(EnetWire, HeaderWithAndWithoutSentTime) {
  std::vector<uint8_t> with;
  appendHeader(with, 0x005, 2, uint16_t{0xABCD});
  EXPECT_EQ(with, (std::vector<uint8_t>{0xA0, 0x05, 0xAB, 0xCD}));  // 0x8000 | 2 << 12 | 5
  std::vector<uint8_t> without;
  appendHeader(without, 0x005, 3, std::nullopt);
  EXPECT_EQ(without, (std::vector<uint8_t>{0x30, 0x05}));
}

TEST(EnetWire, ParsesSeveralCommandsAndStopsAtGarbage) {
  std::vector<uint8_t> d;
  appendHeader(d, 0, 1, uint16_t{10});
  const uint8_t a[] = {1, 2, 3};
  appendCommand(d, sendReliable(3, 9, a));
  appendCommand(d, ping(4));
  d.push_back(0x0E);  // unknown command number 14
  d.insert(d.end(), {0, 0, 0, 0, 0, 0, 0});
  const auto parsed = parseDatagram(d);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->truncated);
  ASSERT_EQ(parsed->commands.size(), 2u);
  EXPECT_EQ(parsed->commands[0].number(), kCommandSendReliable);
  EXPECT_EQ(parsed->commands[0].channel, 3);
  EXPECT_EQ(parsed->commands[0].reliable_seq, 9);
  EXPECT_EQ(
      std::vector<uint8_t>(parsed->commands[0].payload.begin(), parsed->commands[0].payload.end()),
      (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(parsed->commands[1].number(), kCommandPing);
}

TEST(EnetWire, DataLengthPastTheEndIsTruncated) {
  std::vector<uint8_t> d;
  appendHeader(d, 0, 0, uint16_t{1});
  const uint8_t a[] = {1, 2, 3, 4};
  appendCommand(d, sendReliable(0, 1, a));
  d.pop_back();  // one payload byte short
  const auto parsed = parseDatagram(d);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->truncated);
  EXPECT_TRUE(parsed->commands.empty());
  EXPECT_FALSE(parseDatagram(std::vector<uint8_t>{0x80}));
  EXPECT_FALSE(parseDatagram(std::vector<uint8_t>{0x80, 0x00, 0x01}));  // sent time cut
}

TEST(EnetWire, DisconnectBytesAreWhatMoonlightsInterceptMatches) {
  // Moonlight recognises a pending DISCONNECT by a 12-byte datagram: 4-byte header + 8.
  std::vector<uint8_t> d;
  appendHeader(d, 3, 1, uint16_t{77});
  appendCommand(d, disconnect(5, 0x01020304, true));
  ASSERT_EQ(d.size(), sizeof(ENetProtocolHeader) + sizeof(ENetProtocolDisconnect));
  EXPECT_EQ((std::vector<uint8_t>(d.begin() + 4, d.end())),
            (std::vector<uint8_t>{0x84, 0xFF, 0x00, 0x05, 0x01, 0x02, 0x03, 0x04}));
}

}  // namespace
}  // namespace funkhaus::net::gamestream::enet
