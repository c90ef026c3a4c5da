// The GameStream HTTP(S) API (gamestream.md §2): /serverinfo, /pair (all phases), /unpair,
// /applist, /appasset, /launch, /resume, /cancel, answered as the XML Moonlight expects. It
// decides who is paired by the TLS client certificate; sessions are asked of funkhausd through
// SessionLink. funkhaus-web main thread (replies may come later, on the same thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/web/client_store.h"
#include "funkhaus/web/crypto.h"
#include "funkhaus/web/pairing.h"

namespace funkhaus::web {

inline constexpr const char* kAppVersion = "7.1.431.-1";
inline constexpr const char* kGfeVersion = "3.23.0.74";
inline constexpr uint32_t kDesktopAppId = 1;
inline constexpr uint32_t kCodecH264 = 0x1;  // ServerCodecModeSupport: what the encoder makes

struct App {
  uint32_t id = 0;
  std::string title;
};

struct HostInfo {
  std::string name;       // hostname element and mDNS name
  std::string unique_id;  // the persistent host UUID
  uint16_t http_port = 47989;
  uint16_t https_port = 47984;
  uint32_t codec_modes = kCodecH264;
};

struct ApiRequest {
  std::string target;  // path and query as received
  bool https = false;
  std::string peer_address;                // the client's IP, text
  std::string local_address;               // the address the connection came in on, text
  std::optional<Certificate> client_cert;  // over HTTPS, when the client sent one
};

struct ApiResponse {
  unsigned http_status = 200;  // GameStream errors are XML with HTTP 200
  std::string content_type = "application/xml";
  std::string body;
};

using Respond = std::function<void(ApiResponse)>;

// What /launch asks of funkhausd (checked here first).
struct LaunchRequest {
  App app;
  uint32_t width = 0, height = 0, fps = 0;
  std::string rikey_hex;  // 16 bytes
  int32_t rikeyid = 0;
  uint32_t surround_info = 0;
  std::string client_id;  // fingerprint of the client's certificate
  std::string client_name;
  bool resume = false;
};

// The way to funkhausd: start or resume a session's stream and cancel it. Replies come back
// later on the same thread. Without funkhausd every call fails with a clear message.
class SessionLink {
 public:
  virtual ~SessionLink() = default;
  // The RTSP port of the session's net worker, once it takes the handshake.
  virtual void launch(const LaunchRequest& request, std::function<void(Result<uint16_t>)> done) = 0;
  virtual void cancel(const std::string& client_id, std::function<void(Result<void>)> done) = 0;
  static std::unique_ptr<SessionLink> createUnavailable();
};

class GamestreamApi {
 public:
  // `now_unix` gives wall-clock seconds (paired and last-seen times).
  GamestreamApi(HostInfo host, std::vector<App> apps, ClientStore& store, PairingMachine& pairing,
                SessionLink& link, std::function<int64_t()> now_unix);

  void handle(const ApiRequest& request, Respond respond);

  const std::vector<App>& apps() const { return apps_; }
  uint32_t runningApp() const { return running_app_; }
  const HostInfo& host() const { return host_; }
  uint64_t requests() const { return requests_; }
  uint64_t errors() const { return errors_; }

 private:
  void serverInfo(const ApiRequest& request, bool paired, Respond& respond);
  void pair(const ApiRequest& request, const class RequestTarget& target,
            const PairedClient* client, Respond respond);
  void appList(Respond& respond);
  void launch(const RequestTarget& target, const PairedClient& client, bool resume,
              const std::string& local_address, Respond respond);
  void cancel(const PairedClient& client, Respond respond);
  ApiResponse error(int status, std::string_view message);

  HostInfo host_;
  std::vector<App> apps_;
  ClientStore& store_;
  PairingMachine& pairing_;
  SessionLink& link_;
  std::function<int64_t()> now_unix_;
  uint32_t running_app_ = 0;
  uint64_t requests_ = 0, errors_ = 0;
};

// Parses "ID:TITLE" (ID 2..2^31-1; 1 is Desktop; TITLE 1..64 printable characters).
Result<App> parseAppSpec(std::string_view spec);

}  // namespace funkhaus::web
