// RTSP Digest authentication (RFC 2617) with rtsp_digest.h's MD5 and HMAC; nonces are stateless:
// the time they were made plus an HMAC of it under a per-process key, so any connection may answer
// any recent nonce and a restarted funkhaus-net simply challenges again.
#include "funkhaus/net/rtsp/rtsp_auth.h"

#include <cstring>

#include "funkhaus/net/rtsp/rtsp_request.h"

namespace funkhaus::net {

namespace {

constexpr size_t kMaxField = 512;  // any Digest field longer than this is not a real client's

bool isHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

}  // namespace

Result<DigestCredentials> parseDigestCredentials(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return makeError(ErrorCode::kBadConfig, "{}: expected USER:HA1", kDigestEnvironment);
  DigestCredentials c{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
  if (c.user.find_first_of("\"\\\r\n") != std::string::npos || c.user.size() > kMaxField)
    return makeError(ErrorCode::kBadConfig, "{}: the user name has a quote, backslash or line end",
                     kDigestEnvironment);
  if (c.ha1.size() != 32 || !isHex(c.ha1))
    return makeError(ErrorCode::kBadConfig, "{}: HA1 must be 32 hex digits, got {} characters",
                     kDigestEnvironment, c.ha1.size());
  for (char& ch : c.ha1) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return c;
}

Result<DigestAuthorization> parseDigestAuthorization(std::string_view value) {
  value = trim(value);
  const size_t space = value.find_first_of(" \t");
  if (space == std::string_view::npos || !equalsIgnoreCase(value.substr(0, space), "Digest"))
    return makeError("Authorization: not the Digest scheme");
  std::string_view rest = value.substr(space);
  DigestAuthorization a;
  uint32_t seen = 0;
  struct Field {
    const char* name;
    std::string DigestAuthorization::*member;
  };
  static const Field kFields[] = {
      {"username", &DigestAuthorization::username}, {"realm", &DigestAuthorization::realm},
      {"nonce", &DigestAuthorization::nonce},       {"uri", &DigestAuthorization::uri},
      {"response", &DigestAuthorization::response}, {"algorithm", &DigestAuthorization::algorithm},
      {"qop", &DigestAuthorization::qop},           {"nc", &DigestAuthorization::nc},
      {"cnonce", &DigestAuthorization::cnonce},
  };
  size_t i = 0;
  auto skipSpace = [&] {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t')) ++i;
  };
  while (true) {
    skipSpace();
    if (i == rest.size()) break;
    const size_t name_start = i;
    while (i < rest.size() && isTokenChar(rest[i])) ++i;
    const std::string_view name = rest.substr(name_start, i - name_start);
    if (name.empty()) return makeError("Authorization: a parameter has no name");
    skipSpace();
    if (i == rest.size() || rest[i] != '=')
      return makeError("Authorization: parameter {} has no value", name);
    ++i;
    skipSpace();
    std::string parsed;
    if (i < rest.size() && rest[i] == '"') {
      ++i;
      bool closed = false;
      while (i < rest.size()) {
        char c = rest[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i == rest.size()) break;
          c = rest[i++];
        }
        if (c == '\r' || c == '\n' || c == '\0')
          return makeError("Authorization: parameter {} holds a control character", name);
        parsed += c;
      }
      if (!closed) return makeError("Authorization: parameter {} has no closing quote", name);
    } else {
      const size_t value_start = i;
      while (i < rest.size() && isTokenChar(rest[i])) ++i;
      parsed = rest.substr(value_start, i - value_start);
      if (parsed.empty()) return makeError("Authorization: parameter {} is empty", name);
    }
    if (parsed.size() > kMaxField)
      return makeError("Authorization: parameter {} is longer than {} bytes", name, kMaxField);
    for (size_t f = 0; f < std::size(kFields); ++f) {
      if (!equalsIgnoreCase(name, kFields[f].name)) continue;
      if (seen & (1u << f)) return makeError("Authorization: parameter {} appears twice", name);
      seen |= 1u << f;
      a.*kFields[f].member = std::move(parsed);
      break;
    }  // unknown parameters (opaque, userhash, ...) are ignored, as RFC 2617 asks
    skipSpace();
    if (i == rest.size()) break;
    if (rest[i] != ',') return makeError("Authorization: expected ',' after parameter {}", name);
    ++i;
  }
  for (const char* required : {"username", "realm", "nonce", "uri", "response"}) {
    bool present = false;
    for (size_t f = 0; f < std::size(kFields); ++f)
      if (std::strcmp(kFields[f].name, required) == 0) present = (seen & (1u << f)) != 0;
    if (!present) return makeError("Authorization: parameter {} is missing", required);
  }
  if (!a.algorithm.empty() && !equalsIgnoreCase(a.algorithm, "MD5"))
    return makeError("Authorization: algorithm {} is not supported (MD5 is)", a.algorithm);
  if (!a.qop.empty()) {
    if (!equalsIgnoreCase(a.qop, "auth"))
      return makeError("Authorization: qop {} is not supported (auth is)", a.qop);
    if (a.nc.size() != 8 || !isHex(a.nc) || a.cnonce.empty())
      return makeError("Authorization: qop=auth needs nc (8 hex digits) and cnonce");
  }
  if (a.response.size() != 32 || !isHex(a.response))
    return makeError("Authorization: response must be 32 hex digits");
  return a;
}

bool isLoopback(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(address);
    return (ntohl(in.sin_addr.s_addr) >> 24) == 127;
  }
  if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    return IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr);
  }
  return false;
}

