// The HTTPS server in process on loopback with the real curl: TLS with the host certificate,
// the body limit, keep-alive, event streams, and /metrics with and without its bearer token.
#include "funkhaus/console/console_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "funkhaus/web/http_server.h"
#include "funkhaus/web/identity.h"

namespace funkhaus::console {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class FixedLink final : public ControlLink {
 public:
  void request(const json&, std::function<void(Result<std::string>)> done) override {
    done(std::string(
        R"({"ok":true,"sessions":[{"id":"c1","workers":[{"name":"encode","state":"running","fps":60.0}]}]})"));
  }
};

std::string run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (run("command -v curl").empty()) GTEST_SKIP() << "needs curl";
    dir_ = fs::temp_directory_path() / ("console-server-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    auto identity = web::loadOrCreateIdentity(dir_);
    ASSERT_TRUE(identity.ok()) << identity.error().message;
    auto secrets = Secrets::open(dir_, ScryptParams{1024, 8, 1});
    ASSERT_TRUE(secrets.ok());
    secrets_.emplace(std::move(*secrets));
    ASSERT_TRUE(secrets_->setPassword("hunter22hunter").ok());
    auto token = secrets_->newMetricsToken();
    ASSERT_TRUE(token.ok());
    token_ = *token;
    sessions_ = std::make_unique<SessionStore>("", [] { return int64_t{1000}; });
    limiter_ = std::make_unique<LoginLimiter>([] { return int64_t{0}; });
    // Off loopback as far as /metrics goes (the socket itself stays on 127.0.0.1).
    api_ = std::make_unique<ConsoleApi>(ConsoleApiOptions{dir_ / "web", false}, *secrets_,
                                        *sessions_, *limiter_, link_);
    auto listener = web::listenTcp("127.0.0.1", 0);
    ASSERT_TRUE(listener.ok());
    auto server = ConsoleServer::create(
        io_, std::move(*listener), identity->cert.toPem(), identity->key.toPem(),
        [this](HttpRequest r, Respond respond) { api_->handle(r, std::move(respond)); });
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
    url_ = "https://127.0.0.1:" + std::to_string(server_->port());
    cert_ = (dir_ / "host-cert.pem").string();
    thread_ = std::thread([this] {
      auto work = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }
  void TearDown() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
    fs::remove_all(dir_);
  }
  // curl over HTTPS (the self-signed host certificate: -k): "<body> <status>".
  std::string curl(const std::string& args) {
    return run("curl -sk --max-time 10 -w ' %{http_code}' " + args + " 2>&1");
  }

  fs::path dir_;
  std::optional<Secrets> secrets_;
  std::unique_ptr<SessionStore> sessions_;
  std::unique_ptr<LoginLimiter> limiter_;
  FixedLink link_;
  std::unique_ptr<ConsoleApi> api_;
  boost::asio::io_context io_;
  std::unique_ptr<ConsoleServer> server_;
  std::thread thread_;
  std::string url_, cert_, token_;
};

TEST_F(ServerTest, ServesTlsWithTheHostCertificate) {
  const std::string out =
      run("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(server_->port()) +
          " 2>/dev/null | openssl x509 -noout -fingerprint -sha256");
  const std::string mine = run("openssl x509 -noout -fingerprint -sha256 -in " + cert_);
  EXPECT_FALSE(mine.empty());
  EXPECT_EQ(out, mine);
  EXPECT_TRUE(server_->loopback());
}

TEST_F(ServerTest, MetricsWithAndWithoutTheBearerToken) {
  EXPECT_TRUE(curl(url_ + "/metrics").ends_with(" 401")) << curl(url_ + "/metrics");
  EXPECT_TRUE(curl("-H 'Authorization: Bearer " + std::string(64, '0') + "' " + url_ + "/metrics")
                  .ends_with(" 401"));
  const std::string ok = curl("-H 'Authorization: Bearer " + token_ + "' " + url_ + "/metrics");
  EXPECT_TRUE(ok.ends_with(" 200")) << ok;
  EXPECT_NE(ok.find("funkhaus_worker_fps{worker=\"encode\",session=\"c1\"} 60"), std::string::npos)
      << ok;
}

TEST_F(ServerTest, OversizedBodiesAre413AndKeepAliveServesSeveralRequests) {
  const fs::path big = dir_ / "big.json";
  std::ofstream(big) << "{\"password\":\"" << std::string(70 * 1024, 'a') << "\"}";
  const std::string oversized = curl("-H 'Content-Type: application/json' --data-binary @" +
                                     big.string() + " " + url_ + "/api/login");
  EXPECT_TRUE(oversized.ends_with(" 413")) << oversized;
  // Two requests on one connection (curl reuses it when the server keeps it alive).
  const std::string two = run("curl -sk -v " + url_ + "/api/session " + url_ +
                              "/api/session 2>&1 | grep -c 'Re-using existing connection'");
  EXPECT_EQ(two, "1\n");
}

TEST_F(ServerTest, EventStreamsGetEachBroadcastUntilTheyLeave) {
  const std::string login = curl("-c " + (dir_ / "jar").string() +
                                 " -H 'Content-Type: application/json' -d "
                                 "'{\"password\":\"hunter22hunter\"}' " +
                                 url_ + "/api/login");
  ASSERT_TRUE(login.ends_with(" 200")) << login;
  std::string events;
  std::thread reader([&] {
    events =
        run("curl -sk -N --max-time 3 -b " + (dir_ / "jar").string() + " " + url_ + "/api/events");
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    std::promise<size_t> n;
    boost::asio::post(io_, [&] { n.set_value(server_->eventStreams()); });
    if (n.get_future().get() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  boost::asio::post(io_, [&] {
    server_->broadcast(ConsoleApi::event("status", R"({"n":1})"));
    server_->broadcast(ConsoleApi::event("status", R"({"n":2})"));
  });
  reader.join();
  EXPECT_NE(events.find("retry: 1000"), std::string::npos) << events;
  EXPECT_NE(events.find("event: status\ndata: {\"n\":1}\n\nevent: status\ndata: {\"n\":2}\n\n"),
            std::string::npos)
      << events;
  // curl left (--max-time): the stream is closed and forgotten.
  const auto gone = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  size_t left = 1;
  while (left != 0 && std::chrono::steady_clock::now() < gone) {
    std::promise<size_t> n;
    boost::asio::post(io_, [&] { n.set_value(server_->eventStreams()); });
    left = n.get_future().get();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(left, 0u);
}

}  // namespace
}  // namespace funkhaus::console
