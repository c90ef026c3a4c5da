// Socket address helpers.
#include "funkhaus/net/socket_address.h"

#include <fmt/format.h>

#include <cstring>

namespace funkhaus::net {

std::string formatHost(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (a.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, host, sizeof host);
  else if (a.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, host, sizeof host);
  return host;
}

std::string formatAddress(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return fmt::format("{}:{}", formatHost(a), portOf(a));
  if (a.ss_family == AF_INET6) return fmt::format("[{}]:{}", formatHost(a), portOf(a));
  return "?";
}

sockaddr_storage unmapped(const sockaddr_storage& a) {
  if (a.ss_family != AF_INET6) return a;
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
  if (!IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) return a;
  sockaddr_storage out{};
  auto& in = reinterpret_cast<sockaddr_in&>(out);
  in.sin_family = AF_INET;
  in.sin_port = in6.sin6_port;
  std::memcpy(&in.sin_addr, in6.sin6_addr.s6_addr + 12, 4);
  return out;
}

uint16_t portOf(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return 0;
}

}  // namespace funkhaus::net
