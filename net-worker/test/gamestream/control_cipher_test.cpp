// Control cipher and messages: the IV layout checked with raw OpenSSL (independent of the code
// under test), round trips, drops (tampered tag, replay, truncation, wrong lengths), the replay
// window, message decoding and the host's builders.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>
#include <variant>
#include <vector>

#include "funkhaus/net/gamestream/control_cipher.h"
#include "funkhaus/net/gamestream/control_messages.h"

namespace funkhaus::net::gamestream {
namespace {

const ControlKey kKey = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                         0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};

// AES-128-GCM by hand with OpenSSL: returns {tag, ciphertext} of `plain` under `iv`.
std::pair<std::vector<uint8_t>, std::vector<uint8_t>> rawSeal(const std::vector<uint8_t>& iv,
                                                              const std::vector<uint8_t>& plain) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::vector<uint8_t> cipher(plain.size()), tag(16);
  int len = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr);
  EVP_EncryptInit_ex(ctx, nullptr, nullptr, kKey.data(), iv.data());
  EVP_EncryptUpdate(ctx, cipher.data(), &len, plain.data(), static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx, cipher.data() + len, &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag.data());
  EVP_CIPHER_CTX_free(ctx);
  return {tag, cipher};
}

// Opens with raw OpenSSL; nullopt if the tag does not verify.
std::optional<std::vector<uint8_t>> rawOpen(const std::vector<uint8_t>& iv,
                                            const std::vector<uint8_t>& tag,
                                            const std::vector<uint8_t>& cipher) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::vector<uint8_t> plain(cipher.size());
  int len = 0;
  EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr);
  EVP_DecryptInit_ex(ctx, nullptr, nullptr, kKey.data(), iv.data());
  EVP_DecryptUpdate(ctx, plain.data(), &len, cipher.data(), static_cast<int>(cipher.size()));
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, const_cast<uint8_t*>(tag.data()));
  const int ok = EVP_DecryptFinal_ex(ctx, plain.data() + len, &len);
  EVP_CIPHER_CTX_free(ctx);
  if (ok != 1) return std::nullopt;
  return plain;
}

// A client message built by hand: LE16 1, LE16 length, LE32 seq, tag, sealed [type, N, payload].
std::vector<uint8_t> clientMessage(uint32_t seq, uint16_t type, const std::vector<uint8_t>& payload,
                                   const std::vector<uint8_t>& iv) {
  std::vector<uint8_t> plain = {static_cast<uint8_t>(type), static_cast<uint8_t>(type >> 8),
                                static_cast<uint8_t>(payload.size()),
                                static_cast<uint8_t>(payload.size() >> 8)};
  plain.insert(plain.end(), payload.begin(), payload.end());
  const auto [tag, cipher] = rawSeal(iv, plain);
  const size_t length = 4 + 16 + cipher.size();
  std::vector<uint8_t> out = {0x01,
                              0x00,
                              static_cast<uint8_t>(length),
                              static_cast<uint8_t>(length >> 8),
                              static_cast<uint8_t>(seq),
                              static_cast<uint8_t>(seq >> 8),
                              static_cast<uint8_t>(seq >> 16),
                              static_cast<uint8_t>(seq >> 24)};
  out.insert(out.end(), tag.begin(), tag.end());
  out.insert(out.end(), cipher.begin(), cipher.end());
  return out;
}

std::vector<uint8_t> v2Iv(uint32_t seq, char direction) {
  return {static_cast<uint8_t>(seq),
          static_cast<uint8_t>(seq >> 8),
          static_cast<uint8_t>(seq >> 16),
          static_cast<uint8_t>(seq >> 24),
          0,
          0,
          0,
          0,
          0,
          0,
          static_cast<uint8_t>(direction),
          'C'};
}

std::unique_ptr<abi::GsControlCipherState> freshState() {
  auto s = std::make_unique<abi::GsControlCipherState>();
  std::memset(s.get(), 0, sizeof *s);
  return s;
}

