// funkhaus-console: command line and the stage (console_stage.h).
#include "funkhaus/console/console_stage.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/web/http_server.h"
#include "funkhaus/web/identity.h"

namespace funkhaus::console {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr auto kPollInterval = 250ms;
constexpr auto kResendInterval = 5s;

fs::path defaultStateDir() {
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg)
    return fs::path(xdg) / "funkhaus";
  if (const char* home = std::getenv("HOME"); home && *home)
    return fs::path(home) / ".local/state/funkhaus";
  return "/var/lib/funkhaus";
}

// <prefix>/share/funkhaus/console beside an installed binary, else the build tree's
// build/console-web (the binary is in build/bin).
// The build tree's pages next to the binary (build/bin/../console-web), else the package's
// (packaging installs them to /usr/share/funkhaus/console; the binary is in /usr/libexec/funkhaus).
fs::path defaultWebRoot() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path built = exe.parent_path().parent_path() / "console-web";
    if (fs::is_directory(built / "assets", ec)) return built;
  }
  return "/usr/share/funkhaus/console";
}

int64_t nowUnixS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Control requests on the worker channel (funkhausd answers as it answers funkhausctl).
class SupervisedLink final : public ControlLink {
 public:
  explicit SupervisedLink(WorkerContext& context) : context_(context) {}
  void request(const json& request, std::function<void(Result<std::string>)> done) override {
    auto sent = context_.request(request.dump(), done);
    if (!sent) done(sent.error());
  }

 private:
  WorkerContext& context_;
};

class StandaloneLink final : public ControlLink {
 public:
  void request(const json&, std::function<void(Result<std::string>)> done) override {
    done(makeError("the console runs without funkhausd (standalone)"));
  }
};

// The status without what moves at every poll (uptimes, heartbeat ages).
std::string statusKey(json status) {
  auto strip = [](json& workers) {
    if (!workers.is_array()) return;
    for (json& w : workers)
      if (w.is_object()) {
        w.erase("uptime_s");
        w.erase("heartbeat_age_ms");
      }
  };
  if (status.contains("host_workers")) strip(status["host_workers"]);
  if (status.contains("sessions") && status["sessions"].is_array())
    for (json& s : status["sessions"])
      if (s.is_object() && s.contains("workers")) strip(s["workers"]);
  return status.dump();
}

}  // namespace

Result<std::optional<ConsoleOptions>> parseConsoleOptions(int argc, char** argv) {
  ConsoleOptions o;
  std::string state_dir = defaultStateDir().string();
  std::string web_root = defaultWebRoot().string();
  uint64_t scrypt_n = o.scrypt.n;
  CLI::App app{"funkhaus-console: the web console and /metrics (started by funkhausd)"};
  app.add_option("--state-dir", state_dir, "host identity, console password, sessions")
      ->capture_default_str();
  app.add_option("--web-root", web_root, "the front end's files (index.html, assets/)")
      ->capture_default_str();
  app.add_option("--address", o.address, "address to listen on without funkhausd's socket")
      ->capture_default_str();
  app.add_option("--port", o.port, "port to listen on without funkhausd's socket")
      ->capture_default_str();
  app.add_option("--scrypt-n", scrypt_n, "scrypt cost N for new passwords (power of two)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return std::optional<ConsoleOptions>();
  } catch (const CLI::ParseError& e) {
    return makeError("{}", e.what());
  }
  if (scrypt_n < 1024 || scrypt_n > (uint64_t{1} << 20) || (scrypt_n & (scrypt_n - 1)) != 0)
    return makeError("--scrypt-n {}: a power of two from 1024 to 1048576", scrypt_n);
  o.scrypt.n = scrypt_n;
  o.state_dir = state_dir;
  o.web_root = web_root;
  return std::optional<ConsoleOptions>(std::move(o));
}

ConsoleStage::ConsoleStage(ConsoleOptions options) : options_(std::move(options)) {}

ConsoleStage::~ConsoleStage() { server_.reset(); }

