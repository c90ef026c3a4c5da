// NetCore with the RTSP protocol in-process on loopback: the RTSP state machine, hostile input,
// viewer limits, deferred DESCRIBE, RTP/RTCP on both transports, slow viewers, and adoption of
// viewers a previous net left in the page (sequence numbers continue and wrap).
#include "funkhaus/net/net_core.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstring>
#include <future>
#include <map>
#include <thread>
#include <tuple>
#include <utility>

#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/net_state_page.h"
#include "funkhaus/net/rtsp/rtcp.h"
#include "funkhaus/net/rtsp/rtp_packetizer.h"
#include "funkhaus/net/rtsp/rtsp_transport.h"
#include "funkhaus/test/rtsp_client.h"
#include "net_harness.h"

namespace funkhaus::net {
namespace {

namespace asio = boost::asio;

UniqueFd udpSocket(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  return fd;
}

// A TCP socket listening on loopback, on a port the kernel picks (invalid when it cannot).
UniqueFd listeningSocket(int backlog = 4) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(fd.get(), backlog) != 0)
    return UniqueFd();
  return fd;
}

// RTP on the first free even port from `first` (even) on, RTCP on the next one.
std::pair<UniqueFd, UniqueFd> rtpPair(uint16_t first) {
  UniqueFd rtp, rtcp;
  for (uint16_t port = first; !rtcp.valid(); port = static_cast<uint16_t>(port + 2)) {
    rtp = udpSocket(port);
    if (rtp.valid()) rtcp = udpSocket(static_cast<uint16_t>(port + 1));
  }
  return {std::move(rtp), std::move(rtcp)};
}

// The RTSP protocol's three endpoints, as funkhausd hands them over.
Handover rtspHandover(UniqueFd listen, UniqueFd rtp, UniqueFd rtcp) {
  Handover h;
  h.endpoints.emplace_back(abi::kEndpointRtspListen, std::move(listen));
  h.endpoints.emplace_back(abi::kEndpointRtspRtp, std::move(rtp));
  h.endpoints.emplace_back(abi::kEndpointRtspRtcp, std::move(rtcp));
  return h;
}

uint16_t portOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

using test::InterleavedFrame;
using test::RtspClient;
using test::RtspResponse;

// A viewer's RTSP connection: the one RTSP test client. `receive_buffer` > 0 makes a viewer
// whose path fills at once when it stops reading.
RtspClient client(uint16_t port, int receive_buffer = 0) {
  RtspClient::Options o;
  o.port = port;
  o.receive_buffer = receive_buffer;
  auto c = RtspClient::connect(o);
  if (!c) {
    ADD_FAILURE() << c.error().message;
    std::abort();  // a loopback listener that refuses: nothing below can run
  }
  return std::move(*c);
}

uint16_t seqOf(const std::vector<uint8_t>& rtp) {
  return static_cast<uint16_t>(rtp[2] << 8 | rtp[3]);
}
uint32_t tsOf(const std::vector<uint8_t>& rtp) {
  return uint32_t{rtp[4]} << 24 | uint32_t{rtp[5]} << 16 | uint32_t{rtp[6]} << 8 | rtp[7];
}
uint32_t ssrcOf(const std::vector<uint8_t>& rtp) {
  return uint32_t{rtp[8]} << 24 | uint32_t{rtp[9]} << 16 | uint32_t{rtp[10]} << 8 | rtp[11];
}

class NetServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    frames_ = test::encodeH264Frames(320, 240, 6);
    ASSERT_GE(frames_.size(), 6u) << "libx264 missing";
    auto page = createNetStatePage(blobRequests());
    ASSERT_TRUE(page.ok());
    page_.emplace(std::move(*page));
    listen_ = listeningSocket(16);
    ASSERT_TRUE(listen_.valid()) << std::strerror(errno);
    port_ = portOf(listen_.get());
    std::tie(rtp_, rtcp_) = rtpPair(static_cast<uint16_t>(30000 + (getpid() % 8000) * 2));
  }

  void TearDown() override { stopServer(); }

  // The RTSP blob of the page (its viewer slots and parameter sets).
  abi::RtspState& page() {
    return *static_cast<abi::RtspState*>(abi::findNetBlob(
        *reinterpret_cast<abi::NetStatePage*>(page_->data()), abi::NetProtocol::kRtsp));
  }
  abi::NetConnectionSlot& connection(uint32_t i) {
    return reinterpret_cast<abi::NetStatePage*>(page_->data())->connections[i];
  }
  // The blob as a previous net of this build leaves it (its header written).
  abi::RtspState& previousNet() {
    abi::RtspState& r = page();
    r.header.magic = abi::kRtspStateMagic;
    r.header.version = abi::kRtspStateVersion;
    r.header.size = sizeof(abi::RtspState);
    return r;
  }
  // Connection slot `i` as a previous net leaves a viewer's kept connection.
  void keptByPreviousNet(uint32_t i) {
    connection(i).protocol = static_cast<uint32_t>(abi::NetProtocol::kRtsp);
    connection(i).session = i;
    connection(i).state = static_cast<uint32_t>(abi::ConnectionState::kKept);
  }

  void startServer(NetOptions options = {}, std::vector<std::pair<uint32_t, UniqueFd>> kept = {}) {
    auto state = NetState::attach(*SharedMemory::attachDup(page_->handle()));
    ASSERT_TRUE(state.ok()) << state.error().message;
    state_.emplace(std::move(*state));
    io_ = std::make_unique<asio::io_context>();
    SupervisorLink link;
    link.deposit = [this](uint32_t slot, int fd) {
      ++deposits_;
      kept_[slot] = UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    };
    link.release = [this](uint32_t slot) {
      ++releases_;
      kept_.erase(slot);
    };
    link.requestKeyframe = [this] { ++keyframe_requests_; };
    Handover handover = rtspHandover(UniqueFd(fcntl(listen_.get(), F_DUPFD_CLOEXEC, 0)),
                                     UniqueFd(fcntl(rtp_.get(), F_DUPFD_CLOEXEC, 0)),
                                     UniqueFd(fcntl(rtcp_.get(), F_DUPFD_CLOEXEC, 0)));
    handover.connections = std::move(kept);
    auto server = NetCore::create(*io_, *state_, std::move(handover), options, link);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
    thread_ = std::thread([this] { io_->run(); });
  }

  void stopServer() {
    if (!io_) return;
    io_->stop();
    thread_.join();
    server_.reset();
    io_.reset();
    state_.reset();
  }

  template <class F>
  auto onLoop(F&& f) {
    std::promise<decltype(f())> done;
    asio::post(*io_, [&] { done.set_value(f()); });
    return done.get_future().get();
  }

  // Feeds access unit `i` of frames_ (0 is the IDR with SPS/PPS), captured now.
  uint64_t feed(size_t i, uint64_t capture_ns = 0) {
    AccessUnit au;
    au.frame_number = i;
    au.capture_time_ns = capture_ns != 0 ? capture_ns : monotonicNs();
    au.codec = 1;
    au.flags = i == 0 ? abi::kRecordFlagKeyframe : 0;
    au.data = frames_[i];
    onLoop([&] { return server_->onAccessUnit(au); });
    return au.capture_time_ns;
  }

  NetCounters counters() {
    return onLoop([&] { return server_->counters(); });
  }

  std::string url(const std::string& path = "/live") {
    return "rtsp://127.0.0.1:" + std::to_string(port_) + path;
  }

  // DESCRIBE + SETUP (TCP interleaved 0-1) + PLAY; returns the session id and the PLAY reply.
  std::pair<std::string, RtspResponse> playTcp(RtspClient& c) {
    auto setup = c.request("SETUP", url("/live/track0"),
                           "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n");
    EXPECT_TRUE(setup && setup->status == 200);
    if (!setup) return {};
    const std::string session = setup->value("Session").substr(0, 16);
    auto play = c.request("PLAY", url("/live/"), "Session: " + session + "\r\n");
    EXPECT_TRUE(play && play->status == 200);
    return {session, play ? *play : RtspResponse{}};
  }

  std::vector<std::vector<uint8_t>> frames_;
  std::optional<SharedMemory> page_;
  std::optional<NetState> state_;
  UniqueFd listen_, rtp_, rtcp_;
  uint16_t port_ = 0;
  std::unique_ptr<asio::io_context> io_;
  std::unique_ptr<NetCore> server_;
  std::thread thread_;
  std::atomic<int> deposits_{0}, releases_{0}, keyframe_requests_{0};
  std::map<uint32_t, UniqueFd> kept_;  // touched on the io thread only while it runs
};

