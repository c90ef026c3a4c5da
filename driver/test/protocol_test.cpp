// Control-message validation: every field of every request and reply, and every mode bound.
#include "funkhaus/vdisplay/protocol.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace funkhaus::vdisplay {
namespace {

using abi::VdisplayHeader;

UniqueFd someFd() { return UniqueFd(memfd_create("test", MFD_CLOEXEC)); }

std::vector<UniqueFd> fdsOf(size_t n) {
  std::vector<UniqueFd> out;
  for (size_t i = 0; i < n; ++i) out.push_back(someFd());
  return out;
}

Request addRequest() {
  Request r;
  r.type = VdisplayMessageType::kAddMonitor;
  r.request_id = 7;
  r.body = abi::VdisplayAddMonitorRequest{1920, 1080, 60000, abi::kVdisplayMonitorHdr, 0, 0, {}};
  return r;
}

VdisplayHeader headerOf(const std::vector<std::byte>& bytes) {
  VdisplayHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  return h;
}

void setHeader(std::vector<std::byte>& bytes, const VdisplayHeader& h) {
  std::memcpy(bytes.data(), &h, sizeof h);
}

// Parses and expects a refusal with `code` whose text contains `words`.
void expectRefused(const std::vector<std::byte>& bytes, size_t fds, VdisplayStatusCode code,
                   const std::string& words) {
  auto parsed = parseRequest(bytes, fdsOf(fds));
  ASSERT_TRUE(std::holds_alternative<ParseError>(parsed)) << words;
  const auto& e = std::get<ParseError>(parsed);
  EXPECT_EQ(e.code, code) << e.message;
  EXPECT_NE(e.message.find(words), std::string::npos) << e.message;
}

TEST(VdisplayProtocol, EveryRequestRoundTrips) {
  std::vector<Request> requests;
  requests.push_back(addRequest());
  for (auto type : {VdisplayMessageType::kGetInfo, VdisplayMessageType::kClearAll}) {
    Request r;
    r.type = type;
    r.request_id = 99;
    requests.push_back(std::move(r));
  }
  for (auto type : {VdisplayMessageType::kRemoveMonitor, VdisplayMessageType::kGetMonitor}) {
    Request r;
    r.type = type;
    r.request_id = 3;
    r.body = abi::VdisplayMonitorRequest{5, 0};
    requests.push_back(std::move(r));
  }
  Request set;
  set.type = VdisplayMessageType::kSetMode;
  set.body = abi::VdisplaySetModeRequest{2, 1280, 720, 144000};
  requests.push_back(std::move(set));
  Request ping;
  ping.type = VdisplayMessageType::kPing;
  ping.body = abi::VdisplayPingRequest{0x1122334455667788ull};
  requests.push_back(std::move(ping));

  for (const auto& r : requests) {
    const auto bytes = encodeRequest(r);
    const size_t fds = r.type == VdisplayMessageType::kAddMonitor ? 1 : 0;
    auto parsed = parseRequest(bytes, fdsOf(fds));
    ASSERT_TRUE(std::holds_alternative<Request>(parsed))
        << toString(r.type) << ": " << std::get<ParseError>(parsed).message;
    const auto& back = std::get<Request>(parsed);
    EXPECT_EQ(back.type, r.type);
    EXPECT_EQ(back.request_id, r.request_id);
    EXPECT_EQ(back.body.index(), r.body.index());
    EXPECT_EQ(back.ring.valid(), fds == 1);
    EXPECT_EQ(encodeRequest(back), bytes) << toString(r.type);
  }
}

TEST(VdisplayProtocol, HeaderFieldsAreChecked) {
  const auto good = encodeRequest(addRequest());
  expectRefused({}, 1, VdisplayStatusCode::kBadMessage, "shorter than its 24-byte header");
  expectRefused(std::vector<std::byte>(good.begin(), good.begin() + 23), 1,
                VdisplayStatusCode::kBadMessage, "shorter");
  expectRefused(std::vector<std::byte>(abi::kVdisplayMaxMessageSize + 1), 1,
                VdisplayStatusCode::kBadMessage, "exceeds");

  auto bytes = good;
  auto h = headerOf(bytes);
  h.magic = 0x12345678;
  setHeader(bytes, h);
  expectRefused(bytes, 1, VdisplayStatusCode::kBadMessage, "bad magic 0x12345678");

  bytes = good;
  h = headerOf(bytes);
  h.abi_version = 1;
  setHeader(bytes, h);
  expectRefused(bytes, 1, VdisplayStatusCode::kVersionMismatch, "host speaks ABI 1");

  bytes = good;
  h = headerOf(bytes);
  h.protocol_version = 9;
  setHeader(bytes, h);
  expectRefused(bytes, 1, VdisplayStatusCode::kVersionMismatch, "protocol 9");

  bytes = good;
  h = headerOf(bytes);
  h.length += 1;
  setHeader(bytes, h);
  expectRefused(bytes, 1, VdisplayStatusCode::kBadMessage, "header says 57 bytes");

  bytes = good;
  h = headerOf(bytes);
  h.reserved0 = 1;
  setHeader(bytes, h);
  expectRefused(bytes, 1, VdisplayStatusCode::kBadMessage, "reserved");

  bytes = good;
  h = headerOf(bytes);
  h.reserved1 = 1;
  setHeader(bytes, h);
  expectRefused(bytes, 1, VdisplayStatusCode::kBadMessage, "reserved");

  for (uint16_t type : {uint16_t{0}, uint16_t{8}, uint16_t{0x7fff}}) {
    bytes = good;
    h = headerOf(bytes);
    h.type = type;
    setHeader(bytes, h);
    expectRefused(bytes, 1, VdisplayStatusCode::kBadMessage, "unknown message type");
  }
  bytes = good;
  h = headerOf(bytes);
  h.type |= abi::kVdisplayReplyBit;
  setHeader(bytes, h);
  expectRefused(bytes, 1, VdisplayStatusCode::kBadMessage, "is a reply");
}

TEST(VdisplayProtocol, BodiesAndFdsAreChecked) {
  // Every type with a body one byte short and one byte long.
  for (uint16_t t = 1; t <= abi::kVdisplayMaxMessageType; ++t) {
    Request r;
    r.type = static_cast<VdisplayMessageType>(t);
    auto bytes = encodeRequest(r);  // empty body
    const size_t fds = t == 2 ? 1 : 0;
    if (t != 1 && t != 4) expectRefused(bytes, fds, VdisplayStatusCode::kBadMessage, "body is 0");
    bytes.push_back(std::byte{0});
    auto h = headerOf(bytes);
    h.length = static_cast<uint32_t>(bytes.size());
    setHeader(bytes, h);
    expectRefused(bytes, fds, VdisplayStatusCode::kBadMessage, "body is");
  }
  const auto add = encodeRequest(addRequest());
  expectRefused(add, 0, VdisplayStatusCode::kBadMessage, "must carry 1 fd");
  expectRefused(add, 2, VdisplayStatusCode::kBadMessage, "2 came");
  Request ping;
  ping.type = VdisplayMessageType::kPing;
  ping.body = abi::VdisplayPingRequest{1};
  expectRefused(encodeRequest(ping), 1, VdisplayStatusCode::kBadMessage, "PING must carry 0 fds");

  Request bad_flags = addRequest();
  std::get<abi::VdisplayAddMonitorRequest>(bad_flags.body).flags = 0x6;
  expectRefused(encodeRequest(bad_flags), 1, VdisplayStatusCode::kBadMessage, "unknown flags 0x6");
  Request bad_reserved = addRequest();
  std::get<abi::VdisplayAddMonitorRequest>(bad_reserved.body).reserved[1] = 1;
  expectRefused(encodeRequest(bad_reserved), 1, VdisplayStatusCode::kBadMessage, "reserved");
  Request remove;
  remove.type = VdisplayMessageType::kRemoveMonitor;
  remove.body = abi::VdisplayMonitorRequest{0, 3};
  expectRefused(encodeRequest(remove), 0, VdisplayStatusCode::kBadMessage, "reserved");
}

TEST(VdisplayProtocol, PeekHeaderReadsTypeAndIdOfAnythingLongEnough) {
  EXPECT_FALSE(peekHeader(std::vector<std::byte>(23)).has_value());
  auto bytes = encodeRequest(addRequest());
  auto h = headerOf(bytes);
  h.magic = 0;  // even a broken header tells us which request to refuse
  setHeader(bytes, h);
  const auto peek = peekHeader(bytes);
  ASSERT_TRUE(peek.has_value());
  EXPECT_EQ(peek->type, 2);
  EXPECT_EQ(peek->request_id, 7u);
}

TEST(VdisplayProtocol, RepliesRoundTripAndAreValidated) {
  Reply info;
  info.type = VdisplayMessageType::kGetInfo;
  info.request_id = 1;
  abi::VdisplayInfoReply ib{};
  ib.abi_version = abi::kAbiVersion;
  std::strcpy(ib.backend, "xvfb");
  info.body = ib;
  Reply monitor;
  monitor.type = VdisplayMessageType::kAddMonitor;
  monitor.request_id = 2;
  abi::VdisplayMonitorReply mb{};
  mb.edid_size = 128;
  std::strcpy(mb.display_name, ":12");
  monitor.body = mb;
  Reply removed;
  removed.type = VdisplayMessageType::kRemoveMonitor;
  removed.request_id = 3;
  Reply refused = refusal(6, 4, VdisplayStatusCode::kBadMode, "width 1366 is not a multiple of 8");
  Reply unknown = refusal(0x4242, 5, VdisplayStatusCode::kBadMessage, "unknown message type");
  for (const Reply& r : {info, monitor, removed, refused, unknown}) {
    const auto bytes = encodeReply(r);
    auto back = parseReply(bytes, 0);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->type, r.type);
    EXPECT_EQ(back->request_id, r.request_id);
    EXPECT_EQ(back->code, r.code);
    EXPECT_EQ(back->message, r.message);
    EXPECT_EQ(encodeReply(*back), bytes);
  }
  // A refusal carries the zeroed body of its type (fixed sizes for every reply of a type).
  EXPECT_EQ(encodeReply(refused).size(), sizeof(VdisplayHeader) + sizeof(abi::VdisplayStatus) +
                                             sizeof(abi::VdisplayMonitorReply));
  EXPECT_EQ(encodeReply(unknown).size(), sizeof(VdisplayHeader) + sizeof(abi::VdisplayStatus));

