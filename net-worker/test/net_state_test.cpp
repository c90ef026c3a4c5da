// The net state page as funkhaus-net uses it: validated attach, the protocol table and the RTSP
// blob, connection- and viewer-slot validation, parameter sets. (Golden layouts of the page and
// the blob: tests/unit/golden_layout_test.cpp.)
#include "funkhaus/net/net_state.h"

#include "funkhaus/net/protocol_declarations.h"
#include "funkhaus/net/rtsp/rtsp_blob.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <functional>

#include "funkhaus/abi/codec.h"
#include "funkhaus/common/net_state_page.h"
#include "test_util.h"

namespace funkhaus::net {
namespace {

SharedMemory freshPage() { return std::move(*createNetStatePage(blobRequests())); }

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
                        {&p->max_connections, 8, "max_connections"},
                        {&p->protocol_count, abi::kMaxNetProtocols + 1, "protocol_count"},
                        {&p->protocols[0].protocol, 0, "unknown protocol"},
                        {&p->protocols[0].protocol, 77, "unknown protocol"}};
  for (const Case& c : cases) {
    const uint32_t good = *c.field;
    *c.field = c.bad;
    auto state = NetState::attach(*SharedMemory::attachDup(page.handle()));
    ASSERT_FALSE(state.ok());
    EXPECT_NE(state.error().message.find(c.says), std::string::npos) << state.error().message;
    *c.field = good;
  }
  auto small = SharedMemory::create("small", 4096);
  EXPECT_FALSE(validateNetStateHeader(small->data(), small->size()).ok());
  // Sizes and offsets that point outside the mapping or into the header.
  struct Bounds {
    std::function<void(abi::NetStatePage&)> spoil;
    const char* says;
  };
  const std::vector<Bounds> bounds = {
      {[](auto& x) { x.total_size = x.total_size + 64; }, "total_size"},
      {[](auto& x) { x.total_size = 64; }, "total_size"},
      {[](auto& x) { x.protocols[0].offset = 64; }, "out of place"},
      {[](auto& x) { x.protocols[0].offset += 8; }, "out of place"},
      {[](auto& x) { x.protocols[0].size = x.total_size; }, "out of place"},
      {[](auto& x) { x.protocols[0].size = ~uint64_t{0}; }, "out of place"},
  };
  for (const Bounds& b : bounds) {
    auto spoilt = freshPage();
    b.spoil(*reinterpret_cast<abi::NetStatePage*>(spoilt.data()));
    auto ok = validateNetStateHeader(spoilt.data(), spoilt.size());
    ASSERT_FALSE(ok.ok()) << b.says;
    EXPECT_NE(ok.error().message.find(b.says), std::string::npos) << ok.error().message;
  }
}

TEST(NetState, AFreshOrForeignBlobStartsAfreshAndAKnownOneIsKept) {
  auto page = freshPage();
  auto* blob = static_cast<abi::RtspState*>(abi::findNetBlob(
      *reinterpret_cast<abi::NetStatePage*>(page.data()), abi::NetProtocol::kRtsp));
  ASSERT_NE(blob, nullptr);
  {
    auto first = NetState::attach(*SharedMemory::attachDup(page.handle()));
    ASSERT_TRUE(first.ok()) << first.error().message;
    auto rtsp = RtspBlob::open(*first);
    ASSERT_TRUE(rtsp.ok()) << rtsp.error().message;
    EXPECT_EQ(blob->header.magic, abi::kRtspStateMagic) << "initialised by the first net";
    EXPECT_EQ(blob->header.version, abi::kRtspStateVersion);
    rtsp->viewer(4).session_id = 44;
  }
  {
    auto second = NetState::attach(*SharedMemory::attachDup(page.handle()));
    ASSERT_TRUE(second.ok());
    auto rtsp = RtspBlob::open(*second);
    ASSERT_TRUE(rtsp.ok());
    EXPECT_EQ(rtsp->viewer(4).session_id, 44u) << "a successor of the same build keeps it";
  }
  blob->header.version = abi::kRtspStateVersion + 1;  // another build's state
  auto third = NetState::attach(*SharedMemory::attachDup(page.handle()));
  ASSERT_TRUE(third.ok());
  auto rtsp = RtspBlob::open(*third);
  ASSERT_TRUE(rtsp.ok());
  EXPECT_EQ(rtsp->viewer(4).session_id, 0u) << "state of another version is not trusted";
  EXPECT_EQ(blob->header.version, abi::kRtspStateVersion);
}

