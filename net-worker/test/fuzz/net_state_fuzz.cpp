// Fuzz target: a net state page as a previous (buggy or hostile) net may have left it. The
// header check, the RTSP blob's parameter sets and every connection and viewer slot are
// validated; a connection that passes is resumed on a socket, so the output-unit fields are
// exercised too. Input: the page header (the protocol table included), the RTSP blob's first
// 3200 bytes (header and parameter sets), then per slot the 64-byte connection-slot header and
// the 256-byte viewer slot (its audio track in the last 64), in order.
// fuzz-parser: net-worker/source/core/net_state.cpp net-worker/source/rtsp/rtsp_blob.cpp
// fuzz-parser: net-worker/source/core/output_queue.cpp
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "funkhaus/abi/rtsp_state.h"
#include "funkhaus/net/net_state.h"
#include "funkhaus/net/output_queue.h"
#include "funkhaus/net/rtsp/rtsp_blob.h"

namespace {

constexpr size_t kHeader = offsetof(funkhaus::abi::NetStatePage, connections);
constexpr size_t kBlobPrefix = offsetof(funkhaus::abi::RtspState, viewers);
constexpr size_t kConnectionHeader = offsetof(funkhaus::abi::NetConnectionSlot, out_data);
constexpr size_t kViewer = sizeof(funkhaus::abi::RtspViewerSlot);

struct Page {
  funkhaus::abi::NetStatePage page;
  funkhaus::abi::RtspState rtsp;
};

size_t take(void* to, size_t capacity, const uint8_t* data, size_t size, size_t at) {
  if (at >= size) return at;
  const size_t n = std::min(capacity, size - at);
  std::memcpy(to, data + at, n);
  return at + n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus;
  static auto* mem = new Page;
  std::memset(static_cast<void*>(mem), 0, sizeof *mem);
  size_t at = take(&mem->page, kHeader, data, size, 0);
  at = take(&mem->rtsp, kBlobPrefix, data, size, at);
  for (uint32_t i = 0; i < abi::kMaxConnections && at < size; ++i) {
    at = take(&mem->page.connections[i], kConnectionHeader, data, size, at);
    at = take(&mem->rtsp.viewers[i], kViewer, data, size, at);
  }
  (void)net::validateNetStateHeader(reinterpret_cast<const std::byte*>(mem), sizeof *mem);
  (void)net::readParameterSets(mem->rtsp);
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    const abi::RtspViewerSlot& v = mem->rtsp.viewers[i];
    // A free slot is valid whatever it holds and never read (rtsp_blob.h; adopt() refuses it):
    // only a slot in use promises what a successor relies on.
    const bool in_use = abi::atomicLoad(v.state) != static_cast<uint32_t>(abi::ViewerState::kFree);
    if (in_use && net::validateViewerSlot(v) && net::audioSetUp(v)) {
      // What a successor relies on before it sends a continued audio track's next packet.
      if (v.audio.next_sequence > 0xFFFF || v.audio.ssrc == v.ssrc) __builtin_trap();
      if (v.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp) &&
          (v.audio.client_rtp_port == 0 || v.audio.client_rtcp_port == 0))
        __builtin_trap();
      if (v.transport == static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved) &&
          (v.audio.rtp_channel == v.rtp_channel || v.audio.rtcp_channel == v.rtcp_channel ||
           v.audio.rtp_channel == v.audio.rtcp_channel))
        __builtin_trap();
    }
    abi::NetConnectionSlot& c = mem->page.connections[i];
    if (!net::validateConnectionSlot(c) || c.state == 0) continue;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) continue;
    auto q = net::OutputQueue::resume(sv[0], c);
    if (q) (void)q->flush(sv[0]);
    close(sv[0]);
    close(sv[1]);
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus;
  auto mem = std::make_unique<Page>();
  std::memset(static_cast<void*>(mem.get()), 0, sizeof *mem);
  const abi::NetBlobRequest blobs[] = {{abi::NetProtocol::kRtsp, sizeof(abi::RtspState)}};
  abi::initNetStatePage(mem->page, blobs);
  mem->rtsp.header = {abi::kRtspStateMagic, abi::kRtspStateVersion, sizeof(abi::RtspState), {}};
  mem->rtsp.codec = 1;
  mem->rtsp.parameter_sets_valid = 1;
  mem->rtsp.sps.size = 4;
  mem->rtsp.sps.data[0] = 0x67;
  mem->rtsp.pps.size = 2;
  mem->rtsp.pps.data[0] = 0x68;
  std::vector<uint8_t> seed(kHeader + kBlobPrefix + 2 * (kConnectionHeader + kViewer));
  std::memcpy(seed.data(), &mem->page, kHeader);
  std::memcpy(seed.data() + kHeader, &mem->rtsp, kBlobPrefix);
  for (uint32_t i = 0; i < 2; ++i) {
    abi::NetConnectionSlot& c = mem->page.connections[i];
    c.state = 1;
    c.protocol = 1;
    c.session = i;
    c.out_unit = (uint64_t{0} << abi::kOutUnitOffsetShift) | 12;
    c.out_sent = 3;
    abi::RtspViewerSlot& s = mem->rtsp.viewers[i];
    s.state = 2;
    s.transport = i + 1;
    s.session_id = 7 + i;
    s.codec = 1;
    s.address_family = AF_INET;
    s.client_rtp_port = 5000;
    s.client_rtcp_port = 5001;
    s.rtp_channel = 0;
    s.rtcp_channel = 1;
    s.ssrc = 0x1234;
    s.audio.flags = abi::kAudioTrackFlagSetUp | (i == 0 ? abi::kAudioTrackFlagTimed : 0);
    s.audio.ssrc = 0x5678;
    s.audio.next_sequence = 0xFFFF;
    s.audio.next_timestamp = 48000;
    s.audio.client_rtp_port = 5002;
    s.audio.client_rtcp_port = 5003;
    s.audio.rtp_channel = 2;
    s.audio.rtcp_channel = 3;
    const size_t base = kHeader + kBlobPrefix + i * (kConnectionHeader + kViewer);
    std::memcpy(seed.data() + base, &c, kConnectionHeader);
    std::memcpy(seed.data() + base + kConnectionHeader, &s, kViewer);
  }
  return {seed};
}