TEST_F(NetServerTest, TcpSessionFromOptionsToTeardown) {
  startServer();
  feed(0);  // parameter sets known
  auto c = client(port_);
  auto options = c.request("OPTIONS", url());
  ASSERT_TRUE(options);
  EXPECT_EQ(options->status, 200);
  EXPECT_NE(options->value("Public").find("DESCRIBE"), std::string::npos);
  auto describe = c.request("DESCRIBE", url(), "Accept: application/sdp\r\n");
  ASSERT_TRUE(describe);
  EXPECT_EQ(describe->status, 200);
  EXPECT_EQ(describe->value("Content-Type"), "application/sdp");
  EXPECT_EQ(describe->value("Content-Base"), url() + "/");
  EXPECT_NE(describe->body.find("sprop-parameter-sets="), std::string::npos) << describe->body;
  EXPECT_NE(describe->body.find("a=control:track0"), std::string::npos);

  auto setup =
      c.request("SETUP", url("/live/track0"), "Transport: RTP/AVP/TCP;unicast;interleaved=2-3\r\n");
  ASSERT_TRUE(setup);
  ASSERT_EQ(setup->status, 200);
  EXPECT_NE(setup->value("Transport").find("RTP/AVP/TCP;unicast;interleaved=2-3"),
            std::string::npos);
  EXPECT_NE(setup->value("Session").find(";timeout=60"), std::string::npos);
  const std::string session = setup->value("Session").substr(0, 16);
  EXPECT_EQ(deposits_.load(), 1) << "funkhausd keeps a viewer's connection";
  EXPECT_EQ(page().viewers[0].state, static_cast<uint32_t>(abi::ViewerState::kReady));

  const int requests_before = keyframe_requests_.load();
  auto play = c.request("PLAY", url("/live/"), "Session: " + session + "\r\n");
  ASSERT_TRUE(play);
  ASSERT_EQ(play->status, 200);
  EXPECT_GT(keyframe_requests_.load(), requests_before) << "PLAY asks for an IDR";
  const std::string info = play->value("RTP-Info");
  EXPECT_EQ(info.rfind("url=" + url("/live/track0") + ";seq=", 0), 0u) << info;
  const auto seq = static_cast<uint16_t>(std::stoul(info.substr(info.find("seq=") + 4)));
  const auto rtptime = static_cast<uint32_t>(std::stoul(info.substr(info.find("rtptime=") + 8)));

  // A P-frame first: the viewer waits for the keyframe.
  feed(1);
  const uint64_t idr_capture = feed(0);
  auto au = c.accessUnit(2);
  ASSERT_FALSE(au.empty());
  EXPECT_EQ(au.front().data[12] & 0x1F, 7) << "the first packet is the SPS of the keyframe";
  EXPECT_EQ(seqOf(au.front().data), seq) << "RTP-Info names the first packet's sequence";
  for (size_t i = 0; i < au.size(); ++i) {
    EXPECT_EQ(seqOf(au[i].data), static_cast<uint16_t>(seq + i));
    EXPECT_EQ((au[i].data[1] & 0x80) != 0, i + 1 == au.size()) << "marker on the last";
    EXPECT_EQ(au[i].data[1] & 0x7F, 96);
    EXPECT_EQ(tsOf(au[i].data), tsOf(au[0].data)) << "one timestamp per access unit";
  }
  const uint32_t offset = page().viewers[0].rtp_timestamp_offset;
  EXPECT_EQ(tsOf(au[0].data), rtpTimestamp(idr_capture, offset));
  EXPECT_GE(static_cast<int32_t>(tsOf(au[0].data) - rtptime), 0)
      << "the first packet is not older than RTP-Info says";
  EXPECT_EQ(ssrcOf(au[0].data), page().viewers[0].ssrc);

  auto keepalive = c.request("GET_PARAMETER", url("/live/"), "Session: " + session + "\r\n");
  ASSERT_TRUE(keepalive);
  EXPECT_EQ(keepalive->status, 200);
  auto teardown = c.request("TEARDOWN", url("/live/"), "Session: " + session + "\r\n");
  ASSERT_TRUE(teardown);
  EXPECT_EQ(teardown->status, 200);
  // The slot is freed just after the reply went out (on the server's thread).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (releases_.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(releases_.load(), 1);
  EXPECT_EQ(onLoop([&] { return page().viewers[0].state; }),
            static_cast<uint32_t>(abi::ViewerState::kFree));
}

TEST_F(NetServerTest, DescribeWaitsForParameterSets) {
  NetOptions o;
  o.rtsp.describe_wait_ms = 300;
  startServer(o);
  auto c = client(port_);
  ASSERT_TRUE(c.send("DESCRIBE " + url() + " RTSP/1.0\r\nCSeq: 1\r\n\r\n").ok());
  EXPECT_FALSE(c.response(200)) << "no parameter sets yet: the answer waits";
  EXPECT_GE(keyframe_requests_.load(), 1);
  feed(0);
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("sprop-parameter-sets"), std::string::npos);
}

TEST_F(NetServerTest, DescribeGivesUpWith503) {
  NetOptions o;
  o.rtsp.describe_wait_ms = 300;
  startServer(o);
  auto c = client(port_);
  auto r = c.request("DESCRIBE", url());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  auto next = c.request("OPTIONS", url());  // the connection goes on
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(NetServerTest, PipelinedRequestsAnsweredInOrder) {
  startServer();
  feed(0);
  auto c = client(port_);
  std::string all;
  for (int i = 1; i <= 3; ++i)
    all += "OPTIONS " + url() + " RTSP/1.0\r\nCSeq: " + std::to_string(i) + "\r\n\r\n";
  all += "DESCRIBE " + url() + " RTSP/1.0\r\nCSeq: 4\r\n\r\n";
  ASSERT_TRUE(c.send(all).ok());
  for (int i = 1; i <= 4; ++i) {
    auto r = c.response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->value("CSeq"), std::to_string(i));
  }
}

