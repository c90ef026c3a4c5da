// OutputQueue: non-blocking writes of whole units, and the page mirror that lets a successor
// finish exactly the unit a SIGKILLed net left half-written (real TCP on loopback).
#include "funkhaus/net/output_queue.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

#include "funkhaus/common/unique_fd.h"

namespace funkhaus::net {
namespace {

struct TcpPair {
  UniqueFd writer, reader;
};

// A loopback connection with small buffers, so a few units fill it.
TcpPair tcpPair() {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(listener.get(), 1), 0);
  socklen_t len = sizeof a;
  getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &len);
  TcpPair p;
  p.reader = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int small = 4096;
  setsockopt(p.reader.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  EXPECT_EQ(connect(p.reader.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  p.writer = UniqueFd(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  setsockopt(p.writer.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  return p;
}

std::vector<uint8_t> unitOf(size_t index, size_t size) {
  std::vector<uint8_t> u(size, static_cast<uint8_t>(index));
  u[0] = '$';
  return u;
}

std::vector<uint8_t> readAll(int fd, size_t at_most, int quiet_ms) {
  std::vector<uint8_t> out;
  uint8_t buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, quiet_ms) <= 0) break;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > at_most) break;
  }
  return out;
}

TEST(OutputQueue, WritesWholeUnitsInOrder) {
  auto p = tcpPair();
  OutputQueue q;
  std::vector<uint8_t> expected;
  for (size_t i = 0; i < 5; ++i) {
    auto u = unitOf(i, 100 + i);
    EXPECT_TRUE(q.push(u, i % 2 == 0));
    expected.insert(expected.end(), u.begin(), u.end());
  }
  EXPECT_TRUE(q.mediaQueued());
  EXPECT_EQ(q.flush(p.writer.get()), OutputQueue::Flush::kDone);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.mediaQueued());
  EXPECT_EQ(q.bytesWritten(), expected.size());
  EXPECT_EQ(readAll(p.reader.get(), expected.size(), 200), expected);
  std::vector<uint8_t> huge(abi::kNetPendingCapacity + 1);
  EXPECT_FALSE(q.push(huge, true)) << "a unit must fit the page";
}

TEST(OutputQueue, KernelCountersMatchWhatWasWritten) {
  auto p = tcpPair();
  OutputQueue q;
  q.push(unitOf(1, 3000), true);
  ASSERT_EQ(q.flush(p.writer.get()), OutputQueue::Flush::kDone);
  auto written = tcpBytesWritten(p.writer.get());
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(*written, 3000u);
}

// The heart of the restart story: a net fills the socket, dies with a unit half-written (and
// without having noted how much went out); the next net finishes exactly that unit.
TEST(OutputQueue, SuccessorFinishesTheHalfWrittenUnitExactly) {
  auto p = tcpPair();
  auto slot = std::make_unique<abi::NetConnectionSlot>();
  std::vector<std::vector<uint8_t>> units;
  {
    OutputQueue q;
    q.mirrorTo(slot.get());
    OutputQueue::Flush f = OutputQueue::Flush::kDone;
    for (size_t i = 0; f != OutputQueue::Flush::kWouldBlock && i < 1000; ++i) {
      units.push_back(unitOf(i, 1000 + i % 7));
      q.push(units.back(), true);
      f = q.flush(p.writer.get());
    }
    ASSERT_EQ(f, OutputQueue::Flush::kWouldBlock) << "the small buffers never filled";
    // The queue "dies" here: nothing after the last send() is noted. Make the hint lie too,
    // so only the kernel's counters can tell how much of the unit went out.
    slot->out_sent = 0;
  }
  const uint64_t word = slot->out_unit;
  const uint64_t offset = word >> abi::kOutUnitOffsetShift;
  const uint64_t size = word & abi::kOutUnitSizeMask;
  ASSERT_GT(size, 0u) << "a unit is pending";
  std::vector<uint8_t> expected;
  for (const auto& u : units) {
    if (expected.size() >= offset + size) break;
    expected.insert(expected.end(), u.begin(), u.end());
  }
  ASSERT_EQ(expected.size(), offset + size) << "the pending unit is one of ours, at its offset";

  auto resumed = OutputQueue::resume(p.writer.get(), *slot);
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  std::vector<uint8_t> got;
  for (int round = 0; round < 1000 && got.size() < expected.size(); ++round) {
    resumed->flush(p.writer.get());
    auto more = readAll(p.reader.get(), expected.size(), 20);
    got.insert(got.end(), more.begin(), more.end());
  }
  EXPECT_TRUE(resumed->empty());
  auto tail = readAll(p.reader.get(), 1, 100);
  got.insert(got.end(), tail.begin(), tail.end());
  ASSERT_EQ(got.size(), expected.size()) << "no byte lost, none twice";
  EXPECT_EQ(got, expected);
  // The successor goes on with whole units after it.
  resumed->push(unitOf(200, 50), true);
  EXPECT_EQ(resumed->flush(p.writer.get()), OutputQueue::Flush::kDone);
  EXPECT_EQ(readAll(p.reader.get(), 50, 200), unitOf(200, 50));
}

