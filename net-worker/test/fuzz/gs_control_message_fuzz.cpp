// Fuzz target: an encrypted control message from the client (decryptControl with the replay
// window), and the same bytes as a decrypted message for the payload decoder. Never crashes.
// The datagram also arrives, as funkhaus-net opens it (on the stream's GsEnetState), in a session
// that has accepted client messages up to 1, 65 and 1025 sequence numbers before its own: once
// accepted it moves the window's top to its number, and the same bytes again are a replay.
// fuzz-parser: net-worker/source/gamestream/control_cipher.cpp
// fuzz-parser: net-worker/source/gamestream/control_messages.cpp
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "funkhaus/net/gamestream/control_cipher.h"
#include "funkhaus/net/gamestream/control_messages.h"

namespace {
using namespace funkhaus::net::gamestream;
const ControlKey kKey = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  funkhaus::abi::GsControlCipherState state;
  std::memset(&state, 0, sizeof state);
  for (const auto mode : {ControlIvMode::kV2, ControlIvMode::kLegacy}) {
    ControlDropReason reason{};
    const auto opened = decryptControl(kKey, bytes, state, mode, &reason);
    if (opened.ok() != (reason == ControlDropReason::kNone)) __builtin_trap();
    if (opened) (void)decodeClientControl(*opened);
  }
  if (size >= 8) {
    static funkhaus::abi::GsEnetState stream;
    const uint32_t seq = static_cast<uint32_t>(data[4] | data[5] << 8 | data[6] << 16) |
                         static_cast<uint32_t>(data[7]) << 24;
    for (const uint32_t gap : {1u, 65u, funkhaus::abi::kGsControlReplayWindow + 1}) {
      if (seq < gap) break;
      std::memset(&stream.cipher, 0, sizeof stream.cipher);
      stream.cipher.incoming_valid = 1;
      stream.cipher.highest_incoming_seq = seq - gap;
      for (auto& w : stream.cipher.replay_window) w = 0x5555555555555555ull;
      ControlDropReason reason{};
      if (!decryptControl(kKey, stream, bytes, ControlIvMode::kV2, &reason)) {
        if (reason == ControlDropReason::kNone || std::strcmp(toString(reason), "?") == 0)
          __builtin_trap();
        continue;
      }
      if (stream.cipher.highest_incoming_seq != seq || (stream.cipher.replay_window[0] & 1) == 0)
        __builtin_trap();
      if (decryptControl(kKey, stream, bytes, ControlIvMode::kV2, &reason) ||
          reason != ControlDropReason::kReplayed || std::strcmp(toString(reason), "none") == 0)
        __builtin_trap();
    }
  }
  if (size >= 2) {
    ControlMessage raw{static_cast<uint16_t>(data[0] | data[1] << 8), {data + 2, data + size}};
    const auto decoded = decodeClientControl(raw);
    if (decoded) {
      if (const auto* input = std::get_if<InputData>(&*decoded);
          input != nullptr && input->bytes.size() != size - 2)
        __builtin_trap();
    }
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  std::vector<std::vector<uint8_t>> seeds;
  const std::vector<uint8_t> input = {0, 0, 0, 12, 7, 0, 0, 0, 0, 10, 0xFF, 0xF6};
  seeds.push_back(encryptControl(kKey, 0, kControlInputData, input, ControlIvMode::kV2,
                                 ControlDirection::kClientToHost));
  seeds.push_back(encryptControl(kKey, 3, kControlRequestIdr, std::vector<uint8_t>{0, 0},
                                 ControlIvMode::kLegacy, ControlDirection::kClientToHost));
  // Far enough into a session for every gap of the replay-window part.
  seeds.push_back(encryptControl(kKey, 5000, kControlRequestIdr, std::vector<uint8_t>{0, 0},
                                 ControlIvMode::kV2, ControlDirection::kClientToHost));
  seeds.push_back({0x02, 0x55, 0, 0, 1, 2, 0, 16, 0, 15, 0, 1, 0, 32, 0, 4, 0, 31, 0, 3, 20, 1, 2});
  std::vector<uint8_t> rfi = {0x01, 0x03};
  rfi.resize(26, 0);
  rfi[2] = 9;
  seeds.push_back(rfi);
  return seeds;
}