TEST_F(NetServerTest, HostileInputGetsAnErrorOrAClose) {
  NetOptions o;
  o.core.header_timeout_ms = 300;
  startServer(o);
  feed(0);
  {
    auto c = client(port_);
    auto r = c.request("FROBNICATE", url());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 501);
    auto still = c.request("OPTIONS", url());
    ASSERT_TRUE(still) << "an unknown method does not end the connection";
  }
  {
    auto c = client(port_);
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok());
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(c.closedWithin(2000));
  }
  {
    auto c = client(port_);
    std::string junk(3000, '\0');
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 131) & 0xFF);
    junk[0] = 0x16;
    ASSERT_TRUE(c.send(junk).ok());
    EXPECT_TRUE(c.closedWithin(2000));
  }
  {
    auto c = client(port_);
    std::string big = "OPTIONS " + url() + " RTSP/1.0\r\nCSeq: 1\r\n";
    while (big.size() < 20000) big += "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    ASSERT_TRUE(c.send(big).ok());
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(c.closedWithin(2000));
  }
  {
    auto c = client(port_);  // slowloris: a request that never ends
    ASSERT_TRUE(c.send("OPTIONS " + url() + " RTSP/1.0\r\nCSeq: 1\r\nX-Slow: ").ok());
    EXPECT_TRUE(c.closedWithin(3000));
  }
  {
    auto c = client(port_);
    ASSERT_TRUE(c.send("OPTIONS " + url() + " RTSP/1.0\r\n\r\n").ok());
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << "no CSeq";
    EXPECT_TRUE(c.closedWithin(2000));
  }
  {
    auto c = client(port_);
    auto r = c.request("DESCRIBE", url("/elsewhere"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    auto req = c.request("OPTIONS", url(), "Require: funky-feature\r\n");
    ASSERT_TRUE(req);
    EXPECT_EQ(req->status, 551);
    auto v2 = c.request("OPTIONS", url());
    ASSERT_TRUE(v2);
  }
  {
    auto c = client(port_);  // interleaved junk before any session is skipped, then RTSP goes on
    std::string frame = "$\x07";
    frame += '\0';
    frame += '\x05';
    frame += "junk!";
    ASSERT_TRUE(c.send(frame).ok());
    auto r = c.request("OPTIONS", url());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  const NetCounters after = counters();
  EXPECT_GT(after.errors, 0u);
}

TEST_F(NetServerTest, SessionRules) {
  NetOptions o;
  o.rtsp.max_viewers = 1;
  startServer(o);
  feed(0);
  auto a = client(port_);
  auto play_no_session = a.request("PLAY", url());
  ASSERT_TRUE(play_no_session);
  EXPECT_EQ(play_no_session->status, 454);
  auto bad_transport = a.request("SETUP", url("/live/track0"), "Transport: RAW/RAW/UDP\r\n");
  ASSERT_TRUE(bad_transport);
  EXPECT_EQ(bad_transport->status, 461);
  auto [session, play] = playTcp(a);
  auto again =
      a.request("SETUP", url("/live/track0"), "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 455);
  auto wrong = a.request("PLAY", url(), "Session: 0123456789abcdef\r\n");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 454);
  auto b = client(port_);
  auto full =
      b.request("SETUP", url("/live/track0"), "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 453) << "max viewers reached";
  auto pause = a.request("PAUSE", url(), "Session: " + session + "\r\n");
  ASSERT_TRUE(pause);
  EXPECT_EQ(pause->status, 200);
  EXPECT_EQ(page().viewers[0].state, static_cast<uint32_t>(abi::ViewerState::kReady));
}

TEST_F(NetServerTest, UdpViewerGetsRtpAndSenderReportsAndItsPliCounts) {
  startServer();
  feed(0);
  UniqueFd client_rtp, client_rtcp;
  for (uint16_t port = static_cast<uint16_t>(40000 + (getpid() % 5000) * 2); !client_rtcp.valid();
       port = static_cast<uint16_t>(port + 2)) {
    client_rtp = udpSocket(port);
    if (client_rtp.valid()) client_rtcp = udpSocket(static_cast<uint16_t>(port + 1));
  }
  const uint16_t cport = portOf(client_rtp.get());
  auto c = client(port_);
  auto setup = c.request("SETUP", url("/live/track0"),
                         "Transport: RTP/AVP/UDP;unicast;client_port=" + std::to_string(cport) +
                             "-" + std::to_string(cport + 1) + "\r\n");
  ASSERT_TRUE(setup);
  ASSERT_EQ(setup->status, 200);
  const std::string transport = setup->value("Transport");
  EXPECT_NE(transport.find("server_port=" + std::to_string(portOf(rtp_.get())) + "-" +
                           std::to_string(portOf(rtcp_.get()))),
            std::string::npos)
      << transport;
  const std::string session = setup->value("Session").substr(0, 16);
  auto play = c.request("PLAY", url(), "Session: " + session + "\r\n");
  ASSERT_TRUE(play);
  feed(0);
  uint8_t buf[2048];
  pollfd p{client_rtp.get(), POLLIN, 0};
  ASSERT_GT(poll(&p, 1, 3000), 0) << "no RTP";
  const ssize_t n = recv(client_rtp.get(), buf, sizeof buf, 0);
  ASSERT_GT(n, 12);
  const uint32_t ssrc = ssrcOf(std::vector<uint8_t>(buf, buf + 12));
  EXPECT_NE(transport.find(fmt::format("ssrc={:08X}", ssrc)), std::string::npos);

  // A sender report comes about every second.
  pollfd q{client_rtcp.get(), POLLIN, 0};
  ASSERT_GT(poll(&q, 1, 3000), 0) << "no sender report";
  const ssize_t m = recv(client_rtcp.get(), buf, sizeof buf, 0);
  ASSERT_GT(m, 28);
  EXPECT_EQ(buf[1], 200);
  const uint32_t sr_ssrc =
      uint32_t{buf[4]} << 24 | uint32_t{buf[5]} << 16 | uint32_t{buf[6]} << 8 | buf[7];
  EXPECT_EQ(sr_ssrc, ssrc) << "the SR is about the viewer's stream";

  // The viewer reports and asks for a keyframe from its RTCP port.
  std::vector<uint8_t> pli = {0x81, 206, 0, 2, 0, 0, 0, 9};
  for (int i = 3; i >= 0; --i) pli.push_back(static_cast<uint8_t>(ssrc >> (8 * i)));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(portOf(rtcp_.get()));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(sendto(client_rtcp.get(), pli.data(), pli.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   sizeof to),
            static_cast<ssize_t>(pli.size()));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (counters().keyframes_received == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(counters().keyframes_received, 1u);
  EXPECT_EQ(page().viewers[0].keyframe_requests, 1u);
  // The same PLI from a stranger's address is ignored.
  UniqueFd stranger = udpSocket(0);
  sendto(stranger.get(), pli.data(), pli.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(counters().keyframes_received, 1u);
}

TEST_F(NetServerTest, SlowTcpViewerLosesWholeFramesOthersDoNot) {
  startServer();
  feed(0);
  auto slow = client(port_, 2048);  // never reads after PLAY
  auto [slow_session, slow_play] = playTcp(slow);
  auto fast = client(port_);
  auto [fast_session, fast_play] = playTcp(fast);
  // Large keyframes (one 400 KB IDR slice) fill the slow viewer's path in a few rounds: the
  // kernel's send buffer on loopback grows to megabytes.
  std::vector<uint8_t> big(400'004, 0x5A);
  big[0] = big[1] = big[2] = 0;
  big[3] = 1;
  big[4] = 0x65;
  frames_.push_back(big);
  const size_t kBig = frames_.size() - 1;
  size_t fast_units = 0;
  constexpr int kRounds = 40;
  for (int round = 0; round < kRounds; ++round) {
    AccessUnit au;
    au.capture_time_ns = monotonicNs();
    au.codec = 1;
    au.flags = abi::kRecordFlagKeyframe;
    au.data = frames_[kBig];
    onLoop([&] { return server_->onAccessUnit(au); });
    auto got = fast.accessUnit(0, 2000);
    if (!got.empty()) ++fast_units;
  }
  const NetCounters c = counters();
  EXPECT_GT(c.drops, 0u) << "the slow viewer lost frames";
  EXPECT_GT(page().viewers[0].frames_dropped, 0u) << "slot 0 is the slow viewer";
  EXPECT_EQ(page().viewers[1].frames_dropped, 0u) << "slot 1 reads";
  EXPECT_EQ(fast_units, static_cast<size_t>(kRounds)) << "the reading viewer got every frame";
  std::printf("[figures] slow TCP viewer: %llu of %d frames dropped; reading viewer: %zu of %d\n",
              static_cast<unsigned long long>(page().viewers[0].frames_dropped), kRounds,
              fast_units, kRounds);
}

// A previous net left a playing TCP viewer in slot 2 (its sequence about to wrap); the new
// server continues it on the kept socket without a new SETUP.
TEST_F(NetServerTest, AdoptsAViewerAndItsSequenceWraps) {
  // The viewer's connection, as funkhausd kept it.
  auto viewer = client(port_);
  UniqueFd server_side(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server_side.valid());
  abi::RtspViewerSlot& s = previousNet().viewers[2];
  keptByPreviousNet(2);
  keptByPreviousNet(7);
  s.transport = static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved);
  s.session_id = 0xFEEDFACE12345678ull;
  s.codec = static_cast<uint32_t>(abi::Codec::kH264);
  s.ssrc = 0x01020304;
  s.rtp_timestamp_offset = 0xFFFFFF00;
  s.next_sequence = 65534;
  s.rtp_channel = 4;
  s.rtcp_channel = 5;
  s.last_activity_ns = monotonicNs();
  s.state = static_cast<uint32_t>(abi::ViewerState::kPlaying);
  // Leftovers that must be cleaned up: a socket for a free slot, a playing slot with no socket.
  auto orphan = client(port_);
  UniqueFd orphan_side(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  page().viewers[7] = s;
  page().viewers[7].session_id = 99;
  std::vector<std::pair<uint32_t, UniqueFd>> kept;
  kept.emplace_back(2, std::move(server_side));
  kept.emplace_back(9, std::move(orphan_side));
  NetOptions o;
  o.rtsp.mtu = 200;  // many packets per access unit
  startServer(o, std::move(kept));
  EXPECT_GE(keyframe_requests_.load(), 1) << "a continued viewer needs a keyframe";
  EXPECT_EQ(deposits_.load(), 0) << "nothing funkhausd keeps already is deposited again";
  EXPECT_EQ(releases_.load(), 1) << "the socket for free slot 9 is released";
  EXPECT_EQ(page().viewers[7].state, 0u) << "a playing slot without a socket is dropped";
  EXPECT_TRUE(orphan.closedWithin(2000));

  feed(1);  // not a keyframe: skipped
  const uint64_t capture = feed(0);
  auto au = viewer.accessUnit(4);
  ASSERT_GE(au.size(), 4u);
  for (size_t i = 0; i < au.size(); ++i)
    EXPECT_EQ(seqOf(au[i].data), static_cast<uint16_t>(65534 + i)) << "continues and wraps";
  EXPECT_EQ(seqOf(au[2].data), 0);
  EXPECT_EQ(ssrcOf(au[0].data), 0x01020304u);
  EXPECT_EQ(tsOf(au[0].data), rtpTimestamp(capture, 0xFFFFFF00));
  EXPECT_EQ(page().viewers[2].next_sequence, (65534 + au.size()) & 0xFFFF);
  // The session is still the old one.
  ASSERT_TRUE(viewer
                  .send("GET_PARAMETER " + url() +
                        " RTSP/1.0\r\nCSeq: 50\r\nSession: feedface12345678\r\n\r\n")
                  .ok());
  auto r = viewer.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->value("CSeq"), "50");
}

TEST_F(NetServerTest, AdoptionFinishesTheUnitTheLastNetLeftUnwritten) {
  auto viewer = client(port_);
  UniqueFd server_side(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  abi::RtspViewerSlot& s = previousNet().viewers[0];
  keptByPreviousNet(0);
  s.transport = static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved);
  s.session_id = 5;
  s.codec = static_cast<uint32_t>(abi::Codec::kH264);
  s.state = static_cast<uint32_t>(abi::ViewerState::kReady);
  s.last_activity_ns = monotonicNs();
  // A whole '$' frame was in the page and none of it written (the kernel saw 0 bytes).
  const uint8_t unit[] = {'$', 1, 0, 4, 0x81, 201, 0, 0};
  std::memcpy(connection(0).out_data, unit, sizeof unit);
  connection(0).out_unit = sizeof unit;  // offset 0, size 8
  std::vector<std::pair<uint32_t, UniqueFd>> kept;
  kept.emplace_back(0, std::move(server_side));
  startServer({}, std::move(kept));
  auto frame = viewer.readFrame(2000);
  ASSERT_TRUE(frame) << frame.error().message;
  EXPECT_EQ(frame->channel, 1);
  EXPECT_EQ(frame->data, std::vector<uint8_t>(unit + 4, unit + 8));
}

TEST_F(NetServerTest, ViewerWithoutActivityIsReaped) {
  NetOptions o;
  o.rtsp.session_timeout_s = 1;
  startServer(o);
  feed(0);
  auto c = client(port_);
  playTcp(c);
  EXPECT_TRUE(c.closedWithin(4000));
  EXPECT_EQ(releases_.load(), 1);
  EXPECT_EQ(page().viewers[0].state, 0u);
}

// A raw loopback connection to the server (the tests below watch what recv() itself returns).
UniqueFd rawConnection(uint16_t port, int receive_buffer = 0) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (receive_buffer > 0)
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  return fd;
}

// How the server ended `fd`: "eof" (FIN), "reset" (RST), "open" (nothing within `ms`), "error".
// Bytes that arrive before the end are appended to `got`.
std::string endOf(int fd, int ms, std::string* got = nullptr) {
  const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(ms) * 1'000'000u;
  char buffer[4096];
  for (;;) {
    const uint64_t now = monotonicNs();
    if (now >= deadline) return "open";
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000 + 1)) <= 0) continue;
    const ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      if (got != nullptr) got->append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return "eof";
    if (errno == EAGAIN || errno == EINTR) continue;
    return errno == ECONNRESET ? "reset" : std::string("error: ") + std::strerror(errno);
  }
}

// TCP connections in TIME_WAIT whose local port is `port` (/proc/net/tcp and tcp6, state 06).
int timeWaitOn(uint16_t port) {
  int count = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    FILE* f = std::fopen(table, "r");
    if (f == nullptr) continue;
    char line[512];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      char local[128], remote[128];
      unsigned state = 0;
      if (std::sscanf(line, " %*d: %127s %127s %x", local, remote, &state) != 3) continue;
      const char* colon = std::strrchr(local, ':');
      if (colon != nullptr && std::strtoul(colon + 1, nullptr, 16) == port && state == 0x06)
        ++count;
    }
    std::fclose(f);
  }
  return count;
}

