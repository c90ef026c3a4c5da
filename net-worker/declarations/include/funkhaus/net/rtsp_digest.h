// The RTSP Digest hashes (RFC 2617; MD5 from OpenSSL on Linux, from the system's BCrypt on
// Windows) that funkhausd and funkhaus-net both compute: funkhausd turns the configured password
// into HA1 for the environment, funkhaus-net checks viewers' responses with it. Any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace funkhaus::net {

// `n` bytes in lower-case hex.
std::string lowerHex(const uint8_t* data, size_t n);

// MD5 of `text` in lower-case hex (32 digits). Throws std::runtime_error when the library has no
// MD5.
std::string md5Hex(std::string_view text);

// MD5(user:realm:password) in lower-case hex.
std::string digestHa1(std::string_view user, std::string_view realm, std::string_view password);

}  // namespace funkhaus::net
