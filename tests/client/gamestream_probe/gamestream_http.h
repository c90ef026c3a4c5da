// GameStream HTTP(S) requests of gamestream_probe: /serverinfo, /applist, /launch, /resume and
// /cancel with the client certificate Moonlight Embedded made when it paired. Main thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::probe {

// What a paired Moonlight Embedded left in its key directory.
struct ClientIdentity {
  std::string cert_path;  // client.pem
  std::string key_path;   // key.pem
  std::string unique_id;  // uniqueid.dat, or Moonlight's fixed 0123456789ABCDEF
};

// Fails when client.pem or key.pem is missing (the client has not paired with this keydir).
Result<ClientIdentity> loadIdentity(const std::filesystem::path& keydir);

struct ServerInfo {
  std::string app_version;  // appversion
  std::string gfe_version;  // GfeVersion
  uint16_t https_port = 0;  // HttpsPort
  int codec_mode_support = 0;
  int current_game = 0;  // from the HTTPS serverinfo
  bool paired = false;   // PairStatus over HTTPS
};

struct App {
  int id = 0;
  std::string title;
};

// /launch (or /resume) parameters; the query string follows moonlight-embedded's.
struct LaunchRequest {
  int app_id = 0;
  int width = 0;
  int height = 0;
  int fps = 0;
  std::string rikey_hex;  // 32 hex digits
  int32_t rikeyid = 0;
  int surround_audio_info = 196610;  // stereo: (0x3 << 16) | 2
  std::string extra_query;           // LiGetLaunchUrlQueryParameters()
  bool resume = false;
};

struct LaunchReply {
  std::string session_url;  // sessionUrl0
};

// The XML reply's element `tag` (entities decoded), or nullopt. Exposed for the tests' use.
std::optional<std::string> xmlElement(const std::string& xml, const std::string& tag);

class GamestreamHttp {
 public:
  GamestreamHttp(std::string host, uint16_t http_port, ClientIdentity identity);

  // HTTP /serverinfo (HttpsPort, versions, codecs), then HTTPS /serverinfo (PairStatus,
  // currentgame).
  Result<ServerInfo> serverInfo();
  // HTTPS /applist (after serverInfo()).
  Result<std::vector<App>> appList();
  // HTTPS /launch or /resume; the error carries the host's status_message.
  Result<LaunchReply> launch(const LaunchRequest& request);
  // HTTPS /cancel.
  Result<void> cancel();

 private:
  // GET `path` + `query` (uniqueid and uuid added); the body when the root's status_code is 200.
  Result<std::string> get(bool https, const std::string& path, const std::string& query,
                          long timeout_s);

  std::string host_;
  uint16_t http_port_;
  uint16_t https_port_ = 0;
  ClientIdentity identity_;
};

}  // namespace funkhaus::probe