// The reactor's rules for closing: a connection closed for silence or misbehaviour is reset
// (SO_LINGER 0: nothing left in TIME_WAIT on the host); a last response before a close still
// arrives whole and ends in an orderly FIN (one-request clients read until EOF); a peer that
// closes first gets a FIN.
TEST_F(NetServerTest, SilentOrStuckConnectionsAreResetAndLeaveNoTimeWait) {
  NetOptions o;
  o.core.header_timeout_ms = 300;
  o.core.idle_timeout_s = 1;
  startServer(o);
  const int time_wait_before = timeWaitOn(port_);
  {
    UniqueFd slowloris = rawConnection(port_);  // a request that never ends
    ASSERT_TRUE(slowloris.valid());
    const std::string part = "OPTIONS " + url() + " RTSP/1.0\r\nCSeq: 1\r\nX-Slow: ";
    ASSERT_EQ(send(slowloris.get(), part.data(), part.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(part.size()));
    EXPECT_EQ(endOf(slowloris.get(), 3000), "reset");
  }
  {
    UniqueFd idle = rawConnection(port_);  // connects and says nothing
    ASSERT_TRUE(idle.valid());
    EXPECT_EQ(endOf(idle.get(), 4000), "reset");
  }
  {
    UniqueFd bad = rawConnection(port_);  // answered 400, then closed: the answer arrives whole
    ASSERT_TRUE(bad.valid());
    const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(send(bad.get(), request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    std::string answer;
    EXPECT_EQ(endOf(bad.get(), 3000, &answer), "eof");
    EXPECT_EQ(answer.rfind("RTSP/1.0 400", 0), 0u) << answer;
  }
  // The server closed first only for the 400 (an orderly close keeps the response safe).
  EXPECT_LE(timeWaitOn(port_) - time_wait_before, 1);
  EXPECT_GT(counters().connections, 2u);
}

// Sends `requests` pipelined OPTIONS on a connection with small buffers, reads nothing for
// 500 ms, then reads every answer while sending the rest. Returns the answers seen in order;
// fails the test at the first one out of order or if the connection ends.
int pipelineWithoutReading(uint16_t port, const std::string& url, int requests_count) {
  UniqueFd fd = rawConnection(port, 16 * 1024);
  if (!fd.valid()) return 0;
  const int send_buffer = 16 * 1024;
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer);
  std::string requests;
  for (int i = 1; i <= requests_count; ++i)
    requests += "OPTIONS " + url + " RTSP/1.0\r\nCSeq: " + std::to_string(i) + "\r\n\r\n";
  size_t sent = 0;
  auto sendSome = [&] {
    while (sent < requests.size()) {
      const ssize_t n = send(fd.get(), requests.data() + sent, requests.size() - sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  };
  sendSome();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::string answers;
  int next_cseq = 1;
  size_t scanned = 0;
  const uint64_t deadline = monotonicNs() + 60'000'000'000u;
  char buffer[65536];
  while (next_cseq <= requests_count && monotonicNs() < deadline) {
    sendSome();
    pollfd p{fd.get(), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n <= 0) {
      ADD_FAILURE() << "the connection ended after " << next_cseq - 1 << " answers";
      return next_cseq - 1;
    }
    answers.append(buffer, static_cast<size_t>(n));
    for (size_t at; (at = answers.find("CSeq: ", scanned)) != std::string::npos;) {
      const size_t eol = answers.find("\r\n", at);
      if (eol == std::string::npos) break;
      if (answers.substr(at + 6, eol - at - 6) != std::to_string(next_cseq)) {
        ADD_FAILURE() << "answer " << answers.substr(at + 6, eol - at - 6) << " where " << next_cseq
                      << " was due";
        return next_cseq - 1;
      }
      ++next_cseq;
      scanned = eol;
    }
    if (scanned > 1'000'000) {
      answers.erase(0, scanned);
      scanned = 0;
    }
  }
  EXPECT_EQ(endOf(fd.get(), 200), "open");
  return next_cseq - 1;
}

// A peer that sends requests and does not read the answers is not read from once 64 KiB of
// answers wait (instead of buffering without bound or closing it), and read again when it takes
// them: every request is answered, in order, on the same connection.
TEST_F(NetServerTest, PeerThatDoesNotReadIsNotReadFromAndLosesNothing) {
  // A small kernel send buffer (accepted sockets take the listener's), so answers pile up in
  // the server's own queue at once.
  const int server_buffer = 16 * 1024;
  setsockopt(listen_.get(), SOL_SOCKET, SO_SNDBUF, &server_buffer, sizeof server_buffer);
  startServer();
  constexpr int kRequests = 40'000;  // ~5 MB of answers: 20x the old close-at limit
  EXPECT_EQ(pipelineWithoutReading(port_, url(), kRequests), kRequests) << "in order, none lost";
  const NetCounters c = counters();
  EXPECT_GT(c.backlogged, 0u) << "the server went on reading a peer that takes nothing";
  std::printf("[figures] %d pipelined requests: backlogged %llu times, %llu partial carries\n",
              kRequests, static_cast<unsigned long long>(c.backlogged),
              static_cast<unsigned long long>(c.carried));
}

// The same with the kernel's own buffers: the server reads so fast that a request is often cut
// where one large skb ends; that skb is charged whole against the receive buffer, the window
// shuts and no byte more arrives until the server reads (before the carry: stuck until the
// header timeout after ~2 000 answers).
TEST_F(NetServerTest, PipelinedRequestsCutByAFullReceiveBufferDoNotStall) {
  startServer();
  constexpr int kRequests = 40'000;
  EXPECT_EQ(pipelineWithoutReading(port_, url(), kRequests), kRequests) << "in order, none lost";
  const NetCounters c = counters();
  std::printf("[figures] %d pipelined requests: backlogged %llu times, %llu partial carries\n",
              kRequests, static_cast<unsigned long long>(c.backlogged),
              static_cast<unsigned long long>(c.carried));
}

TEST(NetCoreCreate, RefusesBadSocketsAndOptions) {
  asio::io_context io;
  auto page = createNetStatePage(blobRequests());
  ASSERT_TRUE(page.ok());
  auto state = NetState::attach(std::move(*page));
  ASSERT_TRUE(state.ok());
  {
    auto r = NetCore::create(io, *state, {}, {}, {});  // nothing
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("no RTSP endpoint"), std::string::npos) << r.error().message;
  }
  {
    auto r = NetCore::create(io, *state,
                             rtspHandover(UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)),
                                          udpSocket(0), udpSocket(0)),
                             {}, {});  // not listening
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("listening"), std::string::npos) << r.error().message;
  }
  {
    // RTP on an odd port, or RTCP not on the next one: the declaration's pairing rules.
    UniqueFd odd;
    for (uint16_t port = static_cast<uint16_t>(41001 + (getpid() % 3000) * 2); !odd.valid();
         port = static_cast<uint16_t>(port + 2))
      odd = udpSocket(port);
    auto r = NetCore::create(io, *state,
                             rtspHandover(listeningSocket(), std::move(odd), udpSocket(0)), {}, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("RTP port"), std::string::npos) << r.error().message;
  }
  // Good sockets, bad options: the protocol refuses them by name.
  auto good = [] {
    auto [rtp, rtcp] = rtpPair(static_cast<uint16_t>(43000 + (getpid() % 3000) * 2));
    return rtspHandover(listeningSocket(), std::move(rtp), std::move(rtcp));
  };
  NetOptions bad;
  bad.rtsp.max_viewers = 17;
  auto viewers = NetCore::create(io, *state, good(), bad, {});
  ASSERT_FALSE(viewers.ok());
  EXPECT_NE(viewers.error().message.find("max viewers"), std::string::npos);
  bad = {};
  bad.rtsp.mtu = 10;
  auto mtu = NetCore::create(io, *state, good(), bad, {});
  ASSERT_FALSE(mtu.ok());
  EXPECT_NE(mtu.error().message.find("mtu"), std::string::npos);
  EXPECT_TRUE(NetCore::create(io, *state, good(), {}, {}).ok()) << "and good ones are taken";
}

