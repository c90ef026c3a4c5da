// The funkhaus-console worker: its command line and ConsoleStage, the stage the worker runtime
// runs (common/worker_runtime.h): the host identity (shared with funkhaus-web), the secrets and
// sessions, the HTTPS server on an Asio loop each step runs for its budget, funkhausd's status
// polled every 250 ms for the event streams, and funkhausd's requests (set-password,
// new-metrics-token). funkhaus-console's main thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "funkhaus/common/result.h"
#include "funkhaus/common/worker_runtime.h"
#include "funkhaus/console/auth.h"
#include "funkhaus/console/console_api.h"
#include "funkhaus/console/console_server.h"

namespace funkhaus::console {

struct ConsoleOptions {
  std::filesystem::path state_dir;  // host identity (funkhaus-web's), console secrets, sessions
  std::filesystem::path web_root;   // the front end: index.html, assets/
  // Without funkhausd's socket (standalone, or none handed over) it listens itself.
  std::string address = "127.0.0.1";
  uint16_t port = 47990;
  ScryptParams scrypt{};  // --scrypt-n for tests
};

// Parses --state-dir, --web-root, --address, --port, --scrypt-n. nullopt: --help was printed.
Result<std::optional<ConsoleOptions>> parseConsoleOptions(int argc, char** argv);

class ConsoleStage final : public WorkerStage {
 public:
  explicit ConsoleStage(ConsoleOptions options);
  ~ConsoleStage() override;

  Result<void> start(WorkerContext& context) override;
  Result<void> step(int64_t budget_ns) override;
  void onRequest(WorkerContext& context, uint32_t id, const std::string& text) override;
  void publish(abi::WorkerStatusPage& page, uint64_t now_ns) override;
  void stop() override;

 private:
  void pollStatus();

  ConsoleOptions options_;
  WorkerContext* context_ = nullptr;
  boost::asio::io_context io_;
  std::optional<Secrets> secrets_;
  std::unique_ptr<SessionStore> sessions_;
  std::unique_ptr<LoginLimiter> limiter_;
  std::unique_ptr<ControlLink> link_;
  std::unique_ptr<ConsoleApi> api_;
  std::unique_ptr<ConsoleServer> server_;
  bool running_ = false;
  bool polling_ = false;
  std::chrono::steady_clock::time_point next_poll_{};
  std::chrono::steady_clock::time_point last_sent_{};
  std::string last_key_;  // the last status sent, without the fields that move every poll
};

int runConsoleWorker(const ConsoleOptions& options);

}  // namespace funkhaus::console
