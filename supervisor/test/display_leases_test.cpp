// DisplayLeases against a scripted driver on a socketpair: what funkhausd does with replies.
#include "funkhaus/supervisor/display_leases.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <chrono>

#include "funkhaus/vdisplay/protocol.h"

namespace funkhaus::supervisor {
namespace {

using vdisplay::VdisplayMessageType;

TEST(DisplayLeases, ADriverOfAnotherVersionIsLeftAtItsFirstRefusal) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd driver(sv[1]);
  boost::asio::io_context io;
  DisplayLeases leases(io);
  leases.attach(UniqueFd(sv[0]));

  std::byte buffer[abi::kVdisplayMaxMessageSize + 1];
  const ssize_t n = recv(driver.get(), buffer, sizeof buffer, MSG_DONTWAIT);
  ASSERT_GT(n, 0) << "attach sends GET_INFO at once";
  const auto peek =
      vdisplay::peekHeader(std::span<const std::byte>(buffer, static_cast<size_t>(n)));
  ASSERT_TRUE(peek);
  ASSERT_EQ(peek->type, static_cast<uint16_t>(VdisplayMessageType::kGetInfo));
  // What a driver of another ABI answers to everything, pings included.
  vdisplay::Reply refused =
      vdisplay::refusal(peek->type, peek->request_id, abi::VdisplayStatusCode::kVersionMismatch,
                        "this driver speaks ABI 99");
  refused.abi_version = 99;
  const auto bytes = vdisplay::encodeReply(refused);
  ASSERT_EQ(send(driver.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));

  io.run_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(leases.attached()) << "an incompatible driver is not kept (nor pinged)";
  EXPECT_NE(leases.lastError().find("this driver speaks ABI 99"), std::string::npos)
      << leases.lastError();
  EXPECT_EQ(recv(driver.get(), buffer, sizeof buffer, MSG_DONTWAIT), 0)
      << "funkhausd closed its end: no more requests reach the driver";
}

}  // namespace
}  // namespace funkhaus::supervisor
