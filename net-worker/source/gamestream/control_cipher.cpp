// AES-128-GCM control messages with OpenSSL's EVP interface; replay window on shared memory.
#include "funkhaus/net/gamestream/control_cipher.h"
#include "funkhaus/common/byte_order.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

namespace funkhaus::net::gamestream {
namespace {

constexpr uint32_t kWindowWords = abi::kGsControlReplayWindow / 64;

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

bool windowBit(const abi::GsControlCipherState& s, uint32_t i) {
  return (s.replay_window[i / 64] >> (i % 64)) & 1;
}

// Moves the window so that `seq` (> highest) becomes the highest.
void advanceWindow(abi::GsControlCipherState& s, uint32_t seq) {
  const uint64_t shift = uint64_t{seq} - s.highest_incoming_seq;
  if (shift >= abi::kGsControlReplayWindow) {
    for (auto& w : s.replay_window) w = 0;
  } else {
    const uint32_t words = static_cast<uint32_t>(shift / 64);
    const uint32_t bits = static_cast<uint32_t>(shift % 64);
    for (uint32_t w = kWindowWords; w-- > 0;) {
      uint64_t v = 0;
      if (w >= words) {
        v = s.replay_window[w - words] << bits;
        if (bits != 0 && w >= words + 1) v |= s.replay_window[w - words - 1] >> (64 - bits);
      }
      s.replay_window[w] = v;
    }
  }
  s.highest_incoming_seq = seq;
}

Error drop(abi::GsControlCipherState& state, ControlDropReason why, ControlDropReason* reason,
           uint32_t seq) {
  if (reason != nullptr) *reason = why;
  switch (why) {
    case ControlDropReason::kBadTag:
      ++state.bad_tag;
      break;
    case ControlDropReason::kReplayed:
      ++state.replayed;
      break;
    default:
      ++state.malformed;
      break;
  }
  return makeError("control message dropped ({}), seq {}", toString(why), seq);
}

}  // namespace

const char* toString(ControlDropReason reason) {
  switch (reason) {
    case ControlDropReason::kNone:
      return "none";
    case ControlDropReason::kTruncated:
      return "truncated";
    case ControlDropReason::kNotEncrypted:
      return "not encrypted";
    case ControlDropReason::kWrongLength:
      return "wrong length";
    case ControlDropReason::kBadTag:
      return "bad tag";
    case ControlDropReason::kReplayed:
      return "replayed";
    case ControlDropReason::kInnerLength:
      return "inner length";
  }
  return "?";
}

std::vector<uint8_t> controlIv(uint32_t seq, ControlIvMode mode, ControlDirection direction) {
  if (mode == ControlIvMode::kLegacy) {
    std::vector<uint8_t> iv(16, 0);
    iv[0] = static_cast<uint8_t>(seq);  // truncated to 8 bits, as GFE does
    return iv;
  }
  std::vector<uint8_t> iv(12, 0);
  bytes::storeLe<uint32_t>(iv.data(), seq);
  iv[10] = direction == ControlDirection::kClientToHost ? 'C' : 'H';
  iv[11] = 'C';  // control stream
  return iv;
}

std::vector<uint8_t> encryptControl(ControlKeyView key, uint32_t seq, uint16_t type,
                                    std::span<const uint8_t> payload, ControlIvMode mode,
                                    ControlDirection direction) {
  if (payload.size() > kMaxControlPayload) std::abort();  // callers bound their messages
  std::vector<uint8_t> plain(4 + payload.size());
  bytes::storeLe<uint16_t>(plain.data(), type);
  bytes::storeLe<uint16_t>(plain.data() + 2, static_cast<uint16_t>(payload.size()));
  std::copy(payload.begin(), payload.end(), plain.begin() + 4);

  std::vector<uint8_t> out(8 + kControlTagSize + plain.size());
  bytes::storeLe<uint16_t>(out.data(), kEncryptedControlHeaderType);
  bytes::storeLe<uint16_t>(out.data() + 2,
                           static_cast<uint16_t>(4 + kControlTagSize + plain.size()));
  bytes::storeLe<uint32_t>(out.data() + 4, seq);

  const auto iv = controlIv(seq, mode, direction);
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                          nullptr) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data()) == 1 &&
      EVP_EncryptUpdate(ctx.get(), out.data() + 8 + kControlTagSize, &len, plain.data(),
                        static_cast<int>(plain.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), out.data() + 8 + kControlTagSize + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kControlTagSize, out.data() + 8) == 1;
  if (!ok) std::abort();  // AES-GCM with a 16-byte key cannot fail but for lack of memory
  return out;
}

