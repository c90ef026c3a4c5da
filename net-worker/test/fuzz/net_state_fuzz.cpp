// Fuzz target: a net state page as a previous (buggy or hostile) net may have left it. The
// header check, the parameter sets and every slot are validated; a slot that passes is resumed
// on a socket, so the output-unit fields are exercised too. Input: the page's first 3200 bytes
// (header and parameter sets), then the 192-byte headers of the slots in order.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "funkhaus/net/net_state.h"
#include "funkhaus/net/output_queue.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus;
  static auto* page = new abi::NetStatePage;
  std::memset(static_cast<void*>(page), 0, sizeof *page);
  const size_t prefix = offsetof(abi::NetStatePage, viewers);
  std::memcpy(page, data, std::min(size, prefix));
  size_t at = prefix;
  for (uint32_t i = 0; i < abi::kMaxViewers && at < size; ++i, at += 192)
    std::memcpy(&page->viewers[i], data + at, std::min<size_t>(192, size - at));
  (void)net::validateNetStateHeader(reinterpret_cast<const std::byte*>(page), sizeof *page);
  (void)net::readParameterSets(*page);
  for (uint32_t i = 0; i < abi::kMaxViewers; ++i) {
    abi::NetViewerSlot& s = page->viewers[i];
    if (!net::validateViewerSlot(s) || s.state == 0) continue;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) continue;
    auto q = net::OutputQueue::resume(sv[0], s);
    if (q) (void)q->flush(sv[0]);
    close(sv[0]);
    close(sv[1]);
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus;
  auto page = std::make_unique<abi::NetStatePage>();
  std::memset(static_cast<void*>(page.get()), 0, sizeof *page);
  abi::initNetStatePage(*page);
  page->codec = 1;
  page->parameter_sets_valid = 1;
  page->sps.size = 4;
  page->sps.data[0] = 0x67;
  page->pps.size = 2;
  page->pps.data[0] = 0x68;
  for (uint32_t i = 0; i < 2; ++i) {
    abi::NetViewerSlot& s = page->viewers[i];
    s.state = 2;
    s.transport = i + 1;
    s.session_id = 7 + i;
    s.codec = 1;
    s.address_family = AF_INET;
    s.client_rtp_port = 5000;
    s.client_rtcp_port = 5001;
    s.out_unit = (uint64_t{0} << abi::kOutUnitOffsetShift) | 12;
    s.out_sent = 3;
  }
  std::vector<uint8_t> seed(offsetof(abi::NetStatePage, viewers) + 2 * 192);
  std::memcpy(seed.data(), page.get(), offsetof(abi::NetStatePage, viewers));
  for (size_t i = 0; i < 2; ++i)
    std::memcpy(seed.data() + offsetof(abi::NetStatePage, viewers) + i * 192, &page->viewers[i],
                192);
  return {seed};
}
