// NetEndpoints opens exactly what the protocols declare: ports from [net], a follower bound with
// its leader (RTP even, RTCP the next port), each endpoint handed to the worker it is declared
// for, the net state page sized for the protocols' blobs; deposits are validated.
#include "funkhaus/supervisor/net_endpoints.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "funkhaus/abi/rtsp_state.h"

namespace funkhaus::supervisor {
namespace {

NetConfig loopback() {
  NetConfig c;
  c.bind = "127.0.0.1";
  c.port = 0;
  c.rtp_port = 0;
  return c;
}

int fdOf(const std::vector<HandedFd>& fds, abi::FdRole role, uint32_t tag) {
  for (const HandedFd& f : fds)
    if (f.role == role && f.tag == tag) return f.fd;
  return -1;
}

TEST(NetEndpoints, OpensWhatRtspDeclaresAndSizesThePageForItsBlob) {
  auto e = NetEndpoints::open(loopback());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_NE(e->rtspPort(), 0);
  EXPECT_EQ(e->rtpPort() % 2, 0) << "RTP on an even port";
  EXPECT_EQ(e->port(abi::kEndpointRtspRtcp), e->rtpPort() + 1) << "RTCP on the next one";
  const auto fds = e->handedFds();
  ASSERT_EQ(fds.size(), 4u) << "the page and the three RTSP endpoints, no connections yet";
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  const int listen_fd = fdOf(fds, abi::FdRole::kEndpoint, abi::kEndpointRtspListen);
  ASSERT_EQ(getsockopt(listen_fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
  EXPECT_EQ(type, SOCK_STREAM);
  len = sizeof listening;
  ASSERT_EQ(getsockopt(listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len), 0);
  EXPECT_EQ(listening, 1);
  len = sizeof type;
  ASSERT_EQ(getsockopt(fdOf(fds, abi::FdRole::kEndpoint, abi::kEndpointRtspRtcp), SOL_SOCKET,
                       SO_TYPE, &type, &len),
            0);
  EXPECT_EQ(type, SOCK_DGRAM);
  auto page = SharedMemory::attachDup(fdOf(fds, abi::FdRole::kNetState, 0));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->size(), abi::netStatePageSize(net::blobRequests()));
  auto* header = reinterpret_cast<abi::NetStatePage*>(page->data());
  EXPECT_NE(abi::findNetBlob(*header, abi::NetProtocol::kRtsp), nullptr);
  EXPECT_TRUE(e->handedFds(abi::WorkerKind::kWeb).empty()) << "nothing is declared for web";
}

TEST(NetEndpoints, EachEndpointGoesToTheWorkerItIsDeclaredFor) {
  static constexpr net::EndpointDeclaration kEndpoints[] = {
      {abi::kEndpointGamestreamHttp, net::EndpointKind::kTcpListen, net::PortSetting::kPort, 0, 0,
       false, "HTTP", abi::WorkerKind::kWeb},
  };
  static constexpr net::ProtocolDeclaration kWebOnly = {abi::NetProtocol::kGamestream, "test", 64,
                                                        kEndpoints};
  const net::ProtocolDeclaration* protocols[] = {&net::kRtspProtocol, &kWebOnly};
  auto e = NetEndpoints::open(loopback(), protocols);
  ASSERT_TRUE(e.ok()) << e.error().message;
  const auto web = e->handedFds(abi::WorkerKind::kWeb);
  ASSERT_EQ(web.size(), 1u);
  EXPECT_EQ(web[0].tag, abi::kEndpointGamestreamHttp);
  EXPECT_EQ(fdOf(e->handedFds(), abi::FdRole::kEndpoint, abi::kEndpointGamestreamHttp), -1);
  auto page = SharedMemory::attachDup(fdOf(e->handedFds(), abi::FdRole::kNetState, 0));
  ASSERT_TRUE(page.ok());
  EXPECT_NE(abi::findNetBlob(*reinterpret_cast<abi::NetStatePage*>(page->data()),
                             abi::NetProtocol::kGamestream),
            nullptr);
}

TEST(NetEndpoints, ConfiguredPortsAreTakenOrRefusedByName) {
  auto first = NetEndpoints::open(loopback());
  ASSERT_TRUE(first.ok());
  NetConfig fixed = loopback();
  fixed.rtp_port = first->rtpPort();  // taken by the first
  auto taken = NetEndpoints::open(fixed);
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.error().message.find("(RTP)"), std::string::npos) << taken.error().message;
  fixed.rtp_port = static_cast<uint16_t>(first->rtpPort() + 1);
  auto odd = NetEndpoints::open(fixed);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.error().message.find("must be even"), std::string::npos) << odd.error().message;
  NetConfig bad = loopback();
  bad.bind = "not-an-address";
  EXPECT_FALSE(NetEndpoints::open(bad).ok());
}

TEST(NetEndpoints, DepositsAreValidated) {
  NetConfig c = loopback();
  c.max_viewers = 4;
  auto e = NetEndpoints::open(c);
  ASSERT_TRUE(e.ok());
  // A connected TCP socket: a client of the RTSP endpoint and its accepted side.
  UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(e->rtspPort());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const int listen_fd = fdOf(e->handedFds(), abi::FdRole::kEndpoint, abi::kEndpointRtspListen);
  UniqueFd accepted(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());
  EXPECT_FALSE(e->deposit(4, UniqueFd(dup(accepted.get()))).ok()) << "slot beyond max_viewers";
  EXPECT_FALSE(e->deposit(0, UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0))).ok());
  EXPECT_FALSE(e->deposit(0, UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))).ok())
      << "not connected";
  ASSERT_TRUE(e->deposit(2, std::move(accepted)).ok());
  EXPECT_EQ(e->keptViewers(), 1u);
  EXPECT_NE(fdOf(e->handedFds(), abi::FdRole::kConnection, 2), -1);
  e->release(2);
  EXPECT_EQ(e->keptViewers(), 0u);
}

