// Golden layout of the net state page (ABI v3) and of the RTSP protocol's blob in it (its own
// version). If this fails you changed one of them: bump abi::kAbiVersion (the page) or
// abi::kRtspStateVersion (the blob) and record the new layout here.
#include <cstring>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/rtsp_state.h"
#include "golden_layout.h"

namespace funkhaus::abi {
namespace {

TEST(GoldenLayout, NetConnectionSlotV4) {
  checkLayout<NetConnectionSlot>("NetConnectionSlot", 16448,
                                 {{"state", 0, 4},
                                  {"protocol", 4, 4},
                                  {"session", 8, 4},
                                  {"reserved0", 12, 4},
                                  {"out_unit", 16, 8},
                                  {"out_sent", 24, 4},
                                  {"reserved1", 28, 4},
                                  {"reserved2", 32, 32},
                                  {"out_data", 64, 16384}},
                                 {W(state), W(protocol), W(session), W(reserved0), W(out_unit),
                                  W(out_sent), W(reserved1), W(reserved2), W(out_data)});
}

TEST(GoldenLayout, NetProtocolEntryV4) {
  checkLayout<NetProtocolEntry>("NetProtocolEntry", 32,
                                {{"protocol", 0, 4},
                                 {"reserved0", 4, 4},
                                 {"offset", 8, 8},
                                 {"size", 16, 8},
                                 {"reserved1", 24, 8}},
                                {W(protocol), W(reserved0), W(offset), W(size), W(reserved1)});
}

TEST(GoldenLayout, NetStatePageV4) {
  checkLayout<NetStatePage>(
      "NetStatePage", 256 + 16 * 16448,
      {{"magic", 0, 4},
       {"abi_version", 4, 4},
       {"header_size", 8, 4},
       {"max_connections", 12, 4},
       {"total_size", 16, 8},
       {"protocol_count", 24, 4},
       {"reserved0", 28, 4},
       {"reserved1", 32, 32},
       {"net_pid", 64, 4},
       {"attach_count", 68, 4},
       {"reserved2", 72, 56},
       {"protocols", 128, 128},
       {"connections", 256, 16 * 16448}},
      {W(magic), W(abi_version), W(header_size), W(max_connections), W(total_size),
       W(protocol_count), W(reserved0), W(reserved1), W(net_pid), W(attach_count), W(reserved2),
       W(protocols), W(connections)});
}

TEST(GoldenLayout, NetBlobHeaderV4) {
  checkLayout<NetBlobHeader>(
      "NetBlobHeader", 64,
      {{"magic", 0, 4}, {"version", 4, 4}, {"size", 8, 8}, {"reserved", 16, 48}},
      {W(magic), W(version), W(size), W(reserved)});
}

TEST(GoldenLayout, NetStateConstantsV4) {
  EXPECT_EQ(std::memcmp(&kNetStateMagic, "FHNS", 4), 0) << "little-endian 'FHNS'";
  EXPECT_EQ(static_cast<uint32_t>(NetProtocol::kRtsp), 1u);
  EXPECT_EQ(kEndpointRtspListen, 0x101u);
  EXPECT_EQ(kEndpointRtspRtp, 0x102u);
  EXPECT_EQ(kEndpointRtspRtcp, 0x103u);
  EXPECT_EQ(static_cast<uint32_t>(NetProtocol::kGamestream), 2u);
  EXPECT_EQ(kEndpointGamestreamHttp, 0x201u);
  EXPECT_EQ(kEndpointGamestreamHttps, 0x202u);
  EXPECT_EQ(static_cast<uint32_t>(ConnectionState::kKept), 1u);
  EXPECT_EQ(kOutUnitOffsetShift, 16);
  EXPECT_EQ(kNetPendingCapacity, 16384u);
  EXPECT_EQ(kMaxNetProtocols, 4u);
}

// --- the RTSP blob: its own version -------------------------------------------------------

void expectRtspVersion2() {
  ASSERT_EQ(kRtspStateVersion, 2u) << "new RTSP blob version: record its golden tables";
}

TEST(GoldenLayout, NetParameterSetRtspV2) {
  expectRtspVersion2();
  checkLayout<NetParameterSet>("NetParameterSet", 1024,
                               {{"size", 0, 4}, {"reserved", 4, 4}, {"data", 8, 1016}},
                               {W(size), W(reserved), W(data)});
}

TEST(GoldenLayout, RtspAudioTrackRtspV2) {
  expectRtspVersion2();
  checkLayout<RtspAudioTrack>(
      "RtspAudioTrack", 64,
      {{"flags", 0, 4},
       {"ssrc", 4, 4},
       {"timestamp_offset", 8, 4},
       {"next_timestamp", 12, 4},
       {"next_sequence", 16, 4},
       {"client_rtp_port", 20, 2},
       {"client_rtcp_port", 22, 2},
       {"rtp_channel", 24, 1},
       {"rtcp_channel", 25, 1},
       {"reserved0", 26, 2},
       {"reserved1", 28, 4},
       {"packets_sent", 32, 8},
       {"octets_sent", 40, 8},
       {"packets_dropped", 48, 8},
       {"reserved2", 56, 8}},
      {W(flags), W(ssrc), W(timestamp_offset), W(next_timestamp), W(next_sequence),
       W(client_rtp_port), W(client_rtcp_port), W(rtp_channel), W(rtcp_channel), W(reserved0),
       W(reserved1), W(packets_sent), W(octets_sent), W(packets_dropped), W(reserved2)});
  EXPECT_EQ(kAudioTrackFlagSetUp, 1u);
  EXPECT_EQ(kAudioTrackFlagTimed, 2u);
}

TEST(GoldenLayout, RtspViewerSlotRtspV2) {
  expectRtspVersion2();
  checkLayout<RtspViewerSlot>("RtspViewerSlot", 256,
                              {{"state", 0, 4},
                               {"transport", 4, 4},
                               {"session_id", 8, 8},
                               {"codec", 16, 4},
                               {"ssrc", 20, 4},
                               {"rtp_timestamp_offset", 24, 4},
                               {"flags", 28, 4},
                               {"next_sequence", 32, 4},
                               {"address_family", 36, 4},
                               {"client_address", 40, 16},
                               {"client_rtp_port", 56, 2},
                               {"client_rtcp_port", 58, 2},
                               {"rtp_channel", 60, 1},
                               {"rtcp_channel", 61, 1},
                               {"reserved0", 62, 2},
                               {"packets_sent", 64, 8},
                               {"octets_sent", 72, 8},
                               {"frames_sent", 80, 8},
                               {"frames_dropped", 88, 8},
                               {"keyframe_requests", 96, 8},
                               {"last_activity_ns", 104, 8},
                               {"rr_fraction_lost", 112, 4},
                               {"rr_cumulative_lost", 116, 4},
                               {"rr_highest_sequence", 120, 4},
                               {"rr_jitter", 124, 4},
                               {"rr_count", 128, 8},
                               {"rr_last_ns", 136, 8},
                               {"reserved1", 144, 48},
                               {"audio", 192, 64}},
                              {W(state),
                               W(transport),
                               W(session_id),
                               W(codec),
                               W(ssrc),
                               W(rtp_timestamp_offset),
                               W(flags),
                               W(next_sequence),
                               W(address_family),
                               W(client_address),
                               W(client_rtp_port),
                               W(client_rtcp_port),
                               W(rtp_channel),
                               W(rtcp_channel),
                               W(reserved0),
                               W(packets_sent),
                               W(octets_sent),
                               W(frames_sent),
                               W(frames_dropped),
                               W(keyframe_requests),
                               W(last_activity_ns),
                               W(rr_fraction_lost),
                               W(rr_cumulative_lost),
                               W(rr_highest_sequence),
                               W(rr_jitter),
                               W(rr_count),
                               W(rr_last_ns),
                               W(reserved1),
                               W(audio)});
}

TEST(GoldenLayout, RtspStateRtspV2) {
  expectRtspVersion2();
  checkLayout<RtspState>("RtspState", 3200 + 16 * 256,
                         {{"header", 0, 64},
                          {"codec", 64, 4},
                          {"parameter_sets_valid", 68, 4},
                          {"reserved", 72, 56},
                          {"vps", 128, 1024},
                          {"sps", 1152, 1024},
                          {"pps", 2176, 1024},
                          {"viewers", 3200, 16 * 256}},
                         {W(header), W(codec), W(parameter_sets_valid), W(reserved), W(vps), W(sps),
                          W(pps), W(viewers)});
  EXPECT_EQ(std::memcmp(&kRtspStateMagic, "FHRT", 4), 0) << "little-endian 'FHRT'";
  EXPECT_EQ(static_cast<uint32_t>(ViewerState::kPlaying), 2u);
  EXPECT_EQ(static_cast<uint32_t>(ViewerTransport::kTcpInterleaved), 2u);
  EXPECT_EQ(kViewerFlagNeedsKeyframe, 1u);
  EXPECT_EQ(kMaxParameterSetSize, 1016u);
}

}  // namespace
}  // namespace funkhaus::abi
