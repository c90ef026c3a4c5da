// Golden layout of the GameStream blob (abi/gamestream_state.h): the launch funkhausd publishes
// and the stream funkhaus-net keeps. A change here must bump kGamestreamStateVersion.
#include <cstring>

#include "funkhaus/abi/gamestream_state.h"
#include "golden_layout.h"

namespace funkhaus::abi {
namespace {

TEST(GoldenLayout, GamestreamLaunch) {
  checkLayout<GamestreamLaunch>("GamestreamLaunch", 128,
                                {{"sequence", 0, 8},
                                 {"active", 8, 4},
                                 {"rikeyid", 12, 4},
                                 {"rikey", 16, 16},
                                 {"app_id", 32, 4},
                                 {"width", 36, 4},
                                 {"height", 40, 4},
                                 {"fps", 44, 4},
                                 {"client_id", 48, 64},
                                 {"reserved", 112, 16}},
                                {W(sequence), W(active), W(rikeyid), W(rikey), W(app_id), W(width),
                                 W(height), W(fps), W(client_id), W(reserved)});
}

TEST(GoldenLayout, GamestreamPeer) {
  checkLayout<GamestreamPeer>(
      "GamestreamPeer", 24,
      {{"family", 0, 2}, {"port", 2, 2}, {"reserved", 4, 4}, {"address", 8, 16}},
      {W(family), W(port), W(reserved), W(address)});
}

TEST(GoldenLayout, GamestreamStreamParams) {
  checkLayout<GamestreamStreamParams>(
      "GamestreamStreamParams", 64,
      {{"width", 0, 4},
       {"height", 4, 4},
       {"fps", 8, 4},
       {"packet_size", 12, 4},
       {"bitrate_kbps", 16, 4},
       {"codec", 20, 4},
       {"min_fec_packets", 24, 4},
       {"fec_percent", 28, 4},
       {"encryption", 32, 4},
       {"audio_channels", 36, 4},
       {"audio_packet_ms", 40, 4},
       {"audio_encrypted", 44, 4},
       {"reserved", 48, 16}},
      {W(width), W(height), W(fps), W(packet_size), W(bitrate_kbps), W(codec), W(min_fec_packets),
       W(fec_percent), W(encryption), W(audio_channels), W(audio_packet_ms), W(audio_encrypted),
       W(reserved)});
}

TEST(GoldenLayout, GamestreamState) {
  checkLayout<GamestreamState>("GamestreamState", 15240,
                               {{"header", 0, 64},
                                {"launch", 64, 128},
                                {"launch_sequence", 192, 8},
                                {"phase", 200, 4},
                                {"connect_data", 204, 4},
                                {"video_ping", 208, 16},
                                {"audio_ping", 224, 16},
                                {"session_id", 240, 8},
                                {"started_ns", 248, 8},
                                {"last_heard_ns", 256, 8},
                                {"video_peer", 264, 24},
                                {"audio_peer", 288, 24},
                                {"params", 312, 64},
                                {"video_rtp_seq", 376, 4},
                                {"video_frame_index", 380, 4},
                                {"video_iv", 384, 8},
                                {"audio_rtp_seq", 392, 4},
                                {"audio_timestamp", 396, 4},
                                {"frames_sent", 400, 8},
                                {"bytes_sent", 408, 8},
                                {"dropped_input", 416, 8},
                                {"audio_packets_sent", 424, 8},
                                {"audio_packets_dropped", 432, 8},
                                {"reserved", 440, 32},
                                {"control", 472, 14768}},
                               {W(header),
                                W(launch),
                                W(launch_sequence),
                                W(phase),
                                W(connect_data),
                                W(video_ping),
                                W(audio_ping),
                                W(session_id),
                                W(started_ns),
                                W(last_heard_ns),
                                W(video_peer),
                                W(audio_peer),
                                W(params),
                                W(video_rtp_seq),
                                W(video_frame_index),
                                W(video_iv),
                                W(audio_rtp_seq),
                                W(audio_timestamp),
                                W(frames_sent),
                                W(bytes_sent),
                                W(dropped_input),
                                W(audio_packets_sent),
                                W(audio_packets_dropped),
                                W(reserved),
                                W(control)});
}

TEST(GoldenLayout, GamestreamValues) {
  EXPECT_EQ(std::memcmp(&kGamestreamStateMagic, "FHGS", 4), 0) << "little-endian 'FHGS'";
  EXPECT_EQ(kGamestreamStateVersion, 2u);
  EXPECT_EQ(static_cast<uint32_t>(GamestreamPhase::kHandshake), 1u);
  EXPECT_EQ(static_cast<uint32_t>(GamestreamPhase::kAnnounced), 2u);
  EXPECT_EQ(static_cast<uint32_t>(GamestreamPhase::kPlaying), 3u);
  EXPECT_EQ(kEndpointGamestreamRtsp, 0x203u);
  EXPECT_EQ(kEndpointGamestreamVideo, 0x204u);
  EXPECT_EQ(kEndpointGamestreamControl, 0x205u);
  EXPECT_EQ(kEndpointGamestreamAudio, 0x206u);
  EXPECT_EQ(static_cast<uint32_t>(Command::kSetCodec), 4u);
  EXPECT_EQ(static_cast<uint32_t>(Event::kCodecRequest), 5u);
  EXPECT_EQ(static_cast<uint32_t>(Event::kBitrateRequest), 6u);
  EXPECT_EQ(static_cast<uint32_t>(Command::kSetFps), 5u);
  EXPECT_EQ(static_cast<uint32_t>(Event::kFpsRequest), 7u);
}

}  // namespace
}  // namespace funkhaus::abi