  const auto good = encodeReply(monitor);
  EXPECT_FALSE(parseReply(good, 1).ok());  // replies never carry fds
  auto truncated = good;
  truncated.pop_back();
  EXPECT_FALSE(parseReply(truncated, 0).ok());
  auto unterminated = good;
  std::memset(unterminated.data() + sizeof(VdisplayHeader) + 8, 'x', abi::kVdisplayMessageTextSize);
  auto e = parseReply(unterminated, 0);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("terminated"), std::string::npos);
  auto bad_status = good;
  bad_status[sizeof(VdisplayHeader)] = std::byte{99};
  EXPECT_FALSE(parseReply(bad_status, 0).ok());
  auto not_reply = good;
  auto h = headerOf(not_reply);
  h.type = 2;
  setHeader(not_reply, h);
  EXPECT_FALSE(parseReply(not_reply, 0).ok());
  auto bad_edid = monitor;
  std::get<abi::VdisplayMonitorReply>(bad_edid.body).edid_size = 300;
  EXPECT_FALSE(parseReply(encodeReply(bad_edid), 0).ok());
  // Control characters in a reason never reach the host's terminal.
  auto text = parseReply(
      encodeReply(refusal(3, 1, VdisplayStatusCode::kUnknownMonitor, "no\nmonitor\x1b[2J")), 0);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(text->message, "no monitor [2J");
}

