// The UDP side of the benchmarks' RTP receivers (the pipeline bench's RtpSink, --peers'
// PeerReceiver): a port pair on 127.0.0.1 with kernel receive stamps on the RTP socket, and the
// read of one stamped datagram. Opened on the bench's main thread, read on the receiver's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus::bench {

struct UdpPortPair {
  UniqueFd rtp, rtcp;  // non-blocking
  uint16_t rtp_port = 0;
};

// RTP on a free even port of 127.0.0.1 and RTCP on the next one, with SO_TIMESTAMPNS on the RTP
// socket; SO_RCVBUF `rtp_buffer` on RTP and `rtcp_buffer` on RTCP (0: the kernel's default).
Result<UdpPortPair> openUdpPortPair(int rtp_buffer, int rtcp_buffer);

struct StampedDatagram {
  size_t size = 0;           // the bytes in the buffer
  bool truncated = false;    // it was larger than the buffer
  uint64_t realtime_ns = 0;  // the kernel's receive stamp, CLOCK_REALTIME; 0: none came
};

// Reads one datagram into `buffer` without waiting; nullopt when none is queued.
std::optional<StampedDatagram> receiveStamped(int fd, std::span<uint8_t> buffer);

}  // namespace funkhaus::bench
