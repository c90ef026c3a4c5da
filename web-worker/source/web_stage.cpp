// funkhaus-web: command line and the stage (web_stage.h).
#include "funkhaus/web/web_stage.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "funkhaus/abi/net_state.h"

namespace funkhaus::web {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int64_t nowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

fs::path defaultStateDir() {
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg)
    return fs::path(xdg) / "funkhaus";
  if (const char* home = std::getenv("HOME"); home && *home)
    return fs::path(home) / ".local/state/funkhaus";
  return "/var/lib/funkhaus";
}

std::string defaultName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "funkhaus";
  return host;
}

// Sessions through funkhausd: requests "launch" and "cancel" on the channel.
class SupervisedLink final : public SessionLink {
 public:
  explicit SupervisedLink(WorkerContext& context) : context_(context) {}

  void launch(const LaunchRequest& r, std::function<void(Result<uint16_t>)> done) override {
    json request = {{"cmd", "launch"},
                    {"resume", r.resume},
                    {"app", {{"id", r.app.id}, {"title", r.app.title}}},
                    {"width", r.width},
                    {"height", r.height},
                    {"fps", r.fps},
                    {"rikey", r.rikey_hex},
                    {"rikeyid", r.rikeyid},
                    {"surround_info", r.surround_info},
                    {"client", {{"id", r.client_id}, {"name", r.client_name}}}};
    auto sent = context_.request(request.dump(), [done](Result<std::string> reply) {
      if (!reply) return done(makeError("funkhausd: {}", reply.error().message));
      json doc = json::parse(*reply, nullptr, false);
      if (!doc.is_object() || !doc.contains("ok") || !doc["ok"].is_boolean())
        return done(makeError("funkhausd answered launch with something malformed"));
      if (!doc["ok"].get<bool>()) {
        const auto it = doc.find("error");
        return done(makeError("{}", it != doc.end() && it->is_string()
                                        ? it->get<std::string>()
                                        : std::string("funkhausd refused the launch")));
      }
      const auto port = doc.find("rtsp_port");
      if (port == doc.end() || !port->is_number_unsigned() || port->get<uint64_t>() == 0 ||
          port->get<uint64_t>() > 65535)
        return done(makeError("funkhausd answered launch without a valid rtsp_port"));
      done(static_cast<uint16_t>(port->get<uint64_t>()));
    });
    if (!sent) done(sent.error());
  }

  void cancel(const std::string& client_id, std::function<void(Result<void>)> done) override {
    json request = {{"cmd", "cancel"}, {"client", {{"id", client_id}}}};
    auto sent = context_.request(request.dump(), [done](Result<std::string> reply) {
      if (!reply) return done(makeError("funkhausd: {}", reply.error().message));
      json doc = json::parse(*reply, nullptr, false);
      if (!doc.is_object() || !doc.contains("ok") || !doc["ok"].is_boolean())
        return done(makeError("funkhausd answered cancel with something malformed"));
      if (!doc["ok"].get<bool>()) {
        const auto it = doc.find("error");
        return done(makeError("{}", it != doc.end() && it->is_string()
                                        ? it->get<std::string>()
                                        : std::string("funkhausd refused to cancel")));
      }
      done(Result<void>());
    });
    if (!sent) done(sent.error());
  }

 private:
  WorkerContext& context_;
};

json failure(const std::string& message) { return {{"ok", false}, {"error", message}}; }

}  // namespace