TEST(NetEndpoints, GamestreamSocketsAreOpenedForWebAtBaseAndBaseMinusFive) {
  auto e = NetEndpoints::open(loopback(), {});
  ASSERT_TRUE(e.ok()) << e.error().message;
  GamestreamConfig g;
  g.listen_address = "127.0.0.1";
  g.base_port = 0;  // any free ports
  ASSERT_TRUE(e->openWeb(g).ok());
  const auto web = e->handedFds(abi::WorkerKind::kWeb);
  ASSERT_EQ(web.size(), 2u);
  EXPECT_NE(e->port(abi::kEndpointGamestreamHttp), 0);
  EXPECT_NE(e->port(abi::kEndpointGamestreamHttps), 0);
  EXPECT_EQ(fdOf(e->handedFds(), abi::FdRole::kEndpoint, abi::kEndpointGamestreamHttp), -1)
      << "net does not get web's sockets";
  // A fixed base: HTTP there, HTTPS five below; taken ports are refused by name.
  GamestreamConfig fixed = g;
  fixed.base_port = static_cast<uint16_t>(e->port(abi::kEndpointGamestreamHttp) + 5);
  auto second = NetEndpoints::open(loopback(), {});
  ASSERT_TRUE(second.ok());
  auto taken = second->openWeb(fixed);
  ASSERT_FALSE(taken.ok()) << "base - 5 is the first one's HTTP port";
  EXPECT_NE(taken.error().message.find("gamestream: cannot listen on TCP 127.0.0.1 port"),
            std::string::npos)
      << taken.error().message;
  EXPECT_NE(taken.error().message.find("(GameStream HTTPS)"), std::string::npos)
      << taken.error().message;
  GamestreamConfig bad = g;
  bad.listen_address = "nowhere";
  EXPECT_NE(second->openWeb(bad).error().message.find("gamestream.listen_address"),
            std::string::npos);
}

}  // namespace
}  // namespace funkhaus::supervisor