RtspAuth::RtspAuth(std::optional<DigestCredentials> credentials)
    : credentials_(std::move(credentials)) {
  randomBytes(key_);
}

RtspAuth::RtspAuth(std::optional<DigestCredentials> credentials, const std::array<uint8_t, 32>& key)
    : credentials_(std::move(credentials)), key_(key) {}

std::string RtspAuth::makeNonce(uint64_t now_ns) const {
  uint8_t time[8];
  for (int i = 0; i < 8; ++i) time[i] = static_cast<uint8_t>(now_ns >> (56 - 8 * i));
  const auto mac = hmacSha256(key_, time);
  return lowerHex(time, sizeof time) + lowerHex(mac.data(), 16);
}

std::optional<uint64_t> RtspAuth::nonceTime(std::string_view nonce) const {
  if (nonce.size() != 48 || !isHex(nonce)) return std::nullopt;
  uint64_t t = 0;
  for (size_t i = 0; i < 16; ++i) {
    const char c = nonce[i];
    const int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    t = (t << 4) | static_cast<uint64_t>(d);
  }
  if (!equalSecret(makeNonce(t), nonce)) return std::nullopt;
  return t;
}

std::string RtspAuth::expectedResponse(const std::string& ha1, std::string_view method,
                                       const DigestAuthorization& a) {
  std::string ha2_text;
  ha2_text.append(method).append(":").append(a.uri);
  const std::string ha2 = md5Hex(ha2_text);
  std::string text = ha1 + ":" + a.nonce + ":";
  if (!a.qop.empty()) text += a.nc + ":" + a.cnonce + ":" + a.qop + ":";
  return md5Hex(text + ha2);
}

RtspAuth::Verdict RtspAuth::check(const sockaddr_storage& peer, std::string_view method,
                                  const std::string* authorization, uint64_t now_ns) const {
  if (isLoopback(peer)) return Verdict::kAllowed;
  if (!credentials_) return Verdict::kForbidden;
  if (authorization == nullptr) return Verdict::kChallenge;
  auto a = parseDigestAuthorization(*authorization);
  if (!a || a->username != credentials_->user || a->realm != kDigestRealm)
    return Verdict::kChallenge;
  std::string response = a->response;
  for (char& c : response) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!equalSecret(expectedResponse(credentials_->ha1, method, *a), response))
    return Verdict::kChallenge;
  const auto made = nonceTime(a->nonce);
  if (!made || *made > now_ns) return Verdict::kChallenge;
  if (now_ns - *made > kNonceLifetimeNs) return Verdict::kStale;
  return Verdict::kAllowed;
}

std::string RtspAuth::challenge(uint64_t now_ns, bool stale) const {
  return "WWW-Authenticate: Digest realm=\"" + std::string(kDigestRealm) + "\", nonce=\"" +
         makeNonce(now_ns) + "\"" + (stale ? ", stale=TRUE" : "") + "\r\n";
}

}  // namespace funkhaus::net