Result<std::optional<WebOptions>> parseWebOptions(int argc, char** argv) {
  WebOptions o;
  o.state_dir = defaultStateDir();
  o.name = defaultName();
  std::vector<std::string> apps;
  std::string state_dir = o.state_dir.string();
  bool no_mdns = false;
  CLI::App app{"funkhaus-web: the GameStream HTTP(S) API and pairing (started by funkhausd)"};
  app.add_option("--state-dir", state_dir, "host identity and paired clients")
      ->capture_default_str();
  app.add_option("--name", o.name, "the host's name for clients")->capture_default_str();
  app.add_option("--app", apps, "an app besides Desktop, as ID:TITLE (repeatable)");
  app.add_option("--listen-address", o.listen_address,
                 "address to listen on without funkhausd's sockets")
      ->capture_default_str();
  app.add_option("--http-port", o.http_port, "HTTP port without funkhausd's sockets")
      ->capture_default_str();
  app.add_option("--https-port", o.https_port, "HTTPS port without funkhausd's sockets")
      ->capture_default_str();
  app.add_flag("--no-mdns", no_mdns, "do not announce the host over mDNS");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return std::optional<WebOptions>();
  } catch (const CLI::ParseError& e) {
    return makeError("{}", e.what());
  }
  o.state_dir = state_dir;
  o.mdns = !no_mdns;
  if (o.name.empty() || o.name.size() > 63)
    return makeError("--name '{}': 1 to 63 characters", o.name);
  o.apps.push_back(App{kDesktopAppId, "Desktop"});
  for (const std::string& spec : apps) {
    auto parsed = parseAppSpec(spec);
    if (!parsed) return parsed.error();
    for (const App& known : o.apps)
      if (known.id == parsed->id || known.title == parsed->title)
        return makeError("--app '{}': id or title used twice", spec);
    o.apps.push_back(std::move(*parsed));
  }
  return std::optional<WebOptions>(std::move(o));
}

WebStage::WebStage(WebOptions options)
    : options_(std::move(options)), clock_(Clock::createSteady()) {}

WebStage::~WebStage() {
  mdns_.reset();
  server_.reset();
}

Result<void> WebStage::start(WorkerContext& context) {
  context_ = &context;
  auto identity = loadOrCreateIdentity(options_.state_dir);
  if (!identity)
    return makeError(ErrorCode::kBadConfig, "state directory {}: {}", options_.state_dir.string(),
                     identity.error().message);
  for (const std::string& note : identity->notes) {
    if (note.find("moved aside") != std::string::npos)
      spdlog::warn("{}", note);
    else
      spdlog::info("{}", note);
  }
  auto store = ClientStore::open(options_.state_dir / "paired-clients.json");
  if (!store) return makeError(ErrorCode::kBadConfig, "{}", store.error().message);
  if (!store->warning().empty()) spdlog::warn("{}", store->warning());
  store_.emplace(std::move(*store));

  UniqueFd http = context.take(abi::FdRole::kEndpoint, abi::kEndpointGamestreamHttp);
  UniqueFd https = context.take(abi::FdRole::kEndpoint, abi::kEndpointGamestreamHttps);
  if (http.valid() != https.valid())
    return makeError(ErrorCode::kBadConfig,
                     "funkhausd handed over only one of the GameStream HTTP and HTTPS sockets");
  if (!http.valid()) {
    auto h = listenTcp(options_.listen_address, options_.http_port);
    if (!h) return h.error();
    auto s = listenTcp(options_.listen_address, options_.https_port);
    if (!s) return s.error();
    http = std::move(*h);
    https = std::move(*s);
  }
  auto http_port = boundPort(http.get());
  auto https_port = boundPort(https.get());
  if (!http_port || !https_port)
    return makeError(ErrorCode::kBadConfig, "the GameStream sockets are not IP sockets");

  const std::string cert_pem = identity->cert.toPem();
  const std::string key_pem = identity->key.toPem();
  HostInfo host{options_.name, identity->unique_id, *http_port, *https_port, kCodecH264};
  pairing_ = std::make_unique<PairingMachine>(*clock_, PairingHost{identity->key, identity->cert});
  link_ = context.supervised() ? std::unique_ptr<SessionLink>(new SupervisedLink(context))
                               : SessionLink::createUnavailable();
  api_ = std::make_unique<GamestreamApi>(host, options_.apps, *store_, *pairing_, *link_, nowUnix);
  auto server = HttpServer::create(
      io_, std::move(http), std::move(https), cert_pem, key_pem,
      [this](ApiRequest request, Respond respond) { api_->handle(request, std::move(respond)); });
  if (!server) return server.error();
  server_ = std::move(*server);
  spdlog::info(
      "serving GameStream as '{}' (id {}, certificate {}) on HTTP port {} and HTTPS "
      "port {}; {} paired clients; {} apps; state in {}",
      host.name, host.unique_id, identity->cert.fingerprint().substr(0, 16), server_->httpPort(),
      server_->httpsPort(), store_->size(), options_.apps.size(), options_.state_dir.string());
  if (options_.mdns) mdns_ = MdnsAnnouncer::start(host.name, server_->httpPort());
  return {};
}

