// What each viewer protocol needs from funkhausd, as data: its id, the size of its blob in the
// net state page and its endpoints (which socket, which config port, pairing rules, which worker
// serves it: funkhaus-net, or funkhaus-web for GameStream's HTTP(S)).
// Header-only (the ABI and nothing else): funkhausd opens exactly what the enabled protocols
// declare without linking net code, and net checks what it was handed against the same table.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "funkhaus/abi/gamestream_state.h"
#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/rtsp_state.h"
#include "funkhaus/abi/status_page.h"

namespace funkhaus::net {

enum class EndpointKind : uint8_t {
  kTcpListen,  // a listening TCP socket; net accepts viewer connections on it
  kUdp,        // a bound UDP socket; net sends and receives datagrams on it
};

// Which [net] setting gives an endpoint its port (funkhausd's config). A new protocol with ports
// of its own adds its settings here and in funkhausd's config.
enum class PortSetting : uint8_t {
  kRelative,         // none: `follows`' port plus `offset`
  kPort,             // [net] port (RTSP over TCP)
  kRtpPort,          // [net] rtp_port (RTP/RTCP over UDP)
  kGamestreamHttp,   // [gamestream] base_port (GameStream HTTP)
  kGamestreamHttps,  // [gamestream] base_port - 5 (GameStream HTTPS)
  kGamestreamRtsp,   // [gamestream] base_port + 21 (the stream's RTSP handshake)
  kGamestreamVideo,  // [gamestream] base_port + 9 (video; control and audio follow it)
};

// Which config table gives the port of an endpoint with a port of its own: [net] (bound on
// [net] bind) or [gamestream] (bound on [gamestream] listen_address).
constexpr bool isGamestreamPort(PortSetting setting) {
  return setting == PortSetting::kGamestreamHttp || setting == PortSetting::kGamestreamHttps ||
         setting == PortSetting::kGamestreamRtsp || setting == PortSetting::kGamestreamVideo;
}

struct EndpointDeclaration {
  uint32_t tag;  // abi::endpointTag(protocol, index): the tag of its FdRole::kEndpoint
  EndpointKind kind;
  PortSetting port;  // its own port (0 in the config: any free port), or kRelative
  uint32_t follows;  // kRelative: the endpoint (declared before it) whose port it follows
  uint16_t offset;   // kRelative: its port is follows' port + offset (bound together)
  bool even;         // its port must be even (RTP, RFC 3550 11: RTCP on the next odd port)
  const char* name;  // for logs and errors: "RTSP", "RTP", "RTCP"
  abi::WorkerKind worker = abi::WorkerKind::kNet;  // the worker funkhausd hands it to
};

struct ProtocolDeclaration {
  abi::NetProtocol protocol;
  const char* name;
  uint64_t blob_size;  // bytes of its blob in the net state page (sizeof its state struct)
  std::span<const EndpointDeclaration> endpoints;
};

// RTSP 1.0 / RTP: the RTSP listening socket, and one UDP pair shared by all UDP viewers (RTP on
// an even port, RTCP on the next one: what RTSP clients expect of server_port=).
inline constexpr EndpointDeclaration kRtspEndpoints[] = {
    {abi::kEndpointRtspListen, EndpointKind::kTcpListen, PortSetting::kPort, 0, 0, false, "RTSP"},
    {abi::kEndpointRtspRtp, EndpointKind::kUdp, PortSetting::kRtpPort, 0, 0, true, "RTP"},
    {abi::kEndpointRtspRtcp, EndpointKind::kUdp, PortSetting::kRelative, abi::kEndpointRtspRtp, 1,
     false, "RTCP"},
};

// RTSP viewers from other hosts sign in with Digest: funkhausd hands funkhaus-net the
// credentials in this environment variable as "USER:HA1" (HA1: the 32 lower-case hex digits of
// MD5(USER:kRtspDigestRealm:PASSWORD)), never on the command line, which every user may read.
inline constexpr const char* kRtspDigestEnvironment = "FUNKHAUS_RTSP_DIGEST";
inline constexpr const char* kRtspDigestRealm = "funkhaus";

inline constexpr ProtocolDeclaration kRtspProtocol = {abi::NetProtocol::kRtsp, "RTSP/RTP",
                                                      sizeof(abi::RtspState), kRtspEndpoints};

// GameStream's stream (gamestream.md §1): the RTSP handshake on TCP base + 21, video on UDP
// base + 9, the ENet control stream on base + 10, audio on base + 11, all on [gamestream]
// listen_address, served by the session's funkhaus-net. Enabled with [gamestream] enabled.
inline constexpr EndpointDeclaration kGamestreamEndpoints[] = {
    {abi::kEndpointGamestreamRtsp, EndpointKind::kTcpListen, PortSetting::kGamestreamRtsp, 0, 0,
     false, "GameStream RTSP"},
    {abi::kEndpointGamestreamVideo, EndpointKind::kUdp, PortSetting::kGamestreamVideo, 0, 0, false,
     "GameStream video"},
    {abi::kEndpointGamestreamControl, EndpointKind::kUdp, PortSetting::kRelative,
     abi::kEndpointGamestreamVideo, 1, false, "GameStream control"},
    {abi::kEndpointGamestreamAudio, EndpointKind::kUdp, PortSetting::kRelative,
     abi::kEndpointGamestreamVideo, 2, false, "GameStream audio"},
};
inline constexpr ProtocolDeclaration kGamestreamProtocol = {
    abi::NetProtocol::kGamestream, "GameStream", sizeof(abi::GamestreamState),
    kGamestreamEndpoints};

// GameStream's HTTP(S) API, served by funkhaus-web (host-wide) on [gamestream] listen_address.
// Not among kNetProtocols: the stream's declaration above holds the blob.
inline constexpr EndpointDeclaration kGamestreamWebEndpoints[] = {
    {abi::kEndpointGamestreamHttp, EndpointKind::kTcpListen, PortSetting::kGamestreamHttp, 0, 0,
     false, "GameStream HTTP", abi::WorkerKind::kWeb},
    {abi::kEndpointGamestreamHttps, EndpointKind::kTcpListen, PortSetting::kGamestreamHttps, 0, 0,
     false, "GameStream HTTPS", abi::WorkerKind::kWeb},
};
inline constexpr ProtocolDeclaration kGamestreamWebProtocol = {
    abi::NetProtocol::kGamestream, "GameStream HTTP(S)", 0, kGamestreamWebEndpoints};

// Every protocol this build has, in the order funkhausd reserves their blobs.
inline constexpr const ProtocolDeclaration* kNetProtocols[] = {&kRtspProtocol,
                                                               &kGamestreamProtocol};
// RTSP/RTP alone (funkhausd with [gamestream] enabled = false).
inline constexpr const ProtocolDeclaration* kRtspOnly[] = {&kRtspProtocol};

// The declaration of `protocol`, or nullptr for one this build does not have.
constexpr const ProtocolDeclaration* findProtocol(abi::NetProtocol protocol) {
  for (const ProtocolDeclaration* p : kNetProtocols)
    if (p->protocol == protocol) return p;
  return nullptr;
}

// The blobs funkhausd reserves in the net state page for `protocols` (createNetStatePage()).
inline std::vector<abi::NetBlobRequest> blobRequests(
    std::span<const ProtocolDeclaration* const> protocols = kRtspOnly) {
  std::vector<abi::NetBlobRequest> blobs;
  for (const ProtocolDeclaration* p : protocols) blobs.push_back({p->protocol, p->blob_size});
  return blobs;
}

// The declaration of endpoint `tag` in `protocol`, or nullptr.
constexpr const EndpointDeclaration* findEndpoint(const ProtocolDeclaration& protocol,
                                                  uint32_t tag) {
  for (const EndpointDeclaration& e : protocol.endpoints)
    if (e.tag == tag) return &e;
  return nullptr;
}

// The table is consistent: tags belong to their protocol, a relative endpoint follows one with a
// port of its own declared before it in the same protocol. (Checked at compile time.)
constexpr bool declarationsConsistent() {
  for (const ProtocolDeclaration* p : kNetProtocols) {
    for (size_t i = 0; i < p->endpoints.size(); ++i) {
      const EndpointDeclaration& e = p->endpoints[i];
      if (abi::endpointProtocol(e.tag) != static_cast<uint32_t>(p->protocol)) return false;
      if (e.worker != abi::WorkerKind::kNet && e.worker != abi::WorkerKind::kWeb) return false;
      if (e.port != PortSetting::kRelative) continue;
      bool found = false;  // a leader: an endpoint with a port of its own, declared before
      for (size_t j = 0; j < i; ++j)
        found = found || (p->endpoints[j].tag == e.follows &&
                          p->endpoints[j].port != PortSetting::kRelative);
      if (!found || e.offset == 0) return false;
    }
  }
  return true;
}
static_assert(declarationsConsistent(), "a protocol declares an endpoint funkhausd cannot open");

}  // namespace funkhaus::net