TEST(NetState, APageWithoutAnRtspBlobHasNoRtsp) {
  auto page = createNetStatePage(std::span<const abi::NetBlobRequest>());
  ASSERT_TRUE(page.ok());
  auto state = NetState::attach(std::move(*page));
  ASSERT_TRUE(state.ok()) << "the core's page is fine; RTSP is not enabled on it";
  EXPECT_TRUE(state->protocols().empty());
  auto none = RtspBlob::open(*state);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no RTSP/RTP blob"), std::string::npos)
      << none.error().message;
  const abi::NetBlobRequest tiny[] = {{abi::NetProtocol::kRtsp, 64}};
  auto small = NetState::attach(std::move(*createNetStatePage(tiny)));
  ASSERT_TRUE(small.ok());
  auto refused = RtspBlob::open(*small);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("needs"), std::string::npos) << refused.error().message;
}

TEST(NetState, OneNetAtATimeAndRestartsAreCounted) {
  auto page = freshPage();
  auto* p = reinterpret_cast<abi::NetStatePage*>(page.data());
  {
    auto first = NetState::attach(*SharedMemory::attachDup(page.handle()));
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_FALSE(first->restarted());
    EXPECT_EQ(p->net_pid, static_cast<uint32_t>(getpid()));
  }
  EXPECT_EQ(p->net_pid, 0u) << "released on detach";
  // Another live process holds it (our parent stands in for a running net).
  p->net_pid = static_cast<uint32_t>(getppid());
  auto refused = NetState::attach(*SharedMemory::attachDup(page.handle()));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("net state page"), std::string::npos);
  // A dead one does not.
  p->net_pid = test::deadPid();
  auto again = NetState::attach(*SharedMemory::attachDup(page.handle()));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->restarted());
}

abi::RtspViewerSlot validUdpSlot() {
  abi::RtspViewerSlot s{};
  s.state = static_cast<uint32_t>(abi::ViewerState::kPlaying);
  s.transport = static_cast<uint32_t>(abi::ViewerTransport::kUdp);
  s.session_id = 1;
  s.codec = static_cast<uint32_t>(abi::Codec::kH264);
  s.address_family = AF_INET;
  s.client_rtp_port = 5000;
  s.client_rtcp_port = 5001;
  return s;
}

TEST(NetState, SlotValidationNamesTheBadField) {
  auto s = std::make_unique<abi::RtspViewerSlot>(validUdpSlot());
  EXPECT_TRUE(validateViewerSlot(*s).ok());
  struct Case {
    std::function<void(abi::RtspViewerSlot&)> spoil;
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
  };
  for (const Case& c : cases) {
    auto bad = std::make_unique<abi::RtspViewerSlot>(validUdpSlot());
    c.spoil(*bad);
    auto ok = validateViewerSlot(*bad);
    ASSERT_FALSE(ok.ok()) << c.says;
    EXPECT_NE(ok.error().message.find(c.says), std::string::npos) << ok.error().message;
  }
  // A free slot is valid whatever else it holds, an audio track's leftovers too (a set-up flag, a
  // sequence over 16 bits, the video's SSRC: what fuzz_net_state found in a recorded page); its
  // readers check the state first (adopt() refuses a free slot).
  auto free_slot = std::make_unique<abi::RtspViewerSlot>();
  free_slot->transport = 99;
  EXPECT_TRUE(validateViewerSlot(*free_slot).ok());
  free_slot->audio.flags = abi::kAudioTrackFlagSetUp;
  free_slot->audio.next_sequence = 0x10000;
  EXPECT_TRUE(validateViewerSlot(*free_slot).ok());
  // TCP needs no address.
  auto tcp = std::make_unique<abi::RtspViewerSlot>(validUdpSlot());
  tcp->transport = static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved);
  tcp->address_family = 0;
  EXPECT_TRUE(validateViewerSlot(*tcp).ok());
}

