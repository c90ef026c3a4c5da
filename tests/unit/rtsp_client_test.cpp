// The one RTSP test client: response parsing (what a server sends is untrusted), the Transport
// and SDP helpers, and the exchange against a scripted server on loopback: interleaved frames
// around responses, CSeq checks, access units, a server that closes.
#include "funkhaus/test/rtsp_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <mutex>
#include <string>
#include <thread>

namespace funkhaus::test {
namespace {

TEST(RtspResponse, ParsesWholeResponsesOnly) {
  const std::string reply =
      "RTSP/1.0 200 OK\r\nCSeq: 3\r\ncontent-length: 4\r\nSession: AB12;timeout=60\r\n\r\nv=0\n"
      "RTSP/1.0 200 OK\r\n";
  auto r = parseRtspResponse(reply);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->status, 200);
  EXPECT_EQ((*r)->body, "v=0\n");
  ASSERT_NE((*r)->header("CSEQ"), nullptr);
  EXPECT_EQ(*(*r)->header("cseq"), "3");
  EXPECT_EQ((*r)->value("Session"), "AB12;timeout=60");
  EXPECT_EQ((*r)->value("Transport"), "");
  EXPECT_EQ((*r)->size, reply.find("v=0\n") + 4);
  // Body not all there yet; header not all there yet.
  auto partial = parseRtspResponse(std::string_view(reply).substr(0, reply.find("v=0") + 2));
  ASSERT_TRUE(partial);
  EXPECT_FALSE(partial->has_value());
  auto head = parseRtspResponse("RTSP/1.0 200 OK\r\nCSeq: 1\r\n");
  ASSERT_TRUE(head);
  EXPECT_FALSE(head->has_value());
}

TEST(RtspResponse, RefusesMalformedOnes) {
  EXPECT_FALSE(parseRtspResponse("HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_FALSE(parseRtspResponse("RTSP/1.0 2x0 OK\r\n\r\n"));
  EXPECT_FALSE(parseRtspResponse("RTSP/1.0 200 OK\r\nno colon\r\n\r\n"));
  EXPECT_FALSE(parseRtspResponse("RTSP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n"));
  EXPECT_FALSE(parseRtspResponse("RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n"));
  EXPECT_FALSE(parseRtspResponse(std::string(kMaxRtspHeader + 1, 'a')));
}

TEST(RtspResponse, TransportSsrc) {
  EXPECT_EQ(transportSsrc("RTP/AVP;unicast;client_port=5000-5001;ssrc=0A0B0C0D;mode=play"),
            0x0A0B0C0Du);
  EXPECT_EQ(transportSsrc("RTP/AVP;unicast;SSRC=ff"), 0xFFu);
  EXPECT_FALSE(transportSsrc("RTP/AVP;unicast;client_port=5000-5001"));
  EXPECT_FALSE(transportSsrc("RTP/AVP;ssrc=12345678901"));
  EXPECT_FALSE(transportSsrc("RTP/AVP;ssrc=zz"));
}

TEST(RtspResponse, ControlUrl) {
  RtspResponse r;
  r.body = "v=0\r\na=control:*\r\nm=video 0 RTP/AVP 96\r\na=control:track0\r\n";
  EXPECT_EQ(controlUrl(r, "rtsp://h:1/live"), "rtsp://h:1/live/track0");
  r.headers.emplace_back("Content-Base", "rtsp://base:2/x/");
  EXPECT_EQ(controlUrl(r, "rtsp://h:1/live"), "rtsp://base:2/x/track0");
  r.body = "m=video 0 RTP/AVP 96\r\na=control:rtsp://other:3/t\r\n";
  EXPECT_EQ(controlUrl(r, "rtsp://h:1/live"), "rtsp://other:3/t");
  r.body = "m=video 0 RTP/AVP 96\r\n";
  EXPECT_EQ(controlUrl(r, "rtsp://h:1/live"), "rtsp://h:1/live");
  r.body = "m=video 0 RTP/AVP 96\r\na=control:v\r\nm=audio 0 RTP/AVP 97\r\na=control:a\r\n";
  EXPECT_EQ(controlUrl(r, "rtsp://h:1/live"), "rtsp://base:2/x/v") << "the video's, not audio's";
}

// A server on loopback that reads one request at a time and answers with a script.
class ScriptedServer {
 public:
  ScriptedServer() : listen_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(listen_.get(), 4), 0);
    socklen_t len = sizeof a;
    getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  uint16_t port() const { return port_; }
  // Accepts one client; for each request, calls `answer(request text)` and sends what it says.
  template <class F>
  void serve(F answer) {
    thread_ = std::thread([this, answer] {
      UniqueFd c(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      std::string in;
      char buf[4096];
      for (;;) {
        const auto end = in.find("\r\n\r\n");
        if (end != std::string::npos) {
          const std::string request = in.substr(0, end + 4);
          in.erase(0, end + 4);
          const std::string reply = answer(request);
          if (reply.empty()) return;  // hang up
          ::send(c.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
          continue;
        }
        const ssize_t n = recv(c.get(), buf, sizeof buf, 0);
        if (n <= 0) return;
        in.append(buf, static_cast<size_t>(n));
      }
    });
  }
  ~ScriptedServer() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  UniqueFd listen_;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string cseqOf(const std::string& request) {
  const auto at = request.find("CSeq: ");
  return request.substr(at + 6, request.find("\r\n", at) - at - 6);
}

std::string frame(uint8_t channel, std::initializer_list<uint8_t> bytes) {
  std::string f = {'$', static_cast<char>(channel), 0, static_cast<char>(bytes.size())};
  for (uint8_t b : bytes) f += static_cast<char>(b);
  return f;
}

TEST(RtspClient, PlaysInterleavedAndKeepsFramesThatComeBeforeAResponse) {
  // The methods the server saw, written on its thread: declared before the server, whose
  // destructor joins that thread, and read under the mutex (a socket is no fence for TSan).
  std::mutex seen_mutex;
  std::string seen_methods;
  auto seen = [&] {
    std::lock_guard lock(seen_mutex);
    return seen_methods;
  };
  ScriptedServer server;
  server.serve([&](const std::string& request) -> std::string {
    {
      std::lock_guard lock(seen_mutex);
      seen_methods += request.substr(0, request.find(' ')) + ",";
    }
    const std::string ok = "RTSP/1.0 200 OK\r\nCSeq: " + cseqOf(request) + "\r\n";
    if (request.rfind("DESCRIBE", 0) == 0) {
      const std::string sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=control:track0\r\n";
      return ok + "Content-Base: rtsp://127.0.0.1/live/\r\nContent-Length: " +
             std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
    }
    if (request.rfind("SETUP", 0) == 0) {
      EXPECT_NE(request.find("interleaved=0-1"), std::string::npos) << request;
      return ok +
             "Session: 00000000000000AB;timeout=60\r\nTransport: "
             "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=01020304\r\n\r\n";
    }
    if (request.rfind("PLAY", 0) == 0) {
      EXPECT_NE(request.find("Session: 00000000000000AB"), std::string::npos) << request;
      // Media before and after the answer: two packets of one access unit (marker on the
      // second), an RTCP packet on channel 1 between them.
      return frame(0, {0x80, 0x60, 0, 1}) + ok + "\r\n" + frame(1, {0x80, 200, 0, 0}) +
             frame(0, {0x80, 0xE0, 0, 2});
    }
    if (request.rfind("GET_PARAMETER", 0) == 0)  // the wrong CSeq
      return "RTSP/1.0 200 OK\r\nCSeq: 999\r\n\r\n";
    return "";
  });
  auto client =
      playInterleaved({"127.0.0.1", server.port(), 0, 2000, "test"}, "rtsp://127.0.0.1/live");
  ASSERT_TRUE(client) << client.error().message;
  EXPECT_EQ(seen(), "DESCRIBE,SETUP,PLAY,");
  EXPECT_EQ(client->control(), "rtsp://127.0.0.1/live/track0");
  EXPECT_EQ(client->session(), "00000000000000AB");
  EXPECT_EQ(client->ssrc(), 0x01020304u);
  auto unit = client->accessUnit(0, 2000);
  ASSERT_EQ(unit.size(), 2u) << "the frame read before the PLAY answer was kept";
  EXPECT_EQ(unit[1].data[3], 2);
  auto keepalive = client->getParameter("rtsp://127.0.0.1/live");
  ASSERT_FALSE(keepalive);
  EXPECT_NE(keepalive.error().message.find("CSeq"), std::string::npos) << keepalive.error().message;
  auto last = client->request("OPTIONS", "*");
  EXPECT_FALSE(last) << "the script hangs up on an OPTIONS";
  EXPECT_TRUE(client->closedWithin(2000));
}

TEST(RtspClient, ErrorsNameTheStepAndStatus) {
  ScriptedServer server;
  server.serve([](const std::string& request) -> std::string {
    if (request.rfind("DESCRIBE", 0) == 0)
      return "RTSP/1.0 404 Not Found\r\nCSeq: " + cseqOf(request) + "\r\n\r\n";
    return "";
  });
  auto client = playInterleaved({"127.0.0.1", server.port(), 0, 2000, ""}, "rtsp://x/none");
  ASSERT_FALSE(client);
  EXPECT_NE(client.error().message.find("DESCRIBE rtsp://x/none: status 404"), std::string::npos)
      << client.error().message;
}

}  // namespace
}  // namespace funkhaus::test
