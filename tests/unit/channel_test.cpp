// Channel messages: round trips over a real message channel (a seqpacket socketpair; a named
// pipe on Windows), handles included, and refusal of every malformed datagram a worker could send.
// Portable: the Windows build runs it under Wine (tests/windows).
#include "funkhaus/common/channel.h"

#if !defined(_WIN32)
#include <sys/socket.h>
#endif

#include <gtest/gtest.h>

#include <cstring>
#include <span>
#include <string_view>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/shared_memory.h"

namespace funkhaus {
namespace {

struct Pair {
  Pair() {
    auto pair = platform::messageChannelPair();
    if (!pair) {
      ADD_FAILURE() << pair.error().message;
      return;
    }
    a = std::move(pair->first);
    b = std::move(pair->second);
  }
  UniqueFd a, b;
};

// A handle of our own to send or to hand to parseMessage.
UniqueFd someHandle() { return std::move(Pair().a); }

UniqueFd duplicate(platform::NativeHandle handle) {
  auto copy = platform::duplicateHandle(handle);
  if (!copy) ADD_FAILURE() << copy.error().message;
  return copy ? std::move(*copy) : UniqueFd();
}

std::span<const std::byte> bytesOf(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(Channel, HelloRoundTrips) {
  Pair p;
  abi::HelloBody hello{abi::kAbiVersion, static_cast<uint32_t>(abi::WorkerKind::kEncode), 42, 0};
  ASSERT_TRUE(sendMessage(p.a.get(), HelloMessage{hello}).ok());
  auto m = receiveMessage(p.b.get());
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_TRUE(m->has_value());
  auto* h = std::get_if<HelloMessage>(&**m);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->body.pid, 42u);
  EXPECT_EQ(h->body.kind, static_cast<uint32_t>(abi::WorkerKind::kEncode));
}

TEST(Channel, RingFdsCarryWorkingMemfds) {
  Pair p;
  auto shm = SharedMemory::create("chan", 4096);
  ASSERT_TRUE(shm.ok());
  shm->data()[7] = std::byte{99};
  RingFdsMessage out;
  out.roles = {abi::FdRole::kStatusPage};
  out.fds.push_back(duplicate(shm->handle()));
  ASSERT_TRUE(sendMessage(p.a.get(), Message(std::move(out))).ok());
  auto m = receiveMessage(p.b.get());
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto* r = std::get_if<RingFdsMessage>(&**m);
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->fds.size(), 1u);
  EXPECT_EQ(r->roles[0], abi::FdRole::kStatusPage);
  auto peer = SharedMemory::attach(std::move(r->fds[0]));
  ASSERT_TRUE(peer.ok()) << peer.error().message;
  EXPECT_EQ(peer->data()[7], std::byte{99});
}

// A hang-up is the peer lost (funkhausd waits for its exit), never a malformed message (which
// funkhausd kills for): the code tells them apart.
TEST(Channel, EofIsAHangUpNotAMalformedMessage) {
  Pair p;
  p.a.reset();
  auto m = receiveMessage(p.b.get());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kPeerLost) << m.error().message;
}

// What every worker's exit after SIGTERM does: it closes with our stop command unread, and the
// kernel resets the connection (ECONNRESET) instead of an orderly EOF (on Windows the pipe is
// broken either way).
TEST(Channel, AResetIsAHangUpNotAMalformedMessage) {
  Pair p;
  ASSERT_TRUE(sendMessage(p.a.get(), CommandMessage{{1, 0, 0}}).ok());
  p.b.reset();  // closed with the command unread
  auto m = receiveMessage(p.a.get());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kPeerLost) << m.error().message;
  EXPECT_EQ(m.error().message.find("reset by peer"), std::string::npos) << m.error().message;
}