Result<void> ConsoleStage::start(WorkerContext& context) {
  context_ = &context;
  auto identity = web::loadOrCreateIdentity(options_.state_dir);
  if (!identity)
    return makeError(ErrorCode::kBadConfig, "state directory {}: {}", options_.state_dir.string(),
                     identity.error().message);
  for (const std::string& note : identity->notes) spdlog::info("{}", note);
  auto secrets = Secrets::open(options_.state_dir, options_.scrypt);
  if (!secrets)
    return makeError(ErrorCode::kBadConfig, "state directory {}: {}", options_.state_dir.string(),
                     secrets.error().message);
  for (const std::string& note : secrets->notes()) spdlog::warn("{}", note);
  secrets_.emplace(std::move(*secrets));
  sessions_ = std::make_unique<SessionStore>(options_.state_dir / "console-sessions", nowUnixS);
  limiter_ = std::make_unique<LoginLimiter>(nowMs);
  link_ = context.supervised() ? std::unique_ptr<ControlLink>(new SupervisedLink(context))
                               : std::unique_ptr<ControlLink>(new StandaloneLink());

  UniqueFd listener = context.take(abi::FdRole::kEndpoint, abi::kEndpointConsoleHttps);
  if (!listener.valid()) {
    auto own = web::listenTcp(options_.address, options_.port);
    if (!own) return makeError(ErrorCode::kBadConfig, "{}", own.error().message);
    listener = std::move(*own);
  }
  auto port = web::boundPort(listener.get());
  if (!port) return makeError(ErrorCode::kBadConfig, "the console socket is not an IP socket");
  auto server = ConsoleServer::create(
      io_, std::move(listener), identity->cert.toPem(), identity->key.toPem(),
      [this](HttpRequest request, Respond respond) { api_->handle(request, std::move(respond)); });
  if (!server) return server.error();
  server_ = std::move(*server);
  api_ = std::make_unique<ConsoleApi>(ConsoleApiOptions{options_.web_root, server_->loopback()},
                                      *secrets_, *sessions_, *limiter_, *link_);
  spdlog::info(
      "serving the web console on port {} ({}; certificate {}); web root {}; password {}; "
      "state in {}",
      server_->port(),
      server_->loopback() ? "loopback: /metrics without a token" : "/metrics needs its token",
      identity->cert.fingerprint().substr(0, 16), options_.web_root.string(),
      secrets_->hasPassword() ? "set" : "not set (funkhausctl console-password)",
      options_.state_dir.string());
  return {};
}

Result<void> ConsoleStage::step(int64_t budget_ns) {
  if (!running_) {
    context_->setState(abi::WorkerState::kRunning);
    running_ = true;
  }
  io_.run_for(std::chrono::nanoseconds(budget_ns));
  if (io_.stopped()) io_.restart();
  pollStatus();
  return {};
}

// While event streams are open: funkhausd's status every 250 ms, sent when it changed and at
// least every 5 s.
void ConsoleStage::pollStatus() {
  const auto now = std::chrono::steady_clock::now();
  if (polling_ || now < next_poll_ || server_->eventStreams() == 0) return;
  polling_ = true;
  next_poll_ = now + kPollInterval;
  link_->request({{"cmd", "status"}}, [this](Result<std::string> reply) {
    polling_ = false;
    const auto at = std::chrono::steady_clock::now();
    if (!reply) {
      if (at - last_sent_ >= kResendInterval) {
        last_sent_ = at;
        server_->broadcast(
            ConsoleApi::event("error", json{{"error", reply.error().message}}.dump()));
      }
      return;
    }
    const json status = json::parse(*reply, nullptr, false);
    if (!status.is_object()) return;
    std::string key = statusKey(status);
    if (key == last_key_ && at - last_sent_ < kResendInterval) return;
    last_key_ = std::move(key);
    last_sent_ = at;
    std::string text = status.dump(-1, ' ', false, json::error_handler_t::replace);
    server_->broadcast(ConsoleApi::event("status", text));
    api_->setLastStatus(std::move(text));
  });
}

void ConsoleStage::onRequest(WorkerContext& context, uint32_t id, const std::string& text) {
  if (auto ok = context.reply(id, api_->answer(text)); !ok)
    spdlog::error("answering request {}: {}", id, ok.error().message);
}

void ConsoleStage::publish(abi::WorkerStatusPage& status, uint64_t) {
  const ApiCounters& a = api_->counters();
  const ServerCounters s = server_->counters();
  abi::storeRelaxed(status.frames_in, a.requests);
  abi::storeRelaxed(status.frames_out, s.connections);
  abi::storeRelaxed(status.drops, s.refused + a.refused);
  abi::storeRelaxed(status.errors, a.failed + s.failed + context_->channelErrors());
}

void ConsoleStage::stop() { server_.reset(); }

int runConsoleWorker(const ConsoleOptions& options) {
  ConsoleStage stage(options);
  RuntimeOptions runtime;
  runtime.kind = abi::WorkerKind::kConsole;
  runtime.name = "console";
  runtime.standalone_ok = true;
  return runWorker(stage, runtime);
}

}  // namespace funkhaus::console
