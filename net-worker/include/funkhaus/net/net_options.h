// The options of funkhaus-net: those of the protocol-neutral core and those of each protocol
// (from the command line, parseNetOptions()). funkhaus-net main thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "funkhaus/abi/message.h"
#include "funkhaus/net/rtsp/rtsp_auth.h"

namespace funkhaus::net {

struct CoreOptions {
  uint32_t header_timeout_ms = 5000;  // a started unit must complete this soon (slowloris)
  uint32_t max_connections = 32;      // connections not kept for a viewer; beyond: the idlest goes
  uint32_t idle_timeout_s = 60;       // a connection without a viewer idle this long is closed
  uint32_t keyframe_interval_ms = 200;  // at most one keyframe request this often
};

struct RtspOptions {
  std::string path = "/live";                   // the stream's path; others get 404
  uint32_t max_viewers = abi::kMaxConnections;  // sessions at once; beyond: 453
  uint32_t mtu = 1400;                          // RTP payload budget
  uint32_t session_timeout_s = 60;              // reap viewers without RTSP/RTCP activity
  uint32_t describe_wait_ms = 3000;             // DESCRIBE waits this long for parameter sets
  // Viewers from other hosts authenticate with these (from kDigestEnvironment); none: loopback
  // viewers only.
  std::optional<DigestCredentials> digest;
};

struct NetOptions {
  CoreOptions core;
  RtspOptions rtsp;
};

}  // namespace funkhaus::net