TEST(VdisplayProtocol, ModeBounds) {
  EXPECT_TRUE(validateMode({1920, 1080, 60000}).ok());
  EXPECT_TRUE(validateMode({320, 320, 24000}).ok());
  EXPECT_TRUE(validateMode({3840, 2160, 60000}).ok());
  EXPECT_TRUE(validateMode({1920, 1080, 240000}).ok());
  EXPECT_TRUE(validateMode({4088, 320, 24000}).ok());
  struct Case {
    Mode mode;
    const char* words;
  };
  const Case cases[] = {
      {{0, 1080, 60000}, "width 0 is out of range (320..4088)"},
      {{1920, 0, 60000}, "height 0 is out of range (320..4094)"},
      {{312, 1080, 60000}, "width 312 is out of range"},
      {{1920, 318, 60000}, "height 318 is out of range"},
      {{4096, 2160, 60000}, "width 4096 is out of range"},
      {{8192, 8192, 60000}, "width 8192 is out of range"},
      {{1920, 4096, 30000}, "height 4096 is out of range"},
      {{1366, 768, 60000}, "width 1366 is not a multiple of 8"},
      {{1920, 1081, 60000}, "height 1081 is odd"},
      {{1920, 1080, 0}, "refresh 0 mHz is out of range (24000..240000 mHz)"},
      {{1920, 1080, 23999}, "refresh 23999 mHz"},
      {{1920, 1080, 240001}, "refresh 240001 mHz"},
      {{3840, 2160, 120000}, "1097.75 MHz pixel clock"},
      {{2560, 1440, 240000}, "pixel clock"},
  };
  for (const auto& c : cases) {
    auto r = validateMode(c.mode);
    ASSERT_FALSE(r.ok()) << c.words;
    EXPECT_NE(r.error().message.find(c.words), std::string::npos) << r.error().message;
  }
}

TEST(VdisplayProtocol, FramebufferBounds) {
  const Mode m{1280, 720, 60000};
  EXPECT_TRUE(validateFramebuffer(0, 0, m).ok());
  EXPECT_TRUE(validateFramebuffer(1920, 1080, m).ok());
  EXPECT_TRUE(validateFramebuffer(0, 1080, m).ok());  // 0 = the mode's width
  auto small = validateFramebuffer(1024, 768, m);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.error().message.find("smaller than the mode"), std::string::npos);
  EXPECT_FALSE(validateFramebuffer(8192, 1080, m).ok());
  EXPECT_FALSE(validateFramebuffer(1284, 720, m).ok());
  EXPECT_FALSE(validateFramebuffer(1280, 721, m).ok());
}

}  // namespace
}  // namespace funkhaus::vdisplay
