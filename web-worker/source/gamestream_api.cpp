// The GameStream HTTP(S) API (gamestream_api.h).
#include "funkhaus/web/gamestream_api.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <memory>

#include "funkhaus/web/request_target.h"
#include "funkhaus/web/xml_reply.h"

namespace funkhaus::web {

namespace {

constexpr size_t kMaxDeviceName = 64;

ApiResponse xml(const XmlReply& reply) {
  return ApiResponse{200, "application/xml", reply.finish()};
}

// devicename as given by the client, or a placeholder when it is empty or not printable.
std::string deviceName(const RequestTarget& target) {
  const std::string* name = target.find("devicename");
  if (name == nullptr || name->empty() || name->size() > kMaxDeviceName) return "unnamed";
  for (char c : *name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "unnamed";
  return *name;
}

std::string urlHost(const std::string& address) {
  return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

class UnavailableLink final : public SessionLink {
 public:
  void launch(const LaunchRequest&, std::function<void(Result<uint16_t>)> done) override {
    done(makeError("no streaming session is available: funkhaus-web runs without funkhausd"));
  }
  void cancel(const std::string&, std::function<void(Result<void>)> done) override {
    done(makeError("no streaming session is available: funkhaus-web runs without funkhausd"));
  }
};

}  // namespace

std::unique_ptr<SessionLink> SessionLink::createUnavailable() {
  return std::make_unique<UnavailableLink>();
}

Result<App> parseAppSpec(std::string_view spec) {
  const size_t colon = spec.find(':');
  if (colon == std::string_view::npos)
    return makeError("--app '{}': expected ID:TITLE", spec.substr(0, 80));
  auto id = parseInteger(spec.substr(0, colon), "--app ID", 2, INT32_MAX);
  if (!id) return makeError("{} (1 is Desktop)", id.error().message);
  const std::string_view title = spec.substr(colon + 1);
  if (title.empty() || title.size() > 64)
    return makeError("--app '{}': the title must have 1 to 64 characters", spec.substr(0, 80));
  for (char c : title)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return makeError("--app '{}': the title has a control character", spec.substr(0, 80));
  return App{static_cast<uint32_t>(*id), std::string(title)};
}

GamestreamApi::GamestreamApi(HostInfo host, std::vector<App> apps, ClientStore& store,
                             PairingMachine& pairing, SessionLink& link,
                             std::function<int64_t()> now_unix)
    : host_(std::move(host)),
      apps_(std::move(apps)),
      store_(store),
      pairing_(pairing),
      link_(link),
      now_unix_(std::move(now_unix)) {}

ApiResponse GamestreamApi::error(int status, std::string_view message) {
  ++errors_;
  return xml(XmlReply(status, message));
}

void GamestreamApi::handle(const ApiRequest& request, Respond respond) {
  ++requests_;
  auto target = RequestTarget::parse(request.target);
  if (!target) {
    spdlog::info("{} {}: {}", request.peer_address, request.https ? "https" : "http",
                 target.error().message);
    return respond(error(400, target.error().message));
  }
  const std::string& path = target->path();
  const PairedClient* client = nullptr;
  if (request.https && request.client_cert)
    client = store_.find(request.client_cert->fingerprint());
  if (request.https && client == nullptr) {
    // Unknown or no certificate: the handshake finished; the XML 401 sends the client to HTTP.
    ++errors_;
    return respond(
        xml(XmlReply(401, "The client is not authorized. Certificate verification failed.")));
  }
  if (client != nullptr) store_.touch(client->id, now_unix_());

  if (path == "/serverinfo") return serverInfo(request, client != nullptr, respond);
  if (path == "/pair") return pair(request, *target, client, std::move(respond));
  if (path == "/unpair") {
    if (client != nullptr) {
      const std::string id = client->id;
      if (auto removed = store_.remove(id); !removed)
        return respond(error(500, removed.error().message));
      spdlog::info("client {} unpaired itself", id);
      // Its stream, if it has one, ends with its pairing (funkhausd refuses the cancel of a
      // client that does not stream: then there is nothing to end).
      link_.cancel(id, [this, id](Result<void> done) {
        if (!done)
          return spdlog::debug("no stream of client {} to end: {}", id, done.error().message);
        running_app_ = 0;
        spdlog::info("the stream of client {} ended with its pairing", id);
      });
    } else {
      pairing_.abort(request.peer_address);
    }
    return respond(xml(XmlReply(200)));
  }
  if (!request.https) return respond(error(404, "this path is served over HTTPS only"));
  if (path == "/applist") return appList(respond);
  if (path == "/appasset") return respond(error(404, "no box art"));
  if (path == "/launch" || path == "/resume")
    return launch(*target, *client, path == "/resume", request.local_address, std::move(respond));
  if (path == "/cancel") return cancel(*client, std::move(respond));
  respond(error(404, "unknown path " + path));
}

void GamestreamApi::serverInfo(const ApiRequest& request, bool paired, Respond& respond) {
  XmlReply reply;
  reply.element("hostname", host_.name)
      .element("appversion", kAppVersion)
      .element("GfeVersion", kGfeVersion)
      .element("uniqueid", host_.unique_id)
      .element("HttpsPort", host_.https_port)
      .element("ExternalPort", host_.http_port)
      .element("MaxLumaPixelsHEVC", "0")
      .element("mac", "00:00:00:00:00:00")
      .element("LocalIP", request.local_address.find(':') == std::string::npos
                              ? request.local_address
                              : std::string("127.0.0.1"))
      .element("ServerCodecModeSupport", host_.codec_modes)
      .open("SupportedDisplayMode")
      .open("DisplayMode")
      .element("Width", 1920)
      .element("Height", 1080)
      .element("RefreshRate", 60)
      .close("DisplayMode")
      .close("SupportedDisplayMode")
      .element("gputype", "funkhaus")
      .element("GsVersion", "funkhaus")
      .element("PairStatus", request.https && paired ? 1 : 0)
      .element("currentgame", running_app_)
      .element("state", running_app_ != 0 ? "SUNSHINE_SERVER_BUSY" : "SUNSHINE_SERVER_FREE");
  respond(xml(reply));
}

void GamestreamApi::pair(const ApiRequest& request, const RequestTarget& target,
                         const PairedClient* client, Respond respond) {
  auto fail = [&](const Error& e) {
    spdlog::info("pairing with {}: {}", request.peer_address, e.message);
    ++errors_;
    XmlReply reply(400, e.message);
    reply.element("paired", 0);
    respond(xml(reply));
  };
  const std::string* phrase = target.find("phrase");
  if (request.https) {
    if (phrase == nullptr || *phrase != "pairchallenge")
      return fail(makeError("over HTTPS only phrase=pairchallenge is a pairing step"));
    (void)client;  // paired (checked by the caller)
    return respond(xml(XmlReply().element("paired", 1)));
  }
  const std::string& peer = request.peer_address;
  if (phrase != nullptr && *phrase == "getservercert") {
    const std::string* salt = target.find("salt");
    const std::string* cert = target.find("clientcert");
    if (salt == nullptr || cert == nullptr)
      return fail(makeError("getservercert needs salt and clientcert"));
    const std::string name = deviceName(target);
    auto respond_later = std::make_shared<Respond>(std::move(respond));
    auto started = pairing_.getServerCert(
        peer, name, *salt, *cert, [this, respond_later, peer](Result<std::string> hex) {
          if (!hex) {
            spdlog::info("pairing with {}: {}", peer, hex.error().message);
            ++errors_;
            XmlReply reply(400, hex.error().message);
            reply.element("paired", 0);
            return (*respond_later)(xml(reply));
          }
          (*respond_later)(xml(XmlReply().element("paired", 1).element("plaincert", *hex)));
        });
    if (!started) {
      respond = std::move(*respond_later);
      return fail(started.error());
    }
    spdlog::info("pairing request from {} ('{}'): waiting for the PIN to be entered at the host",
                 peer, name);
    return;
  }
  if (const std::string* challenge = target.find("clientchallenge")) {
    auto reply = pairing_.clientChallenge(peer, *challenge);
    if (!reply) return fail(reply.error());
    return respond(xml(XmlReply().element("paired", 1).element("challengeresponse", *reply)));
  }
  if (const std::string* response = target.find("serverchallengeresp")) {
    auto reply = pairing_.serverChallengeResponse(peer, *response);
    if (!reply) return fail(reply.error());
    return respond(xml(XmlReply().element("paired", 1).element("pairingsecret", *reply)));
  }
  if (const std::string* secret = target.find("clientpairingsecret")) {
    auto paired = pairing_.clientPairingSecret(peer, *secret);
    if (!paired) return fail(paired.error());
    PairedClient record{paired->cert.fingerprint(), paired->name, paired->cert.toPem(), now_unix_(),
                        0};
    const std::string id = record.id;
    if (auto stored = store_.add(std::move(record)); !stored) {
      spdlog::error("storing the paired client {}: {}", id, stored.error().message);
      return fail(stored.error());
    }
    spdlog::info("paired client '{}' from {} (id {})", paired->name, peer, id);
    return respond(xml(XmlReply().element("paired", 1)));
  }
  fail(makeError("/pair without a known phase"));
}

void GamestreamApi::appList(Respond& respond) {
  XmlReply reply;
  for (const App& app : apps_)
    reply.open("App")
        .element("IsHdrSupported", 0)
        .element("AppTitle", app.title)
        .element("ID", app.id)
        .close("App");
  respond(xml(reply));
}

void GamestreamApi::launch(const RequestTarget& target, const PairedClient& client, bool resume,
                           const std::string& local_address, Respond respond) {
  LaunchRequest launch;
  launch.resume = resume;
  launch.client_id = client.id;
  launch.client_name = client.name;
  auto rikey = target.text("rikey");
  if (!rikey) return respond(error(400, rikey.error().message));
  if (auto key = hexDecode(*rikey, "rikey", 16); !key)
    return respond(error(400, key.error().message));
  launch.rikey_hex = *rikey;
  auto rikeyid = target.integer("rikeyid", INT32_MIN, INT32_MAX);
  if (!rikeyid) return respond(error(400, rikeyid.error().message));
  launch.rikeyid = static_cast<int32_t>(*rikeyid);
  if (target.has("surroundAudioInfo")) {
    auto surround = target.integer("surroundAudioInfo", 0, INT32_MAX);
    if (!surround) return respond(error(400, surround.error().message));
    launch.surround_info = static_cast<uint32_t>(*surround);
  }
  if (resume) {
    if (running_app_ == 0) return respond(error(400, "nothing is running to resume"));
    for (const App& app : apps_)
      if (app.id == running_app_) launch.app = app;
  } else {
    auto appid = target.integer("appid", 1, INT32_MAX);
    if (!appid) return respond(error(400, appid.error().message));
    for (const App& app : apps_)
      if (app.id == *appid) launch.app = app;
    if (launch.app.id == 0) return respond(error(404, fmt::format("no app has id {}", *appid)));
    if (running_app_ != 0 && running_app_ != launch.app.id)
      return respond(error(400, "another app is running: quit it first"));
    auto mode = target.text("mode");
    if (!mode) return respond(error(400, mode.error().message));
    unsigned w = 0, h = 0, fps = 0;
    char tail = 0;
    if (std::sscanf(mode->c_str(), "%ux%ux%u%c", &w, &h, &fps, &tail) != 3 || w < 64 || w > 16384 ||
        h < 64 || h > 16384 || fps < 1 || fps > 1000)
      return respond(error(400, "mode: expected WIDTHxHEIGHTxFPS (64..16384, 1..1000)"));
    launch.width = w;
    launch.height = h;
    launch.fps = fps;
  }
  auto shared = std::make_shared<Respond>(std::move(respond));
  const uint32_t app_id = launch.app.id;
  link_.launch(launch, [this, shared, resume, app_id, local_address](Result<uint16_t> port) {
    if (!port) return (*shared)(error(503, port.error().message));
    running_app_ = app_id;
    XmlReply reply;
    reply.element("sessionUrl0", fmt::format("rtsp://{}:{}", urlHost(local_address), *port));
    if (resume)
      reply.element("resume", 1);
    else
      reply.element("gamesession", 1);
    (*shared)(xml(reply));
  });
}

void GamestreamApi::cancel(const PairedClient& client, Respond respond) {
  auto shared = std::make_shared<Respond>(std::move(respond));
  link_.cancel(client.id, [this, shared](Result<void> done) {
    if (!done) return (*shared)(error(503, done.error().message));
    running_app_ = 0;
    (*shared)(xml(XmlReply().element("cancel", 1)));
  });
}

}  // namespace funkhaus::web
