// GameStream HTTP(S) requests of gamestream_probe (gamestream_http.h).
#include "gamestream_http.h"

#include <curl/curl.h>
#include <openssl/rand.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <mutex>

namespace funkhaus::probe {

namespace fs = std::filesystem;

namespace {

std::string decodeEntities(std::string text) {
  static constexpr std::pair<const char*, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    bool replaced = false;
    if (text[i] == '&') {
      for (const auto& [name, c] : kEntities) {
        if (text.compare(i, std::char_traits<char>::length(name), name) == 0) {
          out += c;
          i += std::char_traits<char>::length(name);
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

// The value of attribute `name` in the <root ...> tag, or nullopt.
std::optional<std::string> rootAttribute(const std::string& xml, const std::string& name) {
  const size_t root = xml.find("<root");
  if (root == std::string::npos) return std::nullopt;
  const size_t end = xml.find('>', root);
  const std::string tag =
      xml.substr(root, end == std::string::npos ? std::string::npos : end - root);
  const size_t at = tag.find(" " + name + "=\"");
  if (at == std::string::npos) return std::nullopt;
  const size_t start = at + name.size() + 3;
  const size_t close = tag.find('"', start);
  if (close == std::string::npos) return std::nullopt;
  return decodeEntities(tag.substr(start, close - start));
}

std::string randomHex(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) std::abort();  // no entropy
  std::string hex;
  for (unsigned char b : raw) hex += fmt::format("{:02x}", b);
  return hex;
}

std::string randomUuid() {
  const std::string h = randomHex(16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

size_t appendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// A whole decimal integer in [lo, hi], or nullopt.
std::optional<int> parseInt(const std::string& text, int lo, int hi) {
  int value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value < lo || value > hi) return std::nullopt;
  return value;
}

bool fileExists(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

std::optional<std::string> xmlElement(const std::string& xml, const std::string& tag) {
  const std::string open = "<" + tag + ">";
  const size_t start = xml.find(open);
  if (start == std::string::npos) return std::nullopt;
  const size_t body = start + open.size();
  const size_t end = xml.find("</" + tag + ">", body);
  if (end == std::string::npos) return std::nullopt;
  return decodeEntities(xml.substr(body, end - body));
}

Result<ClientIdentity> loadIdentity(const fs::path& keydir) {
  ClientIdentity id;
  id.cert_path = (keydir / "client.pem").string();
  id.key_path = (keydir / "key.pem").string();
  for (const std::string& p : {id.cert_path, id.key_path})
    if (!fileExists(p))
      return makeError(
          "{} is missing: pair Moonlight Embedded with this -keydir first (moonlight pair)", p);
  id.unique_id = "0123456789ABCDEF";
  std::ifstream in(keydir / "uniqueid.dat");
  std::string text;
  if (in && std::getline(in, text)) {
    text = text.substr(0, 16);
    bool hex = text.size() == 16;
    for (char c : text) hex = hex && std::isxdigit(static_cast<unsigned char>(c));
    if (hex) id.unique_id = text;
  }
  return id;
}

GamestreamHttp::GamestreamHttp(std::string host, uint16_t http_port, ClientIdentity identity)
    : host_(std::move(host)), http_port_(http_port), identity_(std::move(identity)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Result<std::string> GamestreamHttp::get(bool https, const std::string& path,
                                        const std::string& query, long timeout_s) {
  const std::string url =
      fmt::format("{}://{}:{}/{}?uniqueid={}&uuid={}{}", https ? "https" : "http", host_,
                  https ? https_port_ : http_port_, path, identity_.unique_id, randomUuid(), query);
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return makeError("curl_easy_init failed");
  std::string body;
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (https) {
    // The host's certificate is self-signed (pinned by real clients, not checked here).
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLCERT, identity_.cert_path.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLKEY, identity_.key_path.c_str());
    curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  }
  const CURLcode code = curl_easy_perform(curl);
  long http_status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK)
    return makeError("GET {}: {}", url, error[0] ? error : curl_easy_strerror(code));
  if (http_status != 200) return makeError("GET {}: HTTP {}: {}", url, http_status, body);
  const auto status = rootAttribute(body, "status_code");
  if (!status) return makeError("GET {}: no <root status_code=...> in the reply: {}", url, body);
  if (*status != "200")
    return makeError("GET {}: host answered status_code {}: {}", url, *status,
                     rootAttribute(body, "status_message").value_or("(no status_message)"));
  return body;
}

Result<ServerInfo> GamestreamHttp::serverInfo() {
  auto plain = get(false, "serverinfo", "", 10);
  if (!plain) return plain.error();
  ServerInfo info;
  info.app_version = xmlElement(*plain, "appversion").value_or("");
  info.gfe_version = xmlElement(*plain, "GfeVersion").value_or("");
  const std::string https_port = xmlElement(*plain, "HttpsPort").value_or("47984");
  const std::string codecs = xmlElement(*plain, "ServerCodecModeSupport").value_or("0");
  const auto port = parseInt(https_port, 1, 65535);
  const auto codec_mask = parseInt(codecs, INT32_MIN, INT32_MAX);
  if (!port || !codec_mask)
    return makeError("serverinfo: bad HttpsPort '{}' or ServerCodecModeSupport '{}'", https_port,
                     codecs);
  info.https_port = static_cast<uint16_t>(*port);
  info.codec_mode_support = *codec_mask;
  if (info.app_version.empty()) return makeError("serverinfo: no appversion: {}", *plain);
  https_port_ = info.https_port;
  auto secure = get(true, "serverinfo", "", 10);
  if (!secure) return secure.error();
  info.paired = xmlElement(*secure, "PairStatus").value_or("0") == "1";
  info.current_game =
      parseInt(xmlElement(*secure, "currentgame").value_or("0"), INT32_MIN, INT32_MAX).value_or(0);
  return info;
}

Result<std::vector<App>> GamestreamHttp::appList() {
  auto body = get(true, "applist", "", 10);
  if (!body) return body.error();
  std::vector<App> apps;
  for (size_t at = body->find("<App>"); at != std::string::npos; at = body->find("<App>", at + 5)) {
    const size_t end = body->find("</App>", at);
    const std::string one = body->substr(at, end == std::string::npos ? end : end - at);
    App app;
    app.title = xmlElement(one, "AppTitle").value_or("");
    app.id = parseInt(xmlElement(one, "ID").value_or("0"), INT32_MIN, INT32_MAX).value_or(0);
    apps.push_back(std::move(app));
  }
  return apps;
}

Result<LaunchReply> GamestreamHttp::launch(const LaunchRequest& r) {
  std::string query;
  if (r.resume)
    query = fmt::format("&rikey={}&rikeyid={}&surroundAudioInfo={}", r.rikey_hex, r.rikeyid,
                        r.surround_audio_info);
  else
    query = fmt::format(
        "&appid={}&mode={}x{}x{}&additionalStates=1&sops=0&rikey={}&rikeyid={}"
        "&localAudioPlayMode=0&surroundAudioInfo={}&remoteControllersBitmap=0&gcmap=0",
        r.app_id, r.width, r.height, r.fps, r.rikey_hex, r.rikeyid, r.surround_audio_info);
  query += r.extra_query;
  auto body = get(true, r.resume ? "resume" : "launch", query, 120);
  if (!body) return body.error();
  LaunchReply reply;
  reply.session_url = xmlElement(*body, "sessionUrl0").value_or("");
  const char* flag = r.resume ? "resume" : "gamesession";
  if (xmlElement(*body, flag).value_or("0") == "0")
    return makeError("{}: the host answered {}=0: {}", r.resume ? "resume" : "launch", flag, *body);
  if (reply.session_url.empty())
    return makeError("{}: no sessionUrl0 in the reply: {}", r.resume ? "resume" : "launch", *body);
  return reply;
}

Result<void> GamestreamHttp::cancel() {
  auto body = get(true, "cancel", "", 30);
  if (!body) return body.error();
  return {};
}

}  // namespace funkhaus::probe