TEST(OutputQueue, ResumeAfterACompletedUnitWritesNothingTwice) {
  auto p = tcpPair();
  auto slot = std::make_unique<abi::NetConnectionSlot>();
  {
    OutputQueue q;
    q.mirrorTo(slot.get());
    q.push(unitOf(1, 500), true);
    ASSERT_EQ(q.flush(p.writer.get()), OutputQueue::Flush::kDone);
  }
  auto resumed = OutputQueue::resume(p.writer.get(), *slot);
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  EXPECT_TRUE(resumed->empty());
  EXPECT_EQ(resumed->bytesWritten(), 500u);
  EXPECT_EQ(readAll(p.reader.get(), 500, 100).size(), 500u);
}

TEST(OutputQueue, ResumeRefusesAPageTheKernelContradicts) {
  auto p = tcpPair();
  auto slot = std::make_unique<abi::NetConnectionSlot>();
  slot->out_unit = (uint64_t{100000} << abi::kOutUnitOffsetShift) | 10;  // never written
  EXPECT_FALSE(OutputQueue::resume(p.writer.get(), *slot).ok());
  slot->out_unit = 20000;  // offset 0, size 20000 > capacity
  EXPECT_FALSE(OutputQueue::resume(p.writer.get(), *slot).ok());
}

TEST(OutputQueue, WithoutTcpCountersTheHintIsUsed) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  EXPECT_FALSE(tcpBytesWritten(a.get()).ok());
  auto slot = std::make_unique<abi::NetConnectionSlot>();
  const auto u = unitOf(3, 10);
  std::memcpy(slot->out_data, u.data(), u.size());
  slot->out_unit = (uint64_t{0} << abi::kOutUnitOffsetShift) | 10;
  slot->out_sent = 4;
  auto resumed = OutputQueue::resume(a.get(), *slot);
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  EXPECT_EQ(resumed->queuedBytes(), 6u);
  EXPECT_EQ(resumed->flush(a.get()), OutputQueue::Flush::kDone);
  EXPECT_EQ(readAll(b.get(), 6, 100), std::vector<uint8_t>(u.begin() + 4, u.end()));
}

// controlBytes() counts the queued answers only (what decides whether the peer is read), media
// units and the written part of the front unit excluded.
TEST(OutputQueueTest, ControlBytesCountQueuedAnswersOnly) {
  TcpPair p = tcpPair();
  OutputQueue q;
  ASSERT_TRUE(q.push(unitOf(0, 16384), false));
  ASSERT_TRUE(q.push(unitOf(1, 16384), false));
  ASSERT_TRUE(q.push(unitOf(2, 3000), true));
  ASSERT_TRUE(q.push(unitOf(3, 50), false));
  EXPECT_EQ(q.controlBytes(), 32818u);
  EXPECT_EQ(q.queuedBytes(), 35818u);
  // The small buffers take part of the answers: what is left of them counts, the media not.
  ASSERT_EQ(q.flush(p.writer.get()), OutputQueue::Flush::kWouldBlock);
  EXPECT_LT(q.queuedBytes(), 35818u);
  EXPECT_EQ(q.controlBytes(), q.queuedBytes() - 3000u);
  while (q.flush(p.writer.get()) == OutputQueue::Flush::kWouldBlock)
    readAll(p.reader.get(), 1 << 20, 10);
  EXPECT_EQ(q.controlBytes(), 0u);
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace funkhaus::net