// A core serving RTSP and GameStream, made and destroyed as funkhaus-net does at an orderly
// stop. The GameStream protocol leaves the viewer registry in its destructor, so the registry
// must outlive the protocols: it did not (members are destroyed in reverse order), and the
// ASan build of funkhaus-net read the freed registry at every orderly stop with GameStream on.
TEST(NetCoreCreate, ACoreServingGameStreamIsDestroyedWithItsRegistryLast) {
  asio::io_context io;
  auto page = createNetStatePage(blobRequests(kNetProtocols));
  ASSERT_TRUE(page.ok()) << page.error().message;
  auto state = NetState::attach(std::move(*page));
  ASSERT_TRUE(state.ok()) << state.error().message;
  auto [rtp, rtcp] = rtpPair(static_cast<uint16_t>(45000 + (getpid() % 3000) * 2));
  Handover h = rtspHandover(listeningSocket(), std::move(rtp), std::move(rtcp));
  h.endpoints.emplace_back(abi::kEndpointGamestreamRtsp, listeningSocket());
  // Video, control and audio on three consecutive ports.
  UniqueFd video, control, audio;
  for (uint16_t port = static_cast<uint16_t>(51000 + (getpid() % 3000) * 3); !audio.valid();
       port = static_cast<uint16_t>(port + 3)) {
    video = udpSocket(port);
    control = video.valid() ? udpSocket(static_cast<uint16_t>(port + 1)) : UniqueFd();
    audio = control.valid() ? udpSocket(static_cast<uint16_t>(port + 2)) : UniqueFd();
  }
  h.endpoints.emplace_back(abi::kEndpointGamestreamVideo, std::move(video));
  h.endpoints.emplace_back(abi::kEndpointGamestreamControl, std::move(control));
  h.endpoints.emplace_back(abi::kEndpointGamestreamAudio, std::move(audio));
  auto core = NetCore::create(io, *state, std::move(h), {}, {});
  ASSERT_TRUE(core.ok()) << core.error().message;
  EXPECT_EQ((*core)->describe().size(), 2u) << "RTSP and GameStream";
  core->reset();  // the protocols leave the registry here
}

}  // namespace
}  // namespace funkhaus::net