Result<void> WebStage::step(int64_t budget_ns) {
  if (!running_) {
    context_->setState(abi::WorkerState::kRunning);
    running_ = true;
  }
  io_.run_for(std::chrono::nanoseconds(budget_ns));
  if (io_.stopped()) io_.restart();
  pairing_->expire();
  return {};
}

std::string WebStage::answer(const std::string& text) {
  json request = json::parse(text, nullptr, false);
  if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string())
    return failure("a request is a JSON object with a \"cmd\" string").dump();
  const std::string cmd = request["cmd"].get<std::string>();
  auto field = [&](const char* name) -> std::optional<std::string> {
    auto it = request.find(name);
    if (it == request.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  if (cmd == "pairing") {
    json list = json::array();
    for (const PendingPairing& p : pairing_->pending())
      list.push_back({{"address", p.address},
                      {"name", p.name},
                      {"age_s", std::chrono::duration_cast<std::chrono::seconds>(p.age).count()},
                      {"waiting_for_pin", p.waiting_for_pin}});
    return json{{"ok", true}, {"pending", std::move(list)}}.dump();
  }
  if (cmd == "pair") {
    const auto pin = field("pin");
    if (!pin) return failure("pair needs \"pin\" (4 digits as a string)").dump();
    auto went = pairing_->enterPin(*pin, field("address"));
    if (!went) return failure(went.error().message).dump();
    spdlog::info("PIN entered for the pairing request from {}", *went);
    return json{{"ok", true}, {"address", *went}}.dump();
  }
  if (cmd == "clients") {
    json list = json::array();
    for (const PairedClient& c : store_->list())
      list.push_back(
          {{"id", c.id}, {"name", c.name}, {"paired_at", c.paired_at}, {"last_seen", c.last_seen}});
    return json{{"ok", true}, {"clients", std::move(list)}}.dump();
  }
  if (cmd == "unpair") {
    const auto id = field("id");
    if (!id) return failure("unpair needs \"id\" (8 or more hex characters of it)").dump();
    auto removed = store_->removeByPrefix(*id);
    if (!removed) return failure(removed.error().message).dump();
    spdlog::info("unpaired client '{}' (id {})", removed->name, removed->id);
    return json{{"ok", true}, {"id", removed->id}, {"name", removed->name}}.dump();
  }
  if (cmd == "host-state") {
    return json{{"ok", true},
                {"name", api_->host().name},
                {"unique_id", api_->host().unique_id},
                {"http_port", server_->httpPort()},
                {"https_port", server_->httpsPort()},
                {"paired_clients", store_->size()},
                {"pending_pairings", pairing_->pending().size()},
                {"running_app", api_->runningApp()},
                {"mdns", mdns_ != nullptr && mdns_->announced()}}
        .dump();
  }
  return failure("unknown request '" + cmd.substr(0, 40) + "'").dump();
}

void WebStage::onRequest(WorkerContext& context, uint32_t id, const std::string& text) {
  if (auto ok = context.reply(id, answer(text)); !ok)
    spdlog::error("answering request {}: {}", id, ok.error().message);
}

void WebStage::publish(abi::WorkerStatusPage& status, uint64_t) {
  const HttpCounters c = server_->counters();
  abi::storeRelaxed(status.frames_in, api_->requests());
  abi::storeRelaxed(status.frames_out, c.connections);
  abi::storeRelaxed(status.drops, c.refused);
  abi::storeRelaxed(status.errors, api_->errors() + c.failed + context_->channelErrors());
}

void WebStage::stop() {
  mdns_.reset();
  server_.reset();
}

int runWebWorker(const WebOptions& options) {
  WebStage stage(options);
  RuntimeOptions runtime;
  runtime.kind = abi::WorkerKind::kWeb;
  runtime.name = "web";
  runtime.standalone_ok = true;
  return runWorker(stage, runtime);
}

}  // namespace funkhaus::web