Result<ControlMessage> decryptControl(ControlKeyView key, std::span<const uint8_t> bytes,
                                      abi::GsControlCipherState& state, ControlIvMode mode,
                                      ControlDropReason* reason, ControlDirection direction) {
  if (reason != nullptr) *reason = ControlDropReason::kNone;
  if (bytes.size() < 8) return drop(state, ControlDropReason::kTruncated, reason, 0);
  const uint32_t seq = bytes::le32(bytes.data() + 4);
  if (bytes::le16(bytes.data()) != kEncryptedControlHeaderType)
    return drop(state, ControlDropReason::kNotEncrypted, reason, seq);
  const size_t length = bytes::le16(bytes.data() + 2);  // seq + tag + sealed bytes
  if (length < 4 + kControlTagSize + 4)
    return drop(state, ControlDropReason::kWrongLength, reason, seq);
  if (bytes.size() < 4 + length) return drop(state, ControlDropReason::kTruncated, reason, seq);
  if (bytes.size() > 4 + length) return drop(state, ControlDropReason::kWrongLength, reason, seq);

  if (state.incoming_valid == 1 && seq <= state.highest_incoming_seq) {
    const uint32_t age = state.highest_incoming_seq - seq;
    if (age >= abi::kGsControlReplayWindow || windowBit(state, age))
      return drop(state, ControlDropReason::kReplayed, reason, seq);
  }

  const auto iv = controlIv(seq, mode, direction);
  const uint8_t* tag = bytes.data() + 8;
  const uint8_t* sealed = tag + kControlTagSize;
  const size_t sealed_size = length - 4 - kControlTagSize;
  std::vector<uint8_t> plain(sealed_size);
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  const bool setup =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                          nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data()) == 1 &&
      EVP_DecryptUpdate(ctx.get(), plain.data(), &len, sealed, static_cast<int>(sealed_size)) ==
          1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kControlTagSize,
                          const_cast<uint8_t*>(tag)) == 1;
  if (!setup) std::abort();  // only a lack of memory gets here
  if (EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &final_len) != 1)
    return drop(state, ControlDropReason::kBadTag, reason, seq);

  const uint16_t type = bytes::le16(plain.data());
  const size_t inner = bytes::le16(plain.data() + 2);
  if (inner != plain.size() - 4) return drop(state, ControlDropReason::kInnerLength, reason, seq);

  if (state.incoming_valid != 1) {
    for (auto& w : state.replay_window) w = 0;
    state.highest_incoming_seq = seq;
    state.incoming_valid = 1;
  } else if (seq > state.highest_incoming_seq) {
    advanceWindow(state, seq);
  }
  const uint32_t age = state.highest_incoming_seq - seq;
  state.replay_window[age / 64] |= uint64_t{1} << (age % 64);
  ++state.decrypted;

  ControlMessage message;
  message.type = type;
  message.payload.assign(plain.begin() + 4, plain.end());
  return message;
}

std::vector<uint8_t> encryptControl(ControlKeyView key, abi::GsEnetState& state, uint16_t type,
                                    std::span<const uint8_t> payload, ControlIvMode mode) {
  const uint32_t seq = state.cipher.next_outgoing_seq++;
  ++state.cipher.encrypted;
  return encryptControl(key, seq, type, payload, mode, ControlDirection::kHostToClient);
}

Result<ControlMessage> decryptControl(ControlKeyView key, abi::GsEnetState& state,
                                      std::span<const uint8_t> bytes, ControlIvMode mode,
                                      ControlDropReason* reason) {
  return decryptControl(key, bytes, state.cipher, mode, reason, ControlDirection::kClientToHost);
}

std::vector<uint8_t> ControlCipher::seal(uint16_t type, std::span<const uint8_t> payload) {
  const uint32_t seq = state_.next_outgoing_seq++;
  ++state_.encrypted;
  return encryptControl(key_, seq, type, payload, mode_, ControlDirection::kHostToClient);
}

Result<ControlMessage> ControlCipher::open(std::span<const uint8_t> bytes,
                                           ControlDropReason* reason) {
  return decryptControl(key_, bytes, state_, mode_, reason, ControlDirection::kClientToHost);
}

}  // namespace funkhaus::net::gamestream