TEST(ControlCipher, HostMessageLayoutOpensWithRawOpenSslAndTheHIv) {
  const std::vector<uint8_t> payload = {0x80, 0x03, 0x00, 0x23};
  const auto sealed = encryptControl(kKey, 0x01020304, kControlTermination, payload);
  ASSERT_EQ(sealed.size(), 8u + 16 + 4 + payload.size());
  EXPECT_EQ(sealed[0], 0x01);
  EXPECT_EQ(sealed[1], 0x00);
  EXPECT_EQ(sealed[2] | sealed[3] << 8, 4 + 16 + 4 + 4);
  EXPECT_EQ((std::vector<uint8_t>(sealed.begin() + 4, sealed.begin() + 8)),
            (std::vector<uint8_t>{0x04, 0x03, 0x02, 0x01}));
  const std::vector<uint8_t> tag(sealed.begin() + 8, sealed.begin() + 24);
  const std::vector<uint8_t> cipher(sealed.begin() + 24, sealed.end());
  const auto plain = rawOpen(v2Iv(0x01020304, 'H'), tag, cipher);
  ASSERT_TRUE(plain);
  EXPECT_EQ(*plain, (std::vector<uint8_t>{0x09, 0x01, 0x04, 0x00, 0x80, 0x03, 0x00, 0x23}));
  // The client's direction letter does not open it: the IV really differs.
  EXPECT_FALSE(rawOpen(v2Iv(0x01020304, 'C'), tag, cipher));
}

TEST(ControlCipher, LegacyIvIsSixteenBytesWithTheLowSeqByte) {
  const auto iv = controlIv(0x1234, ControlIvMode::kLegacy, ControlDirection::kHostToClient);
  std::vector<uint8_t> expected(16, 0);
  expected[0] = 0x34;
  EXPECT_EQ(iv, expected);
  const auto sealed =
      encryptControl(kKey, 0x1234, kControlRumble, rumblePayload(1, 2, 3), ControlIvMode::kLegacy);
  const std::vector<uint8_t> tag(sealed.begin() + 8, sealed.begin() + 24);
  const std::vector<uint8_t> cipher(sealed.begin() + 24, sealed.end());
  EXPECT_TRUE(rawOpen(expected, tag, cipher));
  auto state = freshState();
  // And a client message sealed the legacy way opens in legacy mode only.
  const auto msg = clientMessage(0x1234, kControlRequestIdr, {0, 0}, expected);
  EXPECT_TRUE(decryptControl(kKey, msg, *state, ControlIvMode::kLegacy));
  EXPECT_FALSE(decryptControl(kKey, clientMessage(7, kControlRequestIdr, {0, 0}, expected), *state,
                              ControlIvMode::kV2));
}

TEST(ControlCipher, OpensAClientMessageSealedByHand) {
  auto state = freshState();
  const std::vector<uint8_t> input = {0, 0, 0, 12, 7, 0, 0, 0, 0, 10, 0xFF, 0xF6};
  const auto msg = clientMessage(5, kControlInputData, input, v2Iv(5, 'C'));
  ControlDropReason reason = ControlDropReason::kBadTag;
  const auto opened = decryptControl(kKey, msg, *state, ControlIvMode::kV2, &reason);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(reason, ControlDropReason::kNone);
  EXPECT_EQ(opened->type, kControlInputData);
  EXPECT_EQ(opened->payload, input);
  EXPECT_EQ(state->decrypted, 1u);
  EXPECT_EQ(state->highest_incoming_seq, 5u);
  // Sealed with the host's letter, a client message must not open.
  const auto wrong = clientMessage(6, kControlInputData, input, v2Iv(6, 'H'));
  EXPECT_FALSE(decryptControl(kKey, wrong, *state, ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kBadTag);
}

TEST(ControlCipher, RoundTripThroughTheSharedState) {
  auto host = freshState();
  ControlCipher cipher(kKey, *host, ControlIvMode::kV2);
  const auto a = cipher.seal(kControlTermination, terminationPayload());
  const auto b = cipher.seal(kControlRumble, rumblePayload(0, 0x1000, 0x2000));
  EXPECT_EQ(host->next_outgoing_seq, 2u);
  EXPECT_EQ(a[4], 0);
  EXPECT_EQ(b[4], 1);
  // The other end (a client) opens with the host direction.
  auto client = freshState();
  const auto opened = decryptControl(kKey, b, *client, ControlIvMode::kV2, nullptr,
                                     ControlDirection::kHostToClient);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->type, kControlRumble);
  EXPECT_EQ(opened->payload, rumblePayload(0, 0x1000, 0x2000));
}

