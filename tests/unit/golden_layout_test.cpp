// Golden layout of the rings, the status page and the channel messages. If this fails you changed
// the ABI: bump abi::kAbiVersion and record the new layout as a new golden table below.
#include "golden_layout.h"

#include "funkhaus/abi/abi.h"
#include "funkhaus/abi/codec.h"
#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/abi/message.h"
#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/abi/status_page.h"

namespace funkhaus::abi {
namespace {

TEST(GoldenLayout, FrameGeometryV4) {
  checkLayout<FrameGeometry>(
      "FrameGeometry", 48,
      {{"format", 0, 4},
       {"width", 4, 4},
       {"height", 8, 4},
       {"plane_count", 12, 4},
       {"stride", 16, 16},
       {"plane_offset", 32, 16}},
      {W(format), W(width), W(height), W(plane_count), W(stride), W(plane_offset)});
}

TEST(GoldenLayout, FrameSlotHeaderV5) {
  checkLayout<FrameSlotHeader>(
      "FrameSlotHeader", 128,
      {{"mutex", 0, 4},
       {"flags", 4, 4},
       {"token", 8, 8},
       {"capture_time_ns", 16, 8},
       {"payload_size", 24, 8},
       {"geometry", 32, 48},
       {"colour", 80, 4},
       {"reserved0", 84, 4},
       {"content_token", 88, 8},
       {"reserved", 96, 32}},
      {W(mutex), W(flags), W(token), W(capture_time_ns), W(payload_size), W(geometry), W(colour),
       W(reserved0), W(content_token), W(reserved)});
}

TEST(GoldenLayout, FrameRingHeaderV4) {
  checkLayout<FrameRingHeader>("FrameRingHeader", 256,
                               {{"magic", 0, 4},
                                {"abi_version", 4, 4},
                                {"header_size", 8, 4},
                                {"slot_header_size", 12, 4},
                                {"slot_count", 16, 4},
                                {"payload_offset", 20, 4},
                                {"slot_stride", 24, 8},
                                {"slots_offset", 32, 8},
                                {"payload_capacity", 40, 8},
                                {"total_size", 48, 8},
                                {"reserved0", 56, 8},
                                {"latest", 64, 8},
                                {"generation", 72, 4},
                                {"publish_futex", 76, 4},
                                {"published", 80, 8},
                                {"dropped", 88, 8},
                                {"repeated", 96, 8},
                                {"overwritten", 104, 8},
                                {"producer_pid", 112, 4},
                                {"reserved1", 116, 4},
                                {"producer_heartbeat_ns", 120, 8},
                                {"consumed", 128, 8},
                                {"stale_rejected", 136, 8},
                                {"abandoned", 144, 8},
                                {"consumer_pid", 152, 4},
                                {"consumer_waiting", 156, 4},
                                {"consumer_heartbeat_ns", 160, 8},
                                {"reserved2", 168, 24},
                                {"mode", 192, 48},
                                {"reserved3", 240, 16}},
                               {W(magic),
                                W(abi_version),
                                W(header_size),
                                W(slot_header_size),
                                W(slot_count),
                                W(payload_offset),
                                W(slot_stride),
                                W(slots_offset),
                                W(payload_capacity),
                                W(total_size),
                                W(reserved0),
                                W(latest),
                                W(generation),
                                W(publish_futex),
                                W(published),
                                W(dropped),
                                W(repeated),
                                W(overwritten),
                                W(producer_pid),
                                W(reserved1),
                                W(producer_heartbeat_ns),
                                W(consumed),
                                W(stale_rejected),
                                W(abandoned),
                                W(consumer_pid),
                                W(consumer_waiting),
                                W(consumer_heartbeat_ns),
                                W(reserved2),
                                W(mode),
                                W(reserved3)});
}

TEST(GoldenLayout, PacketRecordHeaderV4) {
  checkLayout<PacketRecordHeader>(
      "PacketRecordHeader", 32,
      {{"size", 0, 4},
       {"flags", 4, 4},
       {"frame_number", 8, 8},
       {"capture_time_ns", 16, 8},
       {"codec", 24, 4},
       {"format", 28, 4}},
      {W(size), W(flags), W(frame_number), W(capture_time_ns), W(codec), W(format)});
}

TEST(GoldenLayout, PacketRingHeaderV4) {
  checkLayout<PacketRingHeader>("PacketRingHeader", 192,
                                {{"magic", 0, 4},
                                 {"abi_version", 4, 4},
                                 {"header_size", 8, 4},
                                 {"record_header_size", 12, 4},
                                 {"data_offset", 16, 8},
                                 {"capacity", 24, 8},
                                 {"total_size", 32, 8},
                                 {"record_align", 40, 4},
                                 {"max_record_size", 44, 4},
                                 {"reserved0", 48, 16},
                                 {"head", 64, 8},
                                 {"commit_futex", 72, 4},
                                 {"producer_pid", 76, 4},
                                 {"records", 80, 8},
                                 {"dropped_records", 88, 8},
                                 {"dropped_bytes", 96, 8},
                                 {"producer_heartbeat_ns", 104, 8},
                                 {"reserved1", 112, 16},
                                 {"tail", 128, 8},
                                 {"consumer_waiting", 136, 4},
                                 {"consumer_pid", 140, 4},
                                 {"consumer_heartbeat_ns", 144, 8},
                                 {"reserved2", 152, 40}},
                                {W(magic),
                                 W(abi_version),
                                 W(header_size),
                                 W(record_header_size),
                                 W(data_offset),
                                 W(capacity),
                                 W(total_size),
                                 W(record_align),
                                 W(max_record_size),
                                 W(reserved0),
                                 W(head),
                                 W(commit_futex),
                                 W(producer_pid),
                                 W(records),
                                 W(dropped_records),
                                 W(dropped_bytes),
                                 W(producer_heartbeat_ns),
                                 W(reserved1),
                                 W(tail),
                                 W(consumer_waiting),
                                 W(consumer_pid),
                                 W(consumer_heartbeat_ns),
                                 W(reserved2)});
}

TEST(GoldenLayout, WorkerStatusPageV4) {
  checkLayout<WorkerStatusPage>(
      "WorkerStatusPage", 256,
      {{"magic", 0, 4},
       {"abi_version", 4, 4},
       {"header_size", 8, 4},
       {"kind", 12, 4},
       {"reserved0", 16, 48},
       {"heartbeat", 64, 8},
       {"state", 72, 4},
       {"pid", 76, 4},
       {"frames_in", 80, 8},
       {"frames_out", 88, 8},
       {"drops", 96, 8},
       {"errors", 104, 8},
       {"bytes_out", 112, 8},
       {"latency_p50_ns", 120, 8},
       {"latency_p99_ns", 128, 8},
       {"fps_milli", 136, 8},
       {"viewers", 144, 8},
       {"keyframes", 152, 8},
       {"devices", 160, 8},
       {"stage_p50_ns", 168, 8},
       {"stage_p99_ns", 176, 8},
       {"repeats", 184, 8},
       {"reserved1", 192, 64}},
      {W(magic),        W(abi_version), W(header_size), W(kind),           W(reserved0),
       W(heartbeat),    W(state),       W(pid),         W(frames_in),      W(frames_out),
       W(drops),        W(errors),      W(bytes_out),   W(latency_p50_ns), W(latency_p99_ns),
       W(fps_milli),    W(viewers),     W(keyframes),   W(devices),        W(stage_p50_ns),
       W(stage_p99_ns), W(repeats),     W(reserved1)});
}

TEST(GoldenLayout, MessagesV4) {
  checkLayout<MessageHeader>("MessageHeader", 16,
                             {{"magic", 0, 4},
                              {"abi_version", 4, 2},
                              {"type", 6, 2},
                              {"length", 8, 4},
                              {"reserved", 12, 4}},
                             {W(magic), W(abi_version), W(type), W(length), W(reserved)});
  checkLayout<HelloBody>(
      "HelloBody", 16, {{"abi_version", 0, 4}, {"kind", 4, 4}, {"pid", 8, 4}, {"reserved", 12, 4}},
      {W(abi_version), W(kind), W(pid), W(reserved)});
}

TEST(GoldenLayout, MessageBodiesV4) {
  checkLayout<RingFdsBody>("RingFdsBody", 80,
                           {{"count", 0, 4},
                            {"flags", 4, 4},
                            {"roles", 8, 32},
                            {"tags", 40, 32},
                            {"reserved", 72, 4},
                            {"reserved2", 76, 4}},
                           {W(count), W(flags), W(roles), W(tags), W(reserved), W(reserved2)});
  checkLayout<ConnectionBody>("ConnectionBody", 8, {{"slot", 0, 4}, {"reserved", 4, 4}},
                              {W(slot), W(reserved)});
  checkLayout<CommandBody>("CommandBody", 16,
                           {{"command", 0, 4}, {"reserved", 4, 4}, {"arg", 8, 8}},
                           {W(command), W(reserved), W(arg)});
  checkLayout<EventBody>("EventBody", 16, {{"event", 0, 4}, {"reserved", 4, 4}, {"arg", 8, 8}},
                         {W(event), W(reserved), W(arg)});
  checkLayout<TextBody>("TextBody", 8, {{"id", 0, 4}, {"length", 4, 4}}, {W(id), W(length)});
}

TEST(GoldenLayout, MagicsAndEnumValuesV4) {
  EXPECT_EQ(kFrameRingMagic, 0x52464846u);
  EXPECT_EQ(kPacketRingMagic, 0x52504846u);
  EXPECT_EQ(kStatusPageMagic, 0x53574846u);
  EXPECT_EQ(kMessageMagic, 0x534D4846u);
  EXPECT_EQ(static_cast<uint32_t>(PixelFormat::kNv12), 2u);
  EXPECT_EQ(static_cast<uint32_t>(WorkerState::kFailed), 4u);
  EXPECT_EQ(static_cast<uint16_t>(MessageType::kEvent), 5u);
  EXPECT_EQ(static_cast<uint16_t>(MessageType::kConnectionRelease), 7u);
  EXPECT_EQ(static_cast<uint16_t>(MessageType::kRequest), 8u);
  EXPECT_EQ(static_cast<uint16_t>(MessageType::kReply), 9u);
  EXPECT_EQ(kMaxTextMessageSize, 65536u);
  EXPECT_EQ(static_cast<uint32_t>(WorkerKind::kWeb), 5u);
  EXPECT_EQ(static_cast<uint32_t>(FdRole::kStatusPage), 1u);
  EXPECT_EQ(static_cast<uint32_t>(FdRole::kRingIn), 2u);
  EXPECT_EQ(static_cast<uint32_t>(FdRole::kRingOut), 3u);
  EXPECT_EQ(static_cast<uint32_t>(FdRole::kNetState), 4u);
  EXPECT_EQ(static_cast<uint32_t>(FdRole::kEndpoint), 5u);
  EXPECT_EQ(static_cast<uint32_t>(FdRole::kConnection), 6u);
  EXPECT_EQ(static_cast<uint32_t>(FdRole::kDevice), 7u);
  EXPECT_EQ(static_cast<uint32_t>(RingId::kDisplay), 1u);
  EXPECT_EQ(static_cast<uint32_t>(RingId::kFrames), 2u);
  EXPECT_EQ(static_cast<uint32_t>(RingId::kVideoPackets), 3u);
  EXPECT_EQ(static_cast<uint32_t>(DeviceId::kDisplayControl), 1u);
  EXPECT_EQ(static_cast<uint32_t>(Codec::kH264), 1u);
  EXPECT_EQ(static_cast<uint32_t>(Codec::kHevc), 2u);
  EXPECT_EQ(static_cast<uint32_t>(ColourSpace::kSrgb), 1u);
  EXPECT_EQ(static_cast<uint32_t>(ColourSpace::kBt709Limited), 2u);
  EXPECT_EQ(kRingFdsLast, 1u);
  EXPECT_EQ(kMaxConnections, 16u);
  EXPECT_EQ(kRecordFlagDiscontinuity, 2u);
  EXPECT_EQ(kSlotFlagAbandoned, 2u);
  EXPECT_EQ(static_cast<uint32_t>(Command::kSetBitrate), 3u);
  EXPECT_EQ(static_cast<uint32_t>(Event::kError), 3u);
  EXPECT_EQ(static_cast<uint32_t>(Event::kModeRequest), 4u);
}

}  // namespace
}  // namespace funkhaus::abi
