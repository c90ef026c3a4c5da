// funkhaus-web against the real Moonlight Embedded (label client): the worker runs under a
// FakeSupervisor that plays funkhausd (it holds the two listening sockets, as funkhausd does, and
// enters the PIN through the worker's request channel, as `funkhausctl pair` will).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/common/files.h"
#include "funkhaus/test/fake_supervisor.h"
#include "funkhaus/test/moonlight.h"
#include "funkhaus/test/shell.h"
#include "funkhaus/test/worker_requests.h"
#include "funkhaus/web/http_server.h"
#include "temp_dir.h"

namespace funkhaus::web {
namespace {

using namespace std::chrono_literals;
using ::funkhaus::test::askWorker;
using ::funkhaus::test::FakeSupervisor;
using nlohmann::json;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class WebClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto moonlight = ::funkhaus::test::findMoonlight();
    if (!moonlight) GTEST_SKIP() << moonlight.error().message;
    moonlight_ = *moonlight;
    auto http = listenTcp("127.0.0.1", 0);
    auto https = listenTcp("127.0.0.1", 0);
    ASSERT_TRUE(http.ok() && https.ok());
    http_ = std::move(*http);
    https_ = std::move(*https);
    http_port_ = *boundPort(http_.get());
  }

  void startWorker() {
    auto worker = FakeSupervisor::start(
        {FUNKHAUS_WEB_BINARY,
         {"--state-dir", state().string(), "--name", "funkhaus-test", "--no-mdns", "--app",
          "5:Steam Big Picture", "--app", "6:Tom & Jerry <2>"},
         abi::WorkerKind::kWeb,
         {}});
    ASSERT_TRUE(worker.ok()) << worker.error().message;
    worker_.emplace(std::move(*worker));
    auto connected =
        worker_->connect({{abi::FdRole::kEndpoint, abi::kEndpointGamestreamHttp, http_.get()},
                          {abi::FdRole::kEndpoint, abi::kEndpointGamestreamHttps, https_.get()}},
                         30s);
    ASSERT_TRUE(connected.ok()) << connected.error().message << "\n" << worker_->log();
  }

  void TearDown() override {
    if (worker_) {
      worker_->stop();
      if (HasFailure()) std::printf("funkhaus-web log:\n%s\n", worker_->log().c_str());
    }
  }

  std::filesystem::path state() const { return dir_.path() / "state"; }
  std::filesystem::path home(const std::string& client) const { return dir_.path() / client; }

  std::vector<std::string> args(const std::string& action, const std::string& client,
                                std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {action, "-keydir", (home(client) / "keys").string(), "-port",
                                  std::to_string(http_port_)};
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back("127.0.0.1");
    return a;
  }

  json ask(const json& request) {
    auto reply = askWorker(*worker_, request.dump(), 10s);
    if (!reply) {
      ADD_FAILURE() << reply.error().message;
      return json::object();
    }
    json doc = json::parse(*reply, nullptr, false);
    EXPECT_TRUE(doc.is_object()) << *reply;
    return doc;
  }

