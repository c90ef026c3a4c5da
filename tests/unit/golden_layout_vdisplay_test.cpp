// Golden layout of the vdisplay control messages (abi/vdisplay.h). If this fails you changed the
// protocol: bump abi::kVdisplayProtocolVersion and record the new layout here.
#include "golden_layout.h"

#include "funkhaus/abi/vdisplay.h"

namespace funkhaus::abi {
namespace {

TEST(VdisplayGoldenLayout, ProtocolVersion) {
  EXPECT_EQ(kVdisplayProtocolVersion, 1) << "new protocol version: record its golden tables";
  EXPECT_EQ(kVdisplayMagic, 0x44564846u);
  EXPECT_EQ(kVdisplayReplyBit, 0x8000);
  EXPECT_EQ(static_cast<uint16_t>(VdisplayMessageType::kGetInfo), 1);
  EXPECT_EQ(static_cast<uint16_t>(VdisplayMessageType::kAddMonitor), 2);
  EXPECT_EQ(static_cast<uint16_t>(VdisplayMessageType::kRemoveMonitor), 3);
  EXPECT_EQ(static_cast<uint16_t>(VdisplayMessageType::kClearAll), 4);
  EXPECT_EQ(static_cast<uint16_t>(VdisplayMessageType::kPing), 5);
  EXPECT_EQ(static_cast<uint16_t>(VdisplayMessageType::kSetMode), 6);
  EXPECT_EQ(static_cast<uint16_t>(VdisplayMessageType::kGetMonitor), 7);
  EXPECT_EQ(static_cast<uint32_t>(VdisplayStatusCode::kBackendFailed), 9u);
  EXPECT_EQ(kVdisplayMonitorHdr, 1u);
  EXPECT_EQ(kVdisplayModeInPlace, 1u);
  EXPECT_EQ(kVdisplayModeRestarted, 2u);
  EXPECT_EQ(kVdisplayCapXauth, 8u);
}

TEST(VdisplayGoldenLayout, HeaderV1) {
  checkLayout<VdisplayHeader>("VdisplayHeader", 24,
                              {{"magic", 0, 4},
                               {"abi_version", 4, 2},
                               {"protocol_version", 6, 2},
                               {"type", 8, 2},
                               {"reserved0", 10, 2},
                               {"length", 12, 4},
                               {"request_id", 16, 4},
                               {"reserved1", 20, 4}},
                              {W(magic), W(abi_version), W(protocol_version), W(type), W(reserved0),
                               W(length), W(request_id), W(reserved1)});
}

TEST(VdisplayGoldenLayout, StatusV1) {
  checkLayout<VdisplayStatus>("VdisplayStatus", 248,
                              {{"code", 0, 4}, {"reserved", 4, 4}, {"message", 8, 240}},
                              {W(code), W(reserved), W(message)});
}

TEST(VdisplayGoldenLayout, InfoReplyV1) {
  checkLayout<VdisplayInfoReply>(
      "VdisplayInfoReply", 64,
      {{"driver_version", 0, 4},
       {"abi_version", 4, 4},
       {"protocol_version", 8, 4},
       {"max_monitors", 12, 4},
       {"watchdog_ms", 16, 4},
       {"capabilities", 20, 4},
       {"max_width", 24, 4},
       {"max_height", 28, 4},
       {"min_refresh_millihz", 32, 4},
       {"max_refresh_millihz", 36, 4},
       {"backend", 40, 16},
       {"reserved", 56, 8}},
      {W(driver_version), W(abi_version), W(protocol_version), W(max_monitors), W(watchdog_ms),
       W(capabilities), W(max_width), W(max_height), W(min_refresh_millihz), W(max_refresh_millihz),
       W(backend), W(reserved)});
}

TEST(VdisplayGoldenLayout, RequestsV1) {
  checkLayout<VdisplayAddMonitorRequest>(
      "VdisplayAddMonitorRequest", 32,
      {{"width", 0, 4},
       {"height", 4, 4},
       {"refresh_millihz", 8, 4},
       {"flags", 12, 4},
       {"fb_width", 16, 4},
       {"fb_height", 20, 4},
       {"reserved", 24, 8}},
      {W(width), W(height), W(refresh_millihz), W(flags), W(fb_width), W(fb_height), W(reserved)});
  checkLayout<VdisplayMonitorRequest>("VdisplayMonitorRequest", 8,
                                      {{"monitor_id", 0, 4}, {"reserved", 4, 4}},
                                      {W(monitor_id), W(reserved)});
  checkLayout<VdisplaySetModeRequest>(
      "VdisplaySetModeRequest", 16,
      {{"monitor_id", 0, 4}, {"width", 4, 4}, {"height", 8, 4}, {"refresh_millihz", 12, 4}},
      {W(monitor_id), W(width), W(height), W(refresh_millihz)});
  checkLayout<VdisplayPingRequest>("VdisplayPingRequest", 8, {{"nonce", 0, 8}}, {W(nonce)});
}

TEST(VdisplayGoldenLayout, RepliesV1) {
  checkLayout<VdisplayMonitorReply>(
      "VdisplayMonitorReply", 448,
      {{"monitor_id", 0, 4},
       {"display_number", 4, 4},
       {"generation", 8, 4},
       {"width", 12, 4},
       {"height", 16, 4},
       {"refresh_millihz", 20, 4},
       {"flags", 24, 4},
       {"mode_change", 28, 4},
       {"fb_width", 32, 4},
       {"fb_height", 36, 4},
       {"edid_size", 40, 4},
       {"reserved", 44, 4},
       {"display_name", 48, 16},
       {"edid", 64, 256},
       {"xauthority", 320, 128}},
      {W(monitor_id), W(display_number), W(generation), W(width), W(height), W(refresh_millihz),
       W(flags), W(mode_change), W(fb_width), W(fb_height), W(edid_size), W(reserved),
       W(display_name), W(edid), W(xauthority)});
  checkLayout<VdisplayPingReply>("VdisplayPingReply", 16,
                                 {{"nonce", 0, 8}, {"monitors", 8, 4}, {"watchdog_ms", 12, 4}},
                                 {W(nonce), W(monitors), W(watchdog_ms)});
  checkLayout<VdisplayClearReply>("VdisplayClearReply", 8, {{"removed", 0, 4}, {"reserved", 4, 4}},
                                  {W(removed), W(reserved)});
}

}  // namespace
}  // namespace funkhaus::abi
