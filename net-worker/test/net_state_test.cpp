// NetStatePage: golden layout (ABI v2), validated attach, slot validation and parameter sets.
#include "funkhaus/net/net_state.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

#include "golden_layout.h"
#include "test_util.h"

namespace funkhaus::abi {
namespace {

TEST(GoldenLayout, NetParameterSetV2) {
  checkLayout<NetParameterSet>("NetParameterSet", 1024,
                               {{"size", 0, 4}, {"reserved", 4, 4}, {"data", 8, 1016}},
                               {W(size), W(reserved), W(data)});
}

TEST(GoldenLayout, NetViewerSlotV2) {
  checkLayout<NetViewerSlot>("NetViewerSlot", 16576,
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
                              {"out_unit", 144, 8},
                              {"out_sent", 152, 4},
                              {"reserved2", 156, 4},
                              {"reserved1", 160, 32},
                              {"out_data", 192, 16384}},
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
                              W(out_unit),
                              W(out_sent),
                              W(reserved2),
                              W(reserved1),
                              W(out_data)});
}

TEST(GoldenLayout, NetStatePageV2) {
  checkLayout<NetStatePage>("NetStatePage", 268416,
                            {{"magic", 0, 4},
                             {"abi_version", 4, 4},
                             {"header_size", 8, 4},
                             {"max_viewers", 12, 4},
                             {"reserved0", 16, 48},
                             {"net_pid", 64, 4},
                             {"attach_count", 68, 4},
                             {"codec", 72, 4},
                             {"parameter_sets_valid", 76, 4},
                             {"reserved1", 80, 48},
                             {"vps", 128, 1024},
                             {"sps", 1152, 1024},
                             {"pps", 2176, 1024},
                             {"viewers", 3200, 16 * 16576}},
                            {W(magic), W(abi_version), W(header_size), W(max_viewers), W(reserved0),
                             W(net_pid), W(attach_count), W(codec), W(parameter_sets_valid),
                             W(reserved1), W(vps), W(sps), W(pps), W(viewers)});
}

TEST(GoldenLayout, NetStateConstantsV2) {
  EXPECT_EQ(kNetStateMagic, 0x534E4846u);
  EXPECT_EQ(std::memcmp(&kNetStateMagic, "FHNS", 4), 0) << "little-endian 'FHNS'";
  EXPECT_EQ(static_cast<uint32_t>(ViewerState::kPlaying), 2u);
  EXPECT_EQ(static_cast<uint32_t>(ViewerTransport::kTcpInterleaved), 2u);
  EXPECT_EQ(kViewerFlagNeedsKeyframe, 1u);
  EXPECT_EQ(kOutUnitOffsetShift, 16);
  EXPECT_EQ(kNetPendingCapacity, 16384u);
  EXPECT_EQ(kMaxParameterSetSize, 1016u);
}

}  // namespace
}  // namespace funkhaus::abi

namespace funkhaus::net {
namespace {

SharedMemory freshPage() {
  auto shm = SharedMemory::create("net-state-test", sizeof(abi::NetStatePage));
  auto* p = reinterpret_cast<abi::NetStatePage*>(shm->data());
  abi::initNetStatePage(*p);
  return std::move(*shm);
}

TEST(NetState, AttachChecksEveryOwnerField) {
  auto page = freshPage();
  auto* p = reinterpret_cast<abi::NetStatePage*>(page.data());
  struct Case {
    uint32_t* field;
    uint32_t bad;
    const char* says;
  };
  const Case cases[] = {{&p->magic, 0x12345678, "magic"},
                        {&p->abi_version, abi::kAbiVersion + 1, "ABI version"},
                        {&p->header_size, 64, "header_size"},
                        {&p->max_viewers, 8, "max_viewers"}};
  for (const Case& c : cases) {
    const uint32_t good = *c.field;
    *c.field = c.bad;
    auto state = NetState::attach(*SharedMemory::attachDup(page.fd()));
    ASSERT_FALSE(state.ok());
    EXPECT_NE(state.error().message.find(c.says), std::string::npos) << state.error().message;
    *c.field = good;
  }
  auto small = SharedMemory::create("small", 4096);
  EXPECT_FALSE(validateNetStateHeader(small->data(), small->size()).ok());
}

TEST(NetState, OneNetAtATimeAndRestartsAreCounted) {
  auto page = freshPage();
  auto* p = reinterpret_cast<abi::NetStatePage*>(page.data());
  {
    auto first = NetState::attach(*SharedMemory::attachDup(page.fd()));
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_FALSE(first->restarted());
    EXPECT_EQ(p->net_pid, static_cast<uint32_t>(getpid()));
  }
  EXPECT_EQ(p->net_pid, 0u) << "released on detach";
  // Another live process holds it (our parent stands in for a running net).
  p->net_pid = static_cast<uint32_t>(getppid());
  auto refused = NetState::attach(*SharedMemory::attachDup(page.fd()));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("net state page"), std::string::npos);
  // A dead one does not.
  p->net_pid = test::deadPid();
  auto again = NetState::attach(*SharedMemory::attachDup(page.fd()));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->restarted());
}