  // Waits until the worker reports a pairing request waiting for its PIN.
  bool waitPending() {
    for (int i = 0; i < 300; ++i) {
      json p = ask({{"cmd", "pairing"}});
      if (p.contains("pending") && !p["pending"].empty() && p["pending"][0]["waiting_for_pin"])
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // `moonlight pair -pin <client_pin>`, with `host_pin` entered at the host. Returns its output.
  std::string pair(const std::string& client, const std::string& client_pin,
                   const std::string& host_pin, double* took_ms = nullptr) {
    auto run = ::funkhaus::test::MoonlightRun::start(
        moonlight_, args("pair", client, {"-pin", client_pin}), home(client));
    if (!run) return "[" + run.error().message + "]";
    if (!waitPending()) return run->output() + "\n[no pairing request reached the host]";
    json pending = ask({{"cmd", "pairing"}});
    EXPECT_EQ(pending["pending"][0]["name"], "roth");
    EXPECT_EQ(pending["pending"][0]["address"], "127.0.0.1");
    const auto t0 = std::chrono::steady_clock::now();
    json entered = ask({{"cmd", "pair"}, {"pin", host_pin}});
    EXPECT_EQ(entered["ok"], true) << entered.dump();
    if (!run->wait(60s)) {
      run->process().stop(1s);
      return run->output() + "\n[moonlight pair timed out]";
    }
    if (took_ms != nullptr)
      *took_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return run->output();
  }

  std::string moonlight(const std::string& action, const std::string& client) {
    return ::funkhaus::test::runMoonlight(moonlight_, args(action, client), home(client), 60s);
  }

  size_t pairedClients() { return ask({{"cmd", "clients"}})["clients"].size(); }

  test::TempDir dir_;
  std::string moonlight_;
  UniqueFd http_, https_;
  uint16_t http_port_ = 0;
  std::optional<FakeSupervisor> worker_;
};

TEST_F(WebClientTest, PairListAndUnpair) {
  startWorker();
  double took_ms = 0;
  const std::string paired = pair("a", "1234", "1234", &took_ms);
  ASSERT_TRUE(has(paired, "Succesfully paired")) << paired;
  std::printf(
      "[figures] PIN entered at the host -> moonlight printed \"Succesfully paired\" and "
      "exited: %.0f ms\n",
      took_ms);
  json clients = ask({{"cmd", "clients"}});
  ASSERT_EQ(clients["clients"].size(), 1u) << clients.dump();
  EXPECT_EQ(clients["clients"][0]["name"], "roth");
  const std::string id = clients["clients"][0]["id"];

  const std::string list = moonlight("list", "a");
  EXPECT_TRUE(has(list, "Desktop")) << list;
  EXPECT_TRUE(has(list, "Steam Big Picture")) << list;
  EXPECT_TRUE(has(list, "Tom & Jerry <2>")) << list;

  // A client with a fresh key directory is not paired.
  const std::string stranger = moonlight("list", "b");
  EXPECT_TRUE(has(stranger, "You must pair with the PC first")) << stranger;
  EXPECT_FALSE(has(stranger, "Steam Big Picture"));

  json state = ask({{"cmd", "host-state"}});
  EXPECT_EQ(state["paired_clients"], 1);
  EXPECT_EQ(state["http_port"], http_port_);

  // Unpaired at the host: refused at once.
  EXPECT_EQ(ask({{"cmd", "unpair"}, {"id", id.substr(0, 8)}})["ok"], true);
  const std::string after = moonlight("list", "a");
  EXPECT_TRUE(has(after, "You must pair with the PC first")) << after;
  EXPECT_EQ(pairedClients(), 0u);
  EXPECT_FALSE(ask({{"cmd", "unpair"}, {"id", id.substr(0, 8)}})["ok"].get<bool>());
}

TEST_F(WebClientTest, WrongPinStoresNothingAndAPairingAfterwardsWorks) {
  startWorker();
  const std::string wrong = pair("a", "1234", "4321");
  EXPECT_FALSE(has(wrong, "Succesfully paired")) << wrong;
  EXPECT_TRUE(has(wrong, "Failed to pair")) << wrong;
  EXPECT_EQ(pairedClients(), 0u);
  EXPECT_FALSE(std::filesystem::exists(state() / "paired-clients.json"));
  // The address is slowed down for a second after the failure.
  std::this_thread::sleep_for(2100ms);
  const std::string right = pair("a", "1234", "1234");
  EXPECT_TRUE(has(right, "Succesfully paired")) << right;
  EXPECT_EQ(pairedClients(), 1u);
}

TEST_F(WebClientTest, KillDuringPairingKeepsTheStoreAndANewPairingWorks) {
  startWorker();
  ASSERT_TRUE(has(pair("a", "1111", "1111"), "Succesfully paired"));
  const std::string store_before = *readSmallFile(state() / "paired-clients.json", 1 << 20);

  auto run = ::funkhaus::test::MoonlightRun::start(moonlight_, args("pair", "b", {"-pin", "2222"}),
                                                   home("b"));
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(waitPending());
  worker_->kill9();
  EXPECT_EQ(*readSmallFile(state() / "paired-clients.json", 1 << 20), store_before);
  // funkhausd restarts it on the same sockets (moonlight's /unpair after the failed step waits
  // in their backlog until a worker serves it).
  startWorker();
  ASSERT_TRUE(run->wait(30s).has_value()) << run->output();
  EXPECT_FALSE(has(run->output(), "Succesfully paired")) << run->output();
  EXPECT_TRUE(has(run->output(), "Failed to pair")) << run->output();
  EXPECT_EQ(pairedClients(), 1u);
  const std::string again = pair("b", "2222", "2222");
  EXPECT_TRUE(has(again, "Succesfully paired")) << again;
  EXPECT_EQ(pairedClients(), 2u);
  EXPECT_TRUE(has(moonlight("list", "a"), "Desktop"));
  EXPECT_TRUE(has(moonlight("list", "b"), "Desktop"));
}

TEST_F(WebClientTest, DamagedStoreIsReportedMovedAsideAndPairingWorksAgain) {
  std::filesystem::create_directories(state());
  std::ofstream(state() / "paired-clients.json") << "{\"version\":1,\"clients\":[{\"id\":";
  startWorker();
  std::vector<std::string> aside;
  for (const auto& e : std::filesystem::directory_iterator(state()))
    if (e.path().filename().string().rfind("paired-clients.json.bad-", 0) == 0)
      aside.push_back(e.path().filename().string());
  ASSERT_EQ(aside.size(), 1u);
  worker_->drain(100ms, 1s);
  const std::string log = worker_->log();
  EXPECT_TRUE(has(log, (state() / "paired-clients.json").string())) << log;
  EXPECT_TRUE(has(log, aside[0])) << log;
  EXPECT_EQ(pairedClients(), 0u);
  EXPECT_TRUE(has(pair("a", "1234", "1234"), "Succesfully paired"));
  EXPECT_TRUE(has(moonlight("list", "a"), "Steam Big Picture"));
}

TEST_F(WebClientTest, PairingSurvivesARestart) {
  startWorker();
  ASSERT_TRUE(has(pair("a", "1234", "1234"), "Succesfully paired"));
  const std::string id_before = *readSmallFile(state() / "host-id", 1024);
  ASSERT_TRUE(worker_->stop().has_value());
  worker_.reset();
  startWorker();
  EXPECT_EQ(*readSmallFile(state() / "host-id", 1024), id_before);
  const std::string list = moonlight("list", "a");
  EXPECT_TRUE(has(list, "Steam Big Picture")) << list;
}

}  // namespace
}  // namespace funkhaus::web

