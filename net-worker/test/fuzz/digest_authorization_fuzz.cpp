// Fuzz target: an RTSP Authorization header value from a viewer. Parses or is refused; what
// parses holds no field longer than the limit and a 32-hex-digit response.
// fuzz-parser: net-worker/source/rtsp/rtsp_auth.cpp
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/net/rtsp/rtsp_auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto a = funkhaus::net::parseDigestAuthorization(text);
  if (a && (a->response.size() != 32 || a->username.size() > 512 || a->nonce.size() > 512))
    __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  std::vector<std::vector<uint8_t>> out;
  for (
      const std::string s : {
          R"(Digest username="viewer", realm="funkhaus", nonce="0011223344556677)"
          R"(8899aabbccddeeff0011223344556677", uri="rtsp://10.0.0.1:8554/live", )"
          R"(response="e9c09c76afd732f111bf009340f0aa75")",
          R"(Digest username="Mufasa",realm="testrealm@host.com",nonce="dcd98b7102dd2f0e8b11d0)"
          R"(f600bfb0c093",uri="/dir/index.html",qop=auth,nc=00000001,cnonce="0a4f113b",)"
          R"(response="6629fae49393a05397450978507c4ef1",opaque="5ccc069c403ebaf9f0171e9517f40e41")",
      })
    out.emplace_back(s.begin(), s.end());
  return out;
}