TEST(NetState, AudioTrackValidationNamesTheBadField) {
  auto withAudio = [](abi::ViewerTransport transport) {
    auto s = std::make_unique<abi::RtspViewerSlot>(validUdpSlot());
    s->transport = static_cast<uint32_t>(transport);
    s->ssrc = 0x1111;
    s->rtp_channel = 0;
    s->rtcp_channel = 1;
    s->audio.flags = abi::kAudioTrackFlagSetUp | abi::kAudioTrackFlagTimed;
    s->audio.ssrc = 0x2222;
    s->audio.next_sequence = 0xFFFF;
    s->audio.client_rtp_port = 5002;
    s->audio.client_rtcp_port = 5003;
    s->audio.rtp_channel = 2;
    s->audio.rtcp_channel = 3;
    return s;
  };
  EXPECT_TRUE(validateViewerSlot(*withAudio(abi::ViewerTransport::kUdp)).ok());
  EXPECT_TRUE(validateViewerSlot(*withAudio(abi::ViewerTransport::kTcpInterleaved)).ok());
  struct Case {
    abi::ViewerTransport transport;
    std::function<void(abi::RtspViewerSlot&)> spoil;
    const char* says;
  };
  const auto udp = abi::ViewerTransport::kUdp;
  const auto tcp = abi::ViewerTransport::kTcpInterleaved;
  const std::vector<Case> cases = {
      {udp, [](auto& x) { x.audio.flags = 0x80 | abi::kAudioTrackFlagSetUp; }, "audio flags"},
      {udp, [](auto& x) { x.audio.flags = abi::kAudioTrackFlagTimed; }, "without an audio track"},
      {udp, [](auto& x) { x.audio.next_sequence = 0x10000; }, "audio sequence"},
      {udp, [](auto& x) { x.audio.ssrc = x.ssrc; }, "audio ssrc"},
      {udp, [](auto& x) { x.audio.client_rtp_port = 0; }, "audio client port"},
      {udp, [](auto& x) { x.audio.client_rtcp_port = 0; }, "audio client port"},
      {tcp, [](auto& x) { x.audio.rtp_channel = 0; }, "audio channels"},
      {tcp, [](auto& x) { x.audio.rtcp_channel = 1; }, "audio channels"},
      {tcp, [](auto& x) { x.audio.rtcp_channel = 2; }, "audio channels"},
  };
  for (const Case& c : cases) {
    auto bad = withAudio(c.transport);
    c.spoil(*bad);
    auto ok = validateViewerSlot(*bad);
    ASSERT_FALSE(ok.ok()) << c.says;
    EXPECT_NE(ok.error().message.find(c.says), std::string::npos) << ok.error().message;
  }
  // No audio track: its other fields mean nothing.
  auto none = withAudio(udp);
  none->audio.flags = 0;
  none->audio.ssrc = none->ssrc;
  none->audio.next_sequence = 0x12345678;
  EXPECT_TRUE(validateViewerSlot(*none).ok());
}