TEST(ControlCipher, DropsTamperedTruncatedAndMisLengthed) {
  auto state = freshState();
  const auto good = clientMessage(1, kControlPeriodicPing, {4, 0, 0, 0, 0, 0, 0, 0}, v2Iv(1, 'C'));
  ControlDropReason reason{};

  auto tag = good;
  tag[10] ^= 1;
  EXPECT_FALSE(decryptControl(kKey, tag, *state, ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kBadTag);
  auto body = good;
  body.back() ^= 0x80;
  EXPECT_FALSE(decryptControl(kKey, body, *state, ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kBadTag);
  auto seq = good;
  seq[4] ^= 1;  // the seq is in the IV: another seq does not authenticate
  EXPECT_FALSE(decryptControl(kKey, seq, *state, ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kBadTag);
  EXPECT_EQ(state->bad_tag, 3u);

  EXPECT_FALSE(decryptControl(kKey, std::span(good).first(good.size() - 1), *state,
                              ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kTruncated);
  EXPECT_FALSE(decryptControl(kKey, std::span(good).first(5), *state, ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kTruncated);
  auto longer = good;
  longer.push_back(0);
  EXPECT_FALSE(decryptControl(kKey, longer, *state, ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kWrongLength);
  auto runt = good;
  runt[2] = 10;
  runt[3] = 0;
  EXPECT_FALSE(decryptControl(kKey, runt, *state, ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kWrongLength);
  auto plain = good;
  plain[0] = 0x00;
  plain[1] = 0x02;
  EXPECT_FALSE(decryptControl(kKey, plain, *state, ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kNotEncrypted);
  EXPECT_EQ(state->decrypted, 0u);

  // The sealed inner length must match the bytes.
  std::vector<uint8_t> inner = {0x00, 0x02, 0x09, 0x00, 1, 2};  // says 9, has 2
  const auto [t, c] = rawSeal(v2Iv(2, 'C'), inner);
  std::vector<uint8_t> lying = {0x01, 0x00, static_cast<uint8_t>(4 + 16 + c.size()), 0, 2, 0, 0, 0};
  lying.insert(lying.end(), t.begin(), t.end());
  lying.insert(lying.end(), c.begin(), c.end());
  EXPECT_FALSE(decryptControl(kKey, lying, *state, ControlIvMode::kV2, &reason));
  EXPECT_EQ(reason, ControlDropReason::kInnerLength);

  EXPECT_TRUE(decryptControl(kKey, good, *state));
}

TEST(ControlCipher, ReplayWindow) {
  auto state = freshState();
  auto open = [&](uint32_t seq) {
    ControlDropReason reason{};
    const bool ok =
        decryptControl(kKey, clientMessage(seq, kControlRequestIdr, {0, 0}, v2Iv(seq, 'C')), *state,
                       ControlIvMode::kV2, &reason)
            .ok();
    return ok ? ControlDropReason::kNone : reason;
  };
  EXPECT_EQ(open(0), ControlDropReason::kNone);  // the client counts from 0
  EXPECT_EQ(open(0), ControlDropReason::kReplayed);
  EXPECT_EQ(open(10), ControlDropReason::kNone);
  EXPECT_EQ(open(5), ControlDropReason::kNone);  // late but new (another ENet channel)
  EXPECT_EQ(open(5), ControlDropReason::kReplayed);
  EXPECT_EQ(open(10), ControlDropReason::kReplayed);
  EXPECT_EQ(open(200), ControlDropReason::kNone);  // shifts the window across words
  EXPECT_EQ(open(10), ControlDropReason::kReplayed);
  EXPECT_EQ(open(11), ControlDropReason::kNone);
  EXPECT_EQ(open(11), ControlDropReason::kReplayed);
  EXPECT_EQ(open(5000), ControlDropReason::kNone);  // beyond the window: cleared
  EXPECT_EQ(open(5000 - abi::kGsControlReplayWindow + 1), ControlDropReason::kNone);
  EXPECT_EQ(open(5000 - abi::kGsControlReplayWindow), ControlDropReason::kReplayed);  // too old
  EXPECT_EQ(open(4999), ControlDropReason::kNone);
  EXPECT_EQ(open(4999), ControlDropReason::kReplayed);
  EXPECT_EQ(state->replayed, 7u);
  // A copy of the state (a restarted process) remembers.
  auto copy = freshState();
  std::memcpy(copy.get(), state.get(), sizeof *copy);
  EXPECT_FALSE(decryptControl(
      kKey, clientMessage(4999, kControlRequestIdr, {0, 0}, v2Iv(4999, 'C')), *copy));
}

TEST(ControlMessages, DecodesWhatTheHostActsOn) {
  auto decode = [](uint16_t type, std::vector<uint8_t> payload) {
    return decodeClientControl(ControlMessage{type, std::move(payload)});
  };
  EXPECT_TRUE(std::holds_alternative<IdrRequest>(*decode(0x0302, {0, 0})));
  EXPECT_TRUE(std::holds_alternative<StartB>(*decode(0x0307, {0})));
  EXPECT_TRUE(std::holds_alternative<PeriodicPing>(*decode(0x0200, {4, 0, 0, 0, 0, 0, 9, 9})));

  // RFI: LE32 first, LE32 0, LE32 last, 12 zero bytes.
  std::vector<uint8_t> rfi(24, 0);
  rfi[0] = 0x10;
  rfi[1] = 0x02;
  rfi[8] = 0x20;
  rfi[9] = 0x02;
  const auto r = decode(0x0301, rfi);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<RfiRequest>(*r).first_frame, 0x0210u);
  EXPECT_EQ(std::get<RfiRequest>(*r).last_frame, 0x0220u);
  EXPECT_FALSE(decode(0x0301, std::vector<uint8_t>(15, 0)));

  const std::vector<uint8_t> fec = {0x00, 0x00, 0x01, 0x02,  // frame 258
                                    0x00, 0x10, 0x00, 0x0F, 0x00, 0x01, 0x00, 0x20, 0x00,
                                    0x04, 0x00, 0x1F, 0x00, 0x03, 20,   1,    2};
  const auto f = decode(0x5502, fec);
  ASSERT_TRUE(f);
  const auto& s = std::get<FecStatus>(*f);
  EXPECT_EQ(s.frame_index, 258u);
  EXPECT_EQ(s.highest_received_seq, 16);
  EXPECT_EQ(s.next_contiguous_seq, 15);
  EXPECT_EQ(s.missing_before_highest, 1);
  EXPECT_EQ(s.total_data, 32);
  EXPECT_EQ(s.total_parity, 4);
  EXPECT_EQ(s.received_data, 31);
  EXPECT_EQ(s.received_parity, 3);
  EXPECT_EQ(s.fec_percent, 20);
  EXPECT_EQ(s.block_index, 1);
  EXPECT_EQ(s.block_count, 2);
  EXPECT_FALSE(decode(0x5502, std::vector<uint8_t>(20, 0)));

  const std::vector<uint8_t> key = {0, 0, 0, 12, 3, 0, 0, 0, 0, 0x41, 0x80, 0, 0, 0};
  const auto in = decode(0x0206, key);
  ASSERT_TRUE(in);
  EXPECT_EQ(std::get<InputData>(*in).bytes, key);
  EXPECT_FALSE(decode(0x0206, {0, 0, 0}));

  const auto ltr = decode(0x0350, {5, 0, 0, 0, 0, 0, 0, 0});
  ASSERT_TRUE(ltr);
  EXPECT_EQ(std::get<LtrAck>(*ltr).frame_index, 5u);
  const auto other = decode(0x1234, {});
  ASSERT_TRUE(other);
  EXPECT_EQ(std::get<UnknownControl>(*other).type, 0x1234);
}

TEST(ControlMessages, HostBuilders) {
  EXPECT_EQ(terminationPayload(), (std::vector<uint8_t>{0x80, 0x03, 0x00, 0x23}));
  EXPECT_EQ(terminationPayload(kTerminationProtectedContent),
            (std::vector<uint8_t>{0x80, 0x0E, 0x93, 0x02}));
  EXPECT_EQ(rumblePayload(2, 0x1234, 0xABCD),
            (std::vector<uint8_t>{0, 0, 0, 0, 0x02, 0x00, 0x34, 0x12, 0xCD, 0xAB}));
}

}  // namespace
}  // namespace funkhaus::net::gamestream