abi::NetViewerSlot validUdpSlot() {
  abi::NetViewerSlot s{};
  s.state = static_cast<uint32_t>(abi::ViewerState::kPlaying);
  s.transport = static_cast<uint32_t>(abi::ViewerTransport::kUdp);
  s.session_id = 1;
  s.codec = abi::kCodecH264;
  s.address_family = AF_INET;
  s.client_rtp_port = 5000;
  s.client_rtcp_port = 5001;
  return s;
}

TEST(NetState, SlotValidationNamesTheBadField) {
  auto s = std::make_unique<abi::NetViewerSlot>(validUdpSlot());
  EXPECT_TRUE(validateViewerSlot(*s).ok());
  struct Case {
    std::function<void(abi::NetViewerSlot&)> spoil;
    const char* says;
  };
  const std::vector<Case> cases = {
      {[](auto& x) { x.state = 7; }, "state"},
      {[](auto& x) { x.session_id = 0; }, "session"},
      {[](auto& x) { x.codec = 9; }, "codec"},
      {[](auto& x) { x.flags = 0x80; }, "flags"},
      {[](auto& x) { x.transport = 3; }, "transport"},
      {[](auto& x) { x.address_family = 1; }, "family"},
      {[](auto& x) { x.client_rtp_port = 0; }, "port"},
      {[](auto& x) { x.out_unit = (uint64_t{5} << 16) | 0xFFFF; }, "exceeds"},
      {[](auto& x) {
         x.out_unit = (uint64_t{5} << 16) | 10;
         x.out_sent = 11;
       },
       "sent"},
  };
  for (const Case& c : cases) {
    auto bad = std::make_unique<abi::NetViewerSlot>(validUdpSlot());
    c.spoil(*bad);
    auto ok = validateViewerSlot(*bad);
    ASSERT_FALSE(ok.ok()) << c.says;
    EXPECT_NE(ok.error().message.find(c.says), std::string::npos) << ok.error().message;
  }
  // A free slot is valid whatever else it holds.
  auto free_slot = std::make_unique<abi::NetViewerSlot>();
  free_slot->transport = 99;
  EXPECT_TRUE(validateViewerSlot(*free_slot).ok());
  // TCP needs no address.
  auto tcp = std::make_unique<abi::NetViewerSlot>(validUdpSlot());
  tcp->transport = static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved);
  tcp->address_family = 0;
  EXPECT_TRUE(validateViewerSlot(*tcp).ok());
}

TEST(NetState, ParameterSetsSurviveAndBadOnesAreRefused) {
  auto page = freshPage();
  auto state = NetState::attach(*SharedMemory::attachDup(page.fd()));
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->parameterSets()) << "none yet";
  ParameterSets sets;
  sets.codec = Codec::kH264;
  sets.sps = {0x67, 1, 2, 3};
  sets.pps = {0x68, 4};
  state->storeParameterSets(sets);
  ASSERT_TRUE(state->parameterSets());
  EXPECT_EQ(*state->parameterSets(), sets);
  abi::NetStatePage& p = state->page();
  p.sps.size = abi::kMaxParameterSetSize + 1;
  EXPECT_FALSE(state->parameterSets()) << "length beyond the array";
  p.sps.size = 4;
  p.sps.data[0] = 0x68;  // a PPS where the SPS belongs
  EXPECT_FALSE(state->parameterSets());
  p.sps.data[0] = 0x67;
  p.codec = 5;
  EXPECT_FALSE(state->parameterSets());
  p.codec = 1;
  p.vps.size = 1;  // H.264 has no VPS
  p.vps.data[0] = 32 << 1;
  EXPECT_FALSE(state->parameterSets());
  p.vps.size = 0;
  p.parameter_sets_valid = 0;  // a net died while rewriting them
  EXPECT_FALSE(state->parameterSets());
  p.parameter_sets_valid = 1;
  EXPECT_TRUE(state->parameterSets());
}

TEST(NetState, FreeSlotClearsItsHeader) {
  auto page = freshPage();
  auto state = NetState::attach(*SharedMemory::attachDup(page.fd()));
  ASSERT_TRUE(state.ok());
  abi::NetViewerSlot& s = state->slot(3);
  s = validUdpSlot();
  s.out_unit = 77;
  state->freeSlot(3);
  EXPECT_EQ(s.state, 0u);
  EXPECT_EQ(s.session_id, 0u);
  EXPECT_EQ(s.out_unit, 0u);
}

}  // namespace
}  // namespace funkhaus::net
