// Socket addresses as net handles them: printing, IPv4-mapped IPv6 made plain, ports. Used by the
// core and the protocols on funkhaus-net's main thread.
#pragma once

#include <cstdint>
#include <string>

#include "funkhaus/net/socket.h"

namespace funkhaus::net {

// "1.2.3.4:5" or "[::1]:5"; "?" for other families.
std::string formatAddress(const sockaddr_storage& address);
// The host part alone: "1.2.3.4" or "::1" (no brackets).
std::string formatHost(const sockaddr_storage& address);
// An IPv4-mapped IPv6 address becomes plain IPv4 (so it matches what a viewer sends from).
sockaddr_storage unmapped(const sockaddr_storage& address);
uint16_t portOf(const sockaddr_storage& address);

}  // namespace funkhaus::net
