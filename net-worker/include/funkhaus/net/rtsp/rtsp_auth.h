// Who may watch over RTSP: viewers on this host (loopback) always; viewers from other hosts only
// with RTSP Digest authentication (RFC 2617, the form ffmpeg and GStreamer send for
// rtsp://user:password@host/...), and not at all when no password is configured.
// funkhaus-net main thread (and the fuzz target of the Authorization parser).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "funkhaus/common/result.h"
#include "funkhaus/net/protocol_declarations.h"
#include "funkhaus/net/rtsp_digest.h"
#include "funkhaus/net/socket.h"

namespace funkhaus::net {

inline constexpr const char* kDigestRealm = kRtspDigestRealm;
inline constexpr const char* kDigestEnvironment = kRtspDigestEnvironment;  // "USER:HA1"

struct DigestCredentials {
  std::string user;
  std::string ha1;  // 32 lower-case hex digits
};

// "USER:HA1" as funkhausd writes it; a clear error names what is wrong.
Result<DigestCredentials> parseDigestCredentials(std::string_view text);

// The fields of an `Authorization: Digest ...` header.
struct DigestAuthorization {
  std::string username;
  std::string realm;
  std::string nonce;
  std::string uri;
  std::string response;
  std::string algorithm;  // empty or MD5
  std::string qop;        // empty or auth
  std::string nc;
  std::string cnonce;
};

// Parses an Authorization header value (untrusted bytes): scheme Digest, comma-separated
// name=value or name="quoted value" parameters, each at most once, the required ones present.
Result<DigestAuthorization> parseDigestAuthorization(std::string_view value);

// True for 127.0.0.0/8 and ::1 (IPv4-mapped addresses are plain IPv4 by the time they get here).
bool isLoopback(const sockaddr_storage& address);

class RtspAuth {
 public:
  enum class Verdict {
    kAllowed,    // loopback, or a valid Digest response
    kChallenge,  // answer 401 with challenge()
    kStale,      // a valid response to an expired nonce: 401 with challenge(true)
    kForbidden,  // another host and no password configured: 403
  };
  static constexpr uint64_t kNonceLifetimeNs = 300'000'000'000ull;  // 5 minutes

  // No credentials: loopback viewers only. The nonce key is random per process.
  explicit RtspAuth(std::optional<DigestCredentials> credentials);
  // For tests: a fixed nonce key.
  RtspAuth(std::optional<DigestCredentials> credentials, const std::array<uint8_t, 32>& key);

  bool passwordSet() const { return credentials_.has_value(); }
  // `authorization` is the request's Authorization header or nullptr. The digest's uri is not
  // compared with the request's: GStreamer signs its base URL also for SETUP of a track; the
  // response still proves the password and is bound to a recent nonce.
  Verdict check(const sockaddr_storage& peer, std::string_view method,
                const std::string* authorization, uint64_t now_ns) const;
  // The WWW-Authenticate header line (with CRLF) of a 401.
  std::string challenge(uint64_t now_ns, bool stale = false) const;
  // The response a client computes (tests and the check share it).
  static std::string expectedResponse(const std::string& ha1, std::string_view method,
                                      const DigestAuthorization& a);

 private:
  std::string makeNonce(uint64_t now_ns) const;
  // The time a nonce of ours was made at, or nullopt when it is not ours.
  std::optional<uint64_t> nonceTime(std::string_view nonce) const;

  std::optional<DigestCredentials> credentials_;
  std::array<uint8_t, 32> key_{};
};

}  // namespace funkhaus::net