TEST(Channel, NothingThereYetIsNoMessageAndNoError) {
  Pair p;
  auto m = receiveMessage(p.b.get(), platform::Blocking::kDontWait);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_FALSE(m->has_value());
  // Then a message is there, and the next receive finds nothing again.
  ASSERT_TRUE(sendMessage(p.a.get(), ReadyMessage{}).ok());
  m = receiveMessage(p.b.get(), platform::Blocking::kDontWait);
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_TRUE(m->has_value());
  EXPECT_TRUE(std::holds_alternative<ReadyMessage>(**m));
  m = receiveMessage(p.b.get(), platform::Blocking::kDontWait);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_FALSE(m->has_value());
}

#if !defined(_WIN32)
// funkhausd's end of a worker's channel is a non-blocking socket (the launcher's): an empty one
// reads as nothing there with the default Blocking::kWait too.
TEST(Channel, NothingThereYetOnANonBlockingSocket) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  auto m = receiveMessage(b.get());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_FALSE(m->has_value());
}
#endif

// What WorkerChannel waits with: nothing there runs out the time; a message, and then the peer's
// hang-up, are there to receive at once.
TEST(Channel, WaitReadableSeesAMessageAndAHangUpAndTimesOutOtherwise) {
  Pair p;
  auto readable = platform::waitReadable(p.b.get(), 20);
  ASSERT_TRUE(readable.ok()) << readable.error().message;
  EXPECT_FALSE(*readable);
  ASSERT_TRUE(sendMessage(p.a.get(), ReadyMessage{}).ok());
  readable = platform::waitReadable(p.b.get(), 10'000);
  ASSERT_TRUE(readable.ok()) << readable.error().message;
  EXPECT_TRUE(*readable);
  auto m = receiveMessage(p.b.get());
  ASSERT_TRUE(m.ok() && m->has_value());
  p.a.reset();
  readable = platform::waitReadable(p.b.get(), 10'000);
  ASSERT_TRUE(readable.ok()) << readable.error().message;
  EXPECT_TRUE(*readable);
  m = receiveMessage(p.b.get());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kPeerLost) << m.error().message;
}

TEST(Channel, GarbageIsMalformedNotAHangUp) {
  Pair p;
  ASSERT_TRUE(platform::sendWithHandles(p.a.get(), bytesOf("garbage"), {}).ok());
  auto m = receiveMessage(p.b.get());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().code, ErrorCode::kPeerLost);
  EXPECT_NE(m.error().message.find("shorter than its header"), std::string::npos)
      << m.error().message;
}

std::vector<std::byte> valid(const Message& m) { return encodeMessage(m); }

std::string refusal(std::vector<std::byte> bytes, size_t fd_count = 0) {
  std::vector<UniqueFd> fds;
  for (size_t i = 0; i < fd_count; ++i) fds.push_back(someHandle());
  auto m = parseMessage(bytes, std::move(fds));
  EXPECT_FALSE(m.ok());
  return m.ok() ? "" : m.error().message;
}

void poke32(std::vector<std::byte>& b, size_t offset, uint32_t v) {
  std::memcpy(b.data() + offset, &v, sizeof v);
}

TEST(Channel, MalformedMessagesAreRefusedWithAReason) {
  const abi::HelloBody hello{abi::kAbiVersion, 1, 1, 0};
  auto b = valid(HelloMessage{hello});
  EXPECT_NE(refusal({b.begin(), b.begin() + 10}).find("shorter than its header"),
            std::string::npos);
  auto bad_magic = b;
  poke32(bad_magic, 0, 0x12345678);
  EXPECT_NE(refusal(bad_magic).find("bad magic"), std::string::npos);
  auto bad_version = b;
  bad_version[4] = std::byte{9};
  EXPECT_NE(refusal(bad_version).find("ABI version 9"), std::string::npos);
  auto bad_length = b;
  poke32(bad_length, 8, 999);
  EXPECT_NE(refusal(bad_length).find("says 999 bytes"), std::string::npos);
  auto bad_type = b;
  bad_type[6] = std::byte{77};
  EXPECT_NE(refusal(bad_type).find("unknown message type 77"), std::string::npos);
  auto bad_kind = b;
  poke32(bad_kind, 16 + 4, 99);
  EXPECT_NE(refusal(bad_kind).find("unknown worker kind"), std::string::npos);
  auto reserved = b;
  poke32(reserved, 16 + 12, 1);
  EXPECT_NE(refusal(reserved).find("reserved"), std::string::npos);
  EXPECT_NE(refusal(b, 1).find("must not carry fds"), std::string::npos);
  auto ready = valid(ReadyMessage{});
  ready.push_back(std::byte{0});
  poke32(ready, 8, static_cast<uint32_t>(ready.size()));
  EXPECT_NE(refusal(ready).find("ready message has a 1-byte body"), std::string::npos);
}