namespace funkhaus::web {
namespace {

// Discovery: avahi-daemon and a D-Bus of its own in a private network namespace (skipped with
// the reason where namespaces, dbus-daemon or avahi-daemon are not available).
TEST(WebMdnsTest, MoonlightFindsTheHostWithoutAnAddress) {
  auto moonlight = ::funkhaus::test::findMoonlight();
  if (!moonlight) GTEST_SKIP() << moonlight.error().message;
  for (const char* tool : {"unshare", "dbus-daemon", "avahi-daemon", "ip"})
    if (std::system(fmt::format("command -v {} >/dev/null", tool).c_str()) != 0)
      GTEST_SKIP() << tool << " is not installed (scripts/install-deps.sh)";
  test::TempDir dir;
  const std::string command =
      fmt::format("unshare -mnpf --mount-proc bash {} {} {} {} 2>&1", FUNKHAUS_WEB_MDNS_SCRIPT,
                  FUNKHAUS_WEB_BINARY, *moonlight, dir.path().string());
  const funkhaus::test::ShellRun run = funkhaus::test::runShell(command);
  const std::string& out = run.out;
  if (run.exit_code == 77) GTEST_SKIP() << out;
  if (has(out, "unshare failed") || has(out, "unshare: "))
    GTEST_SKIP() << "cannot make namespaces here: " << out;
  const auto between = [&](const std::string& a, const std::string& b) {
    const size_t i = out.find(a), j = out.find(b);
    return i == std::string::npos || j == std::string::npos ? std::string() : out.substr(i, j - i);
  };
  const std::string web_log = between("WEB-LOG-BEGIN", "WEB-LOG-END");
  // Without avahi-daemon (and without D-Bus): one line, and serving goes on.
  EXPECT_TRUE(has(out, "BEFORE-DAEMON serverinfo: <state>SUNSHINE_SERVER_FREE</state>")) << out;
  size_t said = 0;
  for (size_t at = web_log.find("avahi-daemon is not running"); at != std::string::npos;
       at = web_log.find("avahi-daemon is not running", at + 1))
    ++said;
  EXPECT_EQ(said, 1u) << web_log;
  // Once the daemon runs: announced, and moonlight finds the host by itself.
  EXPECT_TRUE(has(web_log, "mDNS: announced 'funkhaus-mdns-test' as _nvstream._tcp on port 47989"))
      << web_log;
  const std::string list = between("MOONLIGHT-LIST-BEGIN", "MOONLIGHT-LIST-END");
  EXPECT_TRUE(has(list, "Connecting to 10.77.0.")) << list;
  EXPECT_TRUE(has(list, "You must pair with the PC first")) << list;  // found, talked, refused
}

}  // namespace
}  // namespace funkhaus::web