TEST(NetState, ConnectionSlotValidationNamesTheBadField) {
  auto kept = [] {
    auto c = std::make_unique<abi::NetConnectionSlot>();
    c->state = static_cast<uint32_t>(abi::ConnectionState::kKept);
    c->protocol = static_cast<uint32_t>(abi::NetProtocol::kRtsp);
    return c;
  };
  EXPECT_TRUE(validateConnectionSlot(*kept()).ok());
  struct Case {
    std::function<void(abi::NetConnectionSlot&)> spoil;
    const char* says;
  };
  const std::vector<Case> cases = {
      {[](auto& x) { x.state = 9; }, "state"},
      {[](auto& x) { x.protocol = 0; }, "protocol"},
      {[](auto& x) { x.out_unit = (uint64_t{5} << 16) | 0xFFFF; }, "exceeds"},
      {[](auto& x) {
         x.out_unit = (uint64_t{5} << 16) | 10;
         x.out_sent = 11;
       },
       "sent"},
  };
  for (const Case& c : cases) {
    auto bad = kept();
    c.spoil(*bad);
    auto ok = validateConnectionSlot(*bad);
    ASSERT_FALSE(ok.ok()) << c.says;
    EXPECT_NE(ok.error().message.find(c.says), std::string::npos) << ok.error().message;
  }
  auto free_slot = std::make_unique<abi::NetConnectionSlot>();
  free_slot->protocol = 99;
  EXPECT_TRUE(validateConnectionSlot(*free_slot).ok());
}

TEST(NetState, ParameterSetsSurviveAndBadOnesAreRefused) {
  auto page = freshPage();
  auto state = NetState::attach(*SharedMemory::attachDup(page.handle()));
  ASSERT_TRUE(state.ok());
  auto blob = RtspBlob::open(*state);
  ASSERT_TRUE(blob.ok());
  EXPECT_FALSE(blob->parameterSets()) << "none yet";
  media::ParameterSets sets;
  sets.codec = media::Codec::kH264;
  sets.sps = {0x67, 1, 2, 3};
  sets.pps = {0x68, 4};
  blob->storeParameterSets(sets);
  ASSERT_TRUE(blob->parameterSets());
  EXPECT_EQ(*blob->parameterSets(), sets);
  abi::RtspState& p = blob->state();
  p.sps.size = abi::kMaxParameterSetSize + 1;
  EXPECT_FALSE(blob->parameterSets()) << "length beyond the array";
  p.sps.size = 4;
  p.sps.data[0] = 0x68;  // a PPS where the SPS belongs
  EXPECT_FALSE(blob->parameterSets());
  p.sps.data[0] = 0x67;
  p.codec = 5;
  EXPECT_FALSE(blob->parameterSets());
  p.codec = 1;
  p.vps.size = 1;  // H.264 has no VPS
  p.vps.data[0] = 32 << 1;
  EXPECT_FALSE(blob->parameterSets());
  p.vps.size = 0;
  p.parameter_sets_valid = 0;  // a net died while rewriting them
  EXPECT_FALSE(blob->parameterSets());
  p.parameter_sets_valid = 1;
  EXPECT_TRUE(blob->parameterSets());
}

TEST(NetState, FreeViewerAndConnectionClearTheirHeaders) {
  auto page = freshPage();
  auto state = NetState::attach(*SharedMemory::attachDup(page.handle()));
  ASSERT_TRUE(state.ok());
  auto blob = RtspBlob::open(*state);
  ASSERT_TRUE(blob.ok());
  abi::RtspViewerSlot& s = blob->viewer(3);
  s = validUdpSlot();
  state->keepConnection(3, abi::NetProtocol::kRtsp, 3);
  abi::NetConnectionSlot& c = state->connection(3);
  EXPECT_EQ(c.state, static_cast<uint32_t>(abi::ConnectionState::kKept));
  EXPECT_EQ(c.protocol, static_cast<uint32_t>(abi::NetProtocol::kRtsp));
  EXPECT_EQ(c.session, 3u);
  c.out_unit = 77;
  blob->freeViewer(3);
  state->freeConnection(3);
  EXPECT_EQ(s.state, 0u);
  EXPECT_EQ(s.session_id, 0u);
  EXPECT_EQ(c.state, 0u);
  EXPECT_EQ(c.out_unit, 0u);
}

}  // namespace
}  // namespace funkhaus::net