TEST(Channel, RingFdsCountMustMatchTheFdsThatCame) {
  RingFdsMessage m;
  m.roles = {abi::FdRole::kStatusPage, abi::FdRole::kRingIn};
  m.tags = {0, static_cast<uint32_t>(abi::RingId::kFrames)};
  auto b = valid(Message(std::move(m)));
  EXPECT_NE(refusal(b, 1).find("says 2 fds, 1 came"), std::string::npos);
  auto bad_role = b;
  poke32(bad_role, 16 + 8 + 4, 42);  // header, count and flags, then roles[1]
  EXPECT_NE(refusal(bad_role, 2).find("unknown fd role 42"), std::string::npos);
  auto bad_tag = b;
  poke32(bad_tag, 16 + 40, 3);  // tags[0]: a status page carries no tag
  EXPECT_NE(refusal(bad_tag, 2).find("invalid tag 3"), std::string::npos);
  auto bad_ring = b;
  poke32(bad_ring, 16 + 44, 0);  // tags[1]: a ring fd must name its ring
  EXPECT_NE(refusal(bad_ring, 2).find("invalid tag 0"), std::string::npos);
  poke32(bad_ring, 16 + 44, 99);
  EXPECT_NE(refusal(bad_ring, 2).find("invalid tag 99"), std::string::npos);
  auto bad_flags = b;
  poke32(bad_flags, 16 + 4, 0x80);
  EXPECT_NE(refusal(bad_flags, 2).find("unknown flags 0x80"), std::string::npos);
  std::vector<UniqueFd> fds;
  fds.push_back(someHandle());
  fds.push_back(someHandle());
  EXPECT_TRUE(parseMessage(b, std::move(fds)).ok());
}

TEST(Channel, SocketDepositCarriesExactlyOneSocketForAValidSlot) {
  Pair p;
  Pair viewer;  // stands in for an accepted connection
  ASSERT_TRUE(
      sendMessage(p.a.get(), Message(ConnectionDepositMessage{5, duplicate(viewer.a.get())})).ok());
  auto m = receiveMessage(p.b.get());
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto* d = std::get_if<ConnectionDepositMessage>(&**m);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->slot, 5u);
  ASSERT_TRUE(d->fd.valid());
  // The same connection, through the received handle.
  ASSERT_TRUE(platform::sendWithHandles(d->fd.get(), bytesOf("x"), {}).ok());
  std::byte c[4] = {};
  auto got = platform::receiveWithHandles(viewer.b.get(), c);
  ASSERT_TRUE(got.ok() && got->has_value()) << (got.ok() ? "nothing" : got.error().message);
  EXPECT_EQ((*got)->size, 1u);
  EXPECT_EQ(c[0], std::byte{'x'});

  auto b = valid(Message(ConnectionReleaseMessage{3}));
  EXPECT_TRUE(parseMessage(b, {}).ok());
  EXPECT_NE(refusal(b, 1).find("must not carry fds"), std::string::npos);
  poke32(b, 16, abi::kMaxConnections);
  EXPECT_NE(refusal(b).find("slot 16 is out of range"), std::string::npos);
  auto deposit = valid(Message(ConnectionDepositMessage{1, someHandle()}));
  EXPECT_NE(refusal(deposit).find("exactly 1 fd, 0 came"), std::string::npos);
  EXPECT_NE(refusal(deposit, 2).find("exactly 1 fd, 2 came"), std::string::npos);
}

