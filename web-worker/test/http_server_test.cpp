// The HTTP(S) server in process on loopback, driven by curl and openssl s_client: XML 401 for
// unknown certificates after a finished handshake, TLS 1.1 refused, a pairing that waits for its
// PIN not blocking /serverinfo, the connection cap.
#include "funkhaus/web/http_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "funkhaus/test/shell.h"
#include "funkhaus/web/identity.h"
#include "temp_dir.h"
#include "vectors.h"

namespace funkhaus::web {
namespace {

using namespace std::chrono_literals;
using test::vec;
using test::vectorFile;

struct Ran {
  int exit_code = -1;
  std::string output;
};

// Runs a shell command and returns its exit code and stdout+stderr.
Ran run(const std::string& command) {
  funkhaus::test::ShellRun s = funkhaus::test::runShell(command + " 2>&1");
  return Ran{s.exit_code, std::move(s.out)};
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto identity = loadOrCreateIdentity(dir_.path() / "state");
    ASSERT_TRUE(identity.ok()) << identity.error().message;
    auto store = ClientStore::open(dir_.path() / "state" / "paired-clients.json");
    ASSERT_TRUE(store.ok());
    store_.emplace(std::move(*store));
    auto client = Certificate::fromPem(vectorFile("client-cert.pem"));
    ASSERT_TRUE(store_->add({client->fingerprint(), "roth", client->toPem(), 1, 0}).ok());
    pairing_ = std::make_unique<PairingMachine>(clock_, PairingHost{identity->key, identity->cert});
    link_ = SessionLink::createUnavailable();
    auto http = listenTcp("127.0.0.1", 0);
    auto https = listenTcp("127.0.0.1", 0);
    ASSERT_TRUE(http.ok() && https.ok());
    http_port_ = *boundPort(http->get());
    https_port_ = *boundPort(https->get());
    api_ = std::make_unique<GamestreamApi>(
        HostInfo{"test", identity->unique_id, http_port_, https_port_},
        std::vector<App>{{1, "Desktop"}}, *store_, *pairing_, *link_, [] { return int64_t{1}; });
    HttpServerOptions options;
    options.max_connections = 4;
    options.read_timeout = 2s;
    auto server = HttpServer::create(
        io_, std::move(*http), std::move(*https), identity->cert.toPem(), identity->key.toPem(),
        [this](ApiRequest r, Respond respond) { api_->handle(r, std::move(respond)); }, options);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      boost::asio::post(io_, [this] {
        server_.reset();
        io_.stop();
      });
      thread_.join();
    }
  }

  // Runs `f` on the server's thread and waits for it.
  template <class F>
  auto onServer(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

  std::string http(const std::string& path) {
    return fmt::format("http://127.0.0.1:{}{}", http_port_, path);
  }
  std::string https(const std::string& path) {
    return fmt::format("https://127.0.0.1:{}{}", https_port_, path);
  }
  std::string pairedCurl() {
    return fmt::format(
        "curl -sSk --max-time 20 --cert {0}/client-cert.pem --key {0}/client-key.pem ",
        FUNKHAUS_WEB_VECTORS);
  }

  test::TempDir dir_;
  FakeClock clock_;
  std::optional<ClientStore> store_;
  std::unique_ptr<PairingMachine> pairing_;
  std::unique_ptr<SessionLink> link_;
  std::unique_ptr<GamestreamApi> api_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      io_.get_executor()};
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  uint16_t http_port_ = 0, https_port_ = 0;
};

