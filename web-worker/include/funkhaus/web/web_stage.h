// The funkhaus-web worker: its command line and WebStage, the stage the worker runtime runs
// (common/worker_runtime.h): identity, paired-client store, pairing machine, GameStream API and
// the HTTP(S) server on an Asio loop each step runs for its budget, mDNS on avahi's thread, and
// the requests of funkhausd (pairing, pair, clients, unpair, host-state). funkhaus-web's main
// thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/worker_runtime.h"
#include "funkhaus/web/client_store.h"
#include "funkhaus/web/gamestream_api.h"
#include "funkhaus/web/http_server.h"
#include "funkhaus/web/identity.h"
#include "funkhaus/web/mdns.h"
#include "funkhaus/web/pairing.h"

namespace funkhaus::web {

struct WebOptions {
  std::filesystem::path state_dir;  // host identity and paired clients
  std::string name;                 // the host's name for clients and mDNS
  std::vector<App> apps;            // besides Desktop
  // Without funkhausd's endpoints (standalone, or none handed over) it listens itself.
  std::string listen_address = "::";
  uint16_t http_port = 47989;
  uint16_t https_port = 47984;
  bool mdns = true;
};

// Parses --state-dir, --name, --app ID:TITLE (repeatable), --listen-address, --http-port,
// --https-port, --no-mdns. nullopt: --help was printed. The error names the bad argument.
Result<std::optional<WebOptions>> parseWebOptions(int argc, char** argv);

// Answers one request of funkhausd (untrusted JSON text) with JSON text.
class WebStage final : public WorkerStage {
 public:
  explicit WebStage(WebOptions options);
  ~WebStage() override;

  // Loads or makes the identity, opens the store, takes the endpoints (kEndpoint with the
  // GameStream tags) or listens itself, and starts serving. Errors: kBadConfig for a state
  // directory that cannot be used or ports that cannot be bound.
  Result<void> start(WorkerContext& context) override;
  Result<void> step(int64_t budget_ns) override;
  void onRequest(WorkerContext& context, uint32_t id, const std::string& text) override;
  void publish(abi::WorkerStatusPage& page, uint64_t now_ns) override;
  void stop() override;

  // The JSON answer to a request's text (exposed for tests).
  std::string answer(const std::string& text);

 private:
  WebOptions options_;
  WorkerContext* context_ = nullptr;
  boost::asio::io_context io_;
  std::unique_ptr<Clock> clock_;
  std::optional<ClientStore> store_;
  std::unique_ptr<PairingMachine> pairing_;
  std::unique_ptr<SessionLink> link_;
  std::unique_ptr<GamestreamApi> api_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<MdnsAnnouncer> mdns_;
  bool running_ = false;
};

// Runs funkhaus-web on the worker runtime (standalone too). Returns the exit code.
int runWebWorker(const WebOptions& options);

}  // namespace funkhaus::web