TEST(Channel, RingFdsTagsAndLastFlagRoundTrip) {
  Pair p;
  Pair viewer;
  RingFdsMessage out;
  out.roles = {abi::FdRole::kConnection, abi::FdRole::kEndpoint};
  out.tags = {7, abi::kEndpointRtspListen};
  out.fds.push_back(duplicate(viewer.a.get()));
  out.fds.push_back(duplicate(viewer.b.get()));
  out.last = false;
  ASSERT_TRUE(sendMessage(p.a.get(), Message(std::move(out))).ok());
  auto m = receiveMessage(p.b.get());
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto* r = std::get_if<RingFdsMessage>(&**m);
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->last);
  ASSERT_EQ(r->tags.size(), 2u);
  EXPECT_EQ(r->tags[0], 7u);
  EXPECT_EQ(r->roles[1], abi::FdRole::kEndpoint);
  EXPECT_EQ(r->tags[1], abi::kEndpointRtspListen);
}

TEST(Channel, RequestsAndRepliesCarryTheirTextAndId) {
  Pair p;
  const std::string text = R"({"cmd":"pair","pin":"1234"})" + std::string(20000, ' ');
  ASSERT_TRUE(sendMessage(p.a.get(), RequestMessage{7, text}).ok());
  ASSERT_TRUE(sendMessage(p.a.get(), ReplyMessage{7, "{}"}).ok());
  auto m = receiveMessage(p.b.get());
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto* r = std::get_if<RequestMessage>(&**m);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->id, 7u);
  EXPECT_EQ(r->text, text);
  m = receiveMessage(p.b.get());
  ASSERT_TRUE(m.ok());
  auto* reply = std::get_if<ReplyMessage>(&**m);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->text, "{}");
  EXPECT_FALSE(sendMessage(p.a.get(), RequestMessage{0, "{}"}).ok()) << "id 0 is not an id";
  EXPECT_FALSE(
      sendMessage(p.a.get(), RequestMessage{1, std::string(abi::kMaxMessageText + 1, 'x')}).ok());
}

TEST(Channel, MalformedTextMessagesAreRefusedWithAReason) {
  auto b = valid(RequestMessage{5, "hello"});
  auto no_id = b;
  poke32(no_id, 16, 0);
  EXPECT_NE(refusal(no_id).find("id 0"), std::string::npos);
  auto long_text = b;
  poke32(long_text, 20, 6);
  EXPECT_NE(refusal(long_text).find("says 6 bytes of text, 5 came"), std::string::npos);
  auto nul = b;
  nul[24] = std::byte{0};
  EXPECT_NE(refusal(nul).find("NUL"), std::string::npos);
  EXPECT_NE(refusal(b, 1).find("must not carry fds"), std::string::npos);
  // Only text messages may be larger than a fixed-size message.
  auto big_event = valid(EventMessage{{1, 0, 0}});
  big_event.resize(abi::kMaxMessageSize + 8);
  poke32(big_event, 8, static_cast<uint32_t>(big_event.size()));
  EXPECT_NE(refusal(big_event).find("exceeds 4096"), std::string::npos);
}

TEST(Channel, OversizedDatagramIsRefused) {
  Pair p;
#if !defined(_WIN32)
  int size = 4 * static_cast<int>(abi::kMaxTextMessageSize);
  ASSERT_EQ(setsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
#endif
  std::vector<std::byte> big(abi::kMaxTextMessageSize + 100);
  ASSERT_TRUE(platform::sendWithHandles(p.a.get(), big, {}).ok());
  auto m = receiveMessage(p.b.get());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().code, ErrorCode::kPeerLost);
  EXPECT_NE(m.error().message.find("larger than"), std::string::npos) << m.error().message;
  // The rest of that datagram is gone: the next message arrives whole.
  ASSERT_TRUE(sendMessage(p.a.get(), ReadyMessage{}).ok());
  m = receiveMessage(p.b.get());
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_TRUE(m->has_value());
  EXPECT_TRUE(std::holds_alternative<ReadyMessage>(**m));
}

}  // namespace
}  // namespace funkhaus