TEST_F(HttpServerTest, ServerInfoOverHttp) {
  const Ran r = run("curl -sS --fail --max-time 10 -D - '" +
                    http("/serverinfo?uniqueid=0123456789ABCDEF&uuid=1") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("HTTP/1.1 200"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Content-Type: application/xml"), std::string::npos);
  EXPECT_NE(r.output.find("<appversion>7.1.431.-1</appversion>"), std::string::npos);
  EXPECT_NE(r.output.find("<PairStatus>0</PairStatus>"), std::string::npos);
}

TEST_F(HttpServerTest, UnknownOrMissingClientCertificateFinishesTlsAndGetsXml401) {
  // The host's vector key pair is a certificate this server never paired.
  const Ran unknown = run(fmt::format(
      "curl -sSk --fail --max-time 10 --cert {0}/host-cert.pem --key {0}/host-key.pem '{1}'",
      FUNKHAUS_WEB_VECTORS, https("/serverinfo?uniqueid=0123456789ABCDEF")));
  ASSERT_EQ(unknown.exit_code, 0) << unknown.output;  // handshake and HTTP both fine
  EXPECT_NE(unknown.output.find("status_code=\"401\""), std::string::npos) << unknown.output;
  const Ran none = run("curl -sSk --fail --max-time 10 '" + https("/applist") + "'");
  ASSERT_EQ(none.exit_code, 0) << none.output;
  EXPECT_NE(none.output.find("status_code=\"401\""), std::string::npos);
}

TEST_F(HttpServerTest, PairedClientCertificateIsRecognised) {
  const Ran r = run(pairedCurl() + "'" + https("/serverinfo") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("<PairStatus>1</PairStatus>"), std::string::npos) << r.output;
  const Ran apps = run(pairedCurl() + "'" + https("/applist") + "'");
  EXPECT_NE(apps.output.find("<AppTitle>Desktop</AppTitle>"), std::string::npos) << apps.output;
}

TEST_F(HttpServerTest, TlsBelowOnePointTwoIsRefused) {
  // SECLEVEL=0 lets this client offer TLS 1.1 at all; the server must refuse it.
  const std::string connect = fmt::format("openssl s_client -connect 127.0.0.1:{} ", https_port_);
  const Ran old = run("echo | timeout 10 " + connect + "-tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'");
  EXPECT_NE(old.exit_code, 0) << old.output;
  EXPECT_TRUE(old.output.find("alert protocol version") != std::string::npos ||
              old.output.find("unsupported protocol") != std::string::npos)
      << old.output;
  const Ran v12 = run("echo | timeout 10 " + connect + "-tls1_2 -cipher 'DEFAULT:@SECLEVEL=0'");
  EXPECT_NE(v12.output.find("TLSv1.2"), std::string::npos) << v12.output;
  // The server asks for a client certificate (and never requires one).
  EXPECT_NE(v12.output.find("Client Certificate Types"), std::string::npos) << v12.output;
}

TEST_F(HttpServerTest, PairingWaitingForThePinDoesNotBlockServerInfo) {
  auto phase1 = std::async(std::launch::async, [this] {
    return run("curl -sS --fail --max-time 30 '" +
               http("/pair?uniqueid=0123456789ABCDEF&uuid=1&devicename=roth&updateState=1&phrase="
                    "getservercert&salt=" +
                    vec("salt") + "&clientcert=" + vec("client_cert_hex")) +
               "'");
  });
  // Wait until the request is pending.
  for (int i = 0; i < 200 && onServer([this] { return pairing_->pending().size(); }) == 0; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(onServer([this] { return pairing_->pending().size(); }), 1u);
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const Ran r = run(pairedCurl() + "'" + https("/serverinfo") + "'");
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    ASSERT_NE(r.output.find("<PairStatus>1</PairStatus>"), std::string::npos) << r.output;
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "[figures] /serverinfo over HTTPS while a pairing waits for its PIN: p50 %.1f ms, "
      "max %.1f ms over %zu requests (curl process included)\n",
      ms[ms.size() / 2], ms.back(), ms.size());
  EXPECT_EQ(phase1.wait_for(0s), std::future_status::timeout);  // still waiting for the PIN
  auto entered = onServer([this] { return pairing_->enterPin("1234"); });
  ASSERT_TRUE(entered.ok()) << entered.error().message;
  const Ran r = phase1.get();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("<paired>1</paired><plaincert>"), std::string::npos) << r.output;
}

TEST_F(HttpServerTest, ConnectionsBeyondTheCapAreClosed) {
  std::vector<UniqueFd> idle;
  auto connect = [this] {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(http_port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  };
  for (int i = 0; i < 4; ++i) idle.push_back(connect());
  for (int i = 0; i < 200 && onServer([this] { return server_->counters().open; }) < 4; ++i)
    std::this_thread::sleep_for(10ms);
  UniqueFd extra = connect();
  char byte = 0;
  timeval tv{5, 0};
  ::setsockopt(extra.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(::recv(extra.get(), &byte, 1, 0), 0);  // closed at once
  EXPECT_EQ(onServer([this] { return server_->counters().refused; }), 1u);
  // The idle ones time out (read timeout 2 s) and the server serves again.
  for (auto& fd : idle) EXPECT_EQ(::recv(fd.get(), &byte, 1, 0), 0);
  const Ran r = run("curl -sS --fail --max-time 10 '" + http("/serverinfo") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(HttpServerTest, OnlyGetIsServed) {
  const Ran r = run("curl -sS -o /dev/null -w '%{http_code}' -X POST --max-time 10 '" +
                    http("/serverinfo") + "'");
  EXPECT_EQ(r.output, "405");
}

}  // namespace
}  // namespace funkhaus::web
