// Fuzz target: a datagram from a worker on the supervisor channel. Any input parses into a
// message or a clear error; a valid message re-encodes to the same bytes.
// fuzz-parser: common/source/channel.cpp
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/channel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus;
  if (size == 0) return 0;
  // The first byte says how many fds "came" with the datagram (0..3).
  const size_t fd_count = data[0] % 4;
  std::vector<UniqueFd> fds;
  for (size_t i = 0; i < fd_count; ++i) fds.emplace_back(dup(STDIN_FILENO));
  const std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  auto m = parseMessage(datagram, std::move(fds));
  if (!m) return 0;
  const auto again = encodeMessage(*m);
  if (again.size() != datagram.size() ||
      std::memcmp(again.data(), datagram.data(), again.size()) != 0)
    __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus;
  std::vector<std::vector<uint8_t>> out;
  auto add = [&](uint8_t fds, const Message& m) {
    auto bytes = encodeMessage(m);
    std::vector<uint8_t> v{fds};
    for (std::byte b : bytes) v.push_back(static_cast<uint8_t>(b));
    out.push_back(v);
  };
  add(0, HelloMessage{{abi::kAbiVersion, 2, 1234, 0}});
  add(0, ReadyMessage{});
  RingFdsMessage r;
  r.roles = {abi::FdRole::kStatusPage, abi::FdRole::kRingIn, abi::FdRole::kRingOut};
  r.tags = {0, static_cast<uint32_t>(abi::RingId::kFrames),
            static_cast<uint32_t>(abi::RingId::kVideoPackets)};
  add(3, Message(std::move(r)));
  add(0, CommandMessage{{static_cast<uint32_t>(abi::Command::kSetBitrate), 0, 8'000'000}});
  add(0, EventMessage{{static_cast<uint32_t>(abi::Event::kKeyframeRequest), 0, 0}});
  add(0, RequestMessage{3, R"({"cmd":"pair","pin":"1234"})"});
  add(0, ReplyMessage{3, R"({"ok":true})"});
  return out;
}
