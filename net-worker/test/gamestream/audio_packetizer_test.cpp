// GameStream audio packets (gamestream.md §7): byte-exact RTP and FEC headers, sequence and
// timestamp progression, AES-128-CBC checked with OpenSSL decryption, and FEC blocks recovered
// by the Moonlight client's own decoder (nanors with the client's audio matrix).
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "funkhaus/common/byte_order.h"
#include "funkhaus/net/gamestream/audio_packetizer.h"
#include "video_reference_codec.h"

namespace funkhaus::net::gamestream {
namespace {

using Bytes = std::vector<uint8_t>;
using Shards = std::vector<Bytes>;

constexpr std::array<uint8_t, 16> kKey = {0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
                                          0x98, 0xA9, 0xBA, 0xCB, 0xDC, 0xED, 0xFE, 0x0F};

AudioParams params(uint32_t duration, bool encrypt, bool fec, int32_t key_id = 0) {
  AudioParams p;
  p.packet_duration_ms = duration;
  p.encrypt = encrypt;
  p.key = kKey;
  p.key_id = key_id;
  p.fec = fec;
  return p;
}

Bytes randomBytes(size_t n, std::mt19937& rng) {
  Bytes b(n);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& x : b) x = static_cast<uint8_t>(byte(rng));
  return b;
}

// AES-128-CBC decryption by OpenSSL, independent of the packetizer's context. With `padding`
// false the PKCS#7 bytes stay in the plaintext.
Bytes decrypt(std::span<const uint8_t> ct, const std::array<uint8_t, 16>& iv, bool padding) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(ct.size() + 16);
  int len = 0;
  int final_len = 0;
  bool ok = ctx != nullptr &&
            EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), nullptr, kKey.data(), iv.data()) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx, padding ? 1 : 0) == 1 &&
            EVP_DecryptUpdate(ctx, out.data(), &len, ct.data(), static_cast<int>(ct.size())) == 1 &&
            EVP_DecryptFinal_ex(ctx, out.data() + len, &final_len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) return {};
  out.resize(static_cast<size_t>(len + final_len));
  return out;
}

// The client's IV: BE32(rikeyid + 16-bit seq), then 12 zero bytes.
std::array<uint8_t, 16> clientIv(int32_t key_id, uint16_t seq) {
  std::array<uint8_t, 16> iv{};
  bytes::storeBe<uint32_t>(iv.data(), static_cast<uint32_t>(key_id) + seq);
  return iv;
}

const Bytes kAudioMatrix(kAudioFecMatrix.begin(), kAudioFecMatrix.end());

TEST(AudioPacketizer, ChecksParams) {
  for (uint32_t d : {0u, 1u, 2u, 7u, 20u, 480u}) {
    auto p = AudioPacketizer::create(params(d, false, true));
    ASSERT_FALSE(p) << d;
    EXPECT_EQ(p.error().code, ErrorCode::kBadConfig);
  }
  EXPECT_TRUE(AudioPacketizer::create(params(5, false, true)));
  EXPECT_TRUE(AudioPacketizer::create(params(10, true, false)));
}

TEST(AudioPacketizer, PayloadSizes) {
  EXPECT_EQ(audioPayloadSize(1, false), 1u);
  EXPECT_EQ(audioPayloadSize(1, true), 16u);
  EXPECT_EQ(audioPayloadSize(15, true), 16u);
  EXPECT_EQ(audioPayloadSize(16, true), 32u);  // aligned: a whole block of padding
  EXPECT_EQ(audioPayloadSize(240, true), 256u);
}

TEST(AudioPacketizer, DataHeadersAreByteExactAndProgress) {
  for (uint32_t duration : {5u, 10u}) {
    auto p = AudioPacketizer::create(params(duration, false, false));
    ASSERT_TRUE(p);
    AudioStreamCounters counters;
    std::mt19937 rng(duration);
    for (uint32_t n = 0; n < 10; ++n) {
      const Bytes opus = randomBytes(60 + n, rng);
      auto d = p->packetize(opus, counters);
      ASSERT_TRUE(d) << d.error().message;
      ASSERT_EQ(d->count, 1u);
      const std::span<const uint8_t> dg = d->datagram[0];
      ASSERT_EQ(dg.size(), 12 + opus.size());
      const uint32_t ts = n * duration;
      const Bytes header = {0x80,
                            97,
                            0,
                            static_cast<uint8_t>(n),
                            static_cast<uint8_t>(ts >> 24),
                            static_cast<uint8_t>(ts >> 16),
                            static_cast<uint8_t>(ts >> 8),
                            static_cast<uint8_t>(ts),
                            0,
                            0,
                            0,
                            0};
      EXPECT_EQ(Bytes(dg.begin(), dg.begin() + 12), header) << n;
      EXPECT_EQ(Bytes(dg.begin() + 12, dg.end()), opus) << n;
      EXPECT_EQ(counters.next_rtp_seq, n + 1);
      EXPECT_EQ(counters.next_timestamp, (n + 1) * duration);
    }
    EXPECT_EQ(p->stats().packets, 10u);
    EXPECT_EQ(p->stats().fec_blocks, 0u);
    EXPECT_EQ(p->stats().fec_skipped_partial + p->stats().fec_skipped_size, 0u);
  }
}

TEST(AudioPacketizer, SequenceAndTimestampWrap) {
  auto p = AudioPacketizer::create(params(10, false, true));
  ASSERT_TRUE(p);
  AudioStreamCounters counters{0xFFFC, 0xFFFFFFF0};  // a block boundary just below the wrap
  const Bytes opus(100, 0x5A);
  std::vector<uint16_t> seqs;
  std::vector<uint32_t> stamps;
  for (int n = 0; n < 8; ++n) {
    auto d = p->packetize(opus, counters);
    ASSERT_TRUE(d);
    seqs.push_back(bytes::be16(d->datagram[0].data() + 2));
    stamps.push_back(bytes::be32(d->datagram[0].data() + 4));
    if (n == 3) {
      ASSERT_EQ(d->count, 3u);
      EXPECT_EQ(bytes::be16(d->datagram[1].data() + 14), 0xFFFC);       // base seq
      EXPECT_EQ(bytes::be32(d->datagram[1].data() + 16), 0xFFFFFFF0u);  // base timestamp
    }
  }
  EXPECT_EQ(seqs, (std::vector<uint16_t>{0xFFFC, 0xFFFD, 0xFFFE, 0xFFFF, 0, 1, 2, 3}));
  EXPECT_EQ(stamps, (std::vector<uint32_t>{0xFFFFFFF0, 0xFFFFFFFA, 4, 14, 24, 34, 44, 54}));
  EXPECT_EQ(counters.next_rtp_seq, 0x10004u);
  EXPECT_EQ(p->stats().fec_blocks, 2u);
}

TEST(AudioPacketizer, FecPacketsFollowEveryFourthAndAreByteExact) {
  constexpr uint32_t kDuration = 5;
  auto p = AudioPacketizer::create(params(kDuration, false, true));
  ASSERT_TRUE(p);
  AudioStreamCounters counters;
  std::mt19937 rng(3);
  std::vector<Bytes> block;
  for (uint32_t n = 0; n < 16; ++n) {
    const Bytes opus = randomBytes(120, rng);
    block.push_back(opus);
    auto d = p->packetize(opus, counters);
    ASSERT_TRUE(d);
    if (n % 4 != 3) {
      EXPECT_EQ(d->count, 1u) << n;
      continue;
    }
    ASSERT_EQ(d->count, 3u) << n;
    const uint32_t base = n - 3;
    for (uint32_t j = 0; j < 2; ++j) {
      const std::span<const uint8_t> f = d->datagram[1 + j];
      ASSERT_EQ(f.size(), 24u + 120u);
      const uint16_t rtp_seq = static_cast<uint16_t>(base + 4 + j);
      const uint32_t base_ts = base * kDuration;
      const Bytes header = {0x80,
                            127,
                            static_cast<uint8_t>(rtp_seq >> 8),
                            static_cast<uint8_t>(rtp_seq),
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,  // RTP: seq base+4+j (ignored), timestamp 0, SSRC 0
                            static_cast<uint8_t>(j),
                            97,
                            static_cast<uint8_t>(base >> 8),
                            static_cast<uint8_t>(base),
                            static_cast<uint8_t>(base_ts >> 24),
                            static_cast<uint8_t>(base_ts >> 16),
                            static_cast<uint8_t>(base_ts >> 8),
                            static_cast<uint8_t>(base_ts),
                            0,
                            0,
                            0,
                            0};
      EXPECT_EQ(Bytes(f.begin(), f.begin() + 24), header) << n << " shard " << j;
      // Parity by the bitwise reference field and the client's matrix rows.
      for (size_t k = 0; k < 120; ++k) {
        uint8_t expect = 0;
        for (size_t i = 0; i < 4; ++i) {
          expect ^= video_test::refMul(kAudioFecMatrix[j * 4 + i], block[i][k]);
        }
        ASSERT_EQ(f[24 + k], expect) << "block " << base << " shard " << j << " byte " << k;
      }
    }
    block.clear();
  }
  EXPECT_EQ(p->stats().fec_blocks, 4u);
  EXPECT_EQ(p->stats().packets, 16u);
}

TEST(AudioPacketizer, EncryptsWithTheClientsIv) {
  for (int32_t key_id : {0, 1234567, -5, 0x7FFFFFF0}) {
    auto p = AudioPacketizer::create(params(5, true, false, key_id));
    ASSERT_TRUE(p);
    // Start near the 16-bit wrap: the client adds the 16-bit sequence number to the key id.
    AudioStreamCounters counters{0xFFFE, 0};
    std::mt19937 rng(static_cast<unsigned>(key_id));
    for (size_t size : {1u, 15u, 16u, 17u, 100u, 240u, 1375u}) {
      const Bytes opus = randomBytes(size, rng);
      const uint16_t seq = static_cast<uint16_t>(counters.next_rtp_seq);
      auto d = p->packetize(opus, counters);
      ASSERT_TRUE(d) << d.error().message;
      const std::span<const uint8_t> dg = d->datagram[0];
      ASSERT_EQ(dg.size(), 12 + (size / 16 + 1) * 16) << size;
      EXPECT_EQ(dg[0], 0x80);
      EXPECT_EQ(dg[1], 97);
      EXPECT_EQ(bytes::be16(dg.data() + 2), seq);
      const auto ct = dg.subspan(12);
      EXPECT_EQ(decrypt(ct, clientIv(key_id, seq), true), opus)
          << "key id " << key_id << " size " << size;
      // Any other IV garbles the first block (the client would hear noise).
      const Bytes right = decrypt(ct, clientIv(key_id, seq), false);
      const Bytes wrong = decrypt(ct, clientIv(key_id, static_cast<uint16_t>(seq + 1)), false);
      ASSERT_EQ(wrong.size(), ct.size());
      EXPECT_FALSE(std::equal(right.begin(), right.begin() + 16, wrong.begin()));
    }
  }
}

TEST(AudioPacketizer, Pkcs7PaddingOnAlignedPayloads) {
  auto p = AudioPacketizer::create(params(10, true, false, 42));
  ASSERT_TRUE(p);
  AudioStreamCounters counters;
  std::mt19937 rng(9);
  for (size_t size : {16u, 32u, 240u, 1360u, 1u, 31u}) {
    const Bytes opus = randomBytes(size, rng);
    const uint16_t seq = static_cast<uint16_t>(counters.next_rtp_seq);
    auto d = p->packetize(opus, counters);
    ASSERT_TRUE(d);
    const Bytes plain = decrypt(d->datagram[0].subspan(12), clientIv(42, seq), false);
    const size_t pad = 16 - size % 16;  // 16 when aligned: a whole block of 0x10
    ASSERT_EQ(plain.size(), size + pad);
    EXPECT_TRUE(std::equal(opus.begin(), opus.end(), plain.begin()));
    for (size_t k = size; k < plain.size(); ++k) {
      ASSERT_EQ(plain[k], pad) << "size " << size << " byte " << k;
    }
  }
}

TEST(AudioPacketizer, RejectsEmptyAndOversizedPacketsWithoutAdvancing) {
  auto plain = AudioPacketizer::create(params(5, false, true));
  auto enc = AudioPacketizer::create(params(5, true, true));
  ASSERT_TRUE(plain && enc);
  AudioStreamCounters counters{7, 35};
  EXPECT_FALSE(plain->packetize({}, counters));
  EXPECT_FALSE(plain->packetize(Bytes(1389), counters));  // a 1401-byte datagram
  EXPECT_FALSE(enc->packetize(Bytes(1376), counters));    // 1392 bytes of ciphertext
  EXPECT_EQ(counters.next_rtp_seq, 7u);
  EXPECT_EQ(counters.next_timestamp, 35u);
  EXPECT_EQ(plain->stats().packets + enc->stats().packets, 0u);

  auto d = plain->packetize(Bytes(1388), counters);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->datagram[0].size(), kMaxAudioDatagramSize);
  d = enc->packetize(Bytes(1375), counters);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->datagram[0].size(), 12u + 1376u);
}

TEST(AudioPacketizer, NoFecForBlocksOfUnequalOrOversizedPayloads) {
  auto p = AudioPacketizer::create(params(5, false, true));
  ASSERT_TRUE(p);
  AudioStreamCounters counters;
  const size_t sizes[] = {100,  100,  101,  100,    // mismatch
                          100,  100,  100,  100,    // FEC
                          1388, 1388, 1388, 1388,   // equal, but a 1412-byte FEC datagram
                          1376, 1376, 1376, 1376};  // FEC datagrams of exactly 1400 bytes
  std::vector<size_t> counts;
  for (size_t size : sizes) {
    auto d = p->packetize(Bytes(size, 0x33), counters);
    ASSERT_TRUE(d);
    counts.push_back(d->count);
    if (d->count == 3 && size == 1376) {
      EXPECT_EQ(d->datagram[1].size(), kMaxAudioDatagramSize);
      EXPECT_EQ(d->datagram[2].size(), kMaxAudioDatagramSize);
    }
  }
  EXPECT_EQ(counts, (std::vector<size_t>{1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 3}));
  EXPECT_EQ(p->stats().fec_skipped_size, 2u);
  EXPECT_EQ(p->stats().fec_blocks, 2u);
  EXPECT_EQ(p->stats().fec_skipped_partial, 0u);
}

TEST(AudioPacketizer, FailedPacketKeepsTheBlock) {
  auto p = AudioPacketizer::create(params(10, false, true));
  ASSERT_TRUE(p);
  AudioStreamCounters counters;
  ASSERT_TRUE(p->packetize(Bytes(50, 1), counters));
  ASSERT_TRUE(p->packetize(Bytes(50, 2), counters));
  EXPECT_FALSE(p->packetize(Bytes(2000, 9), counters));  // refused: nothing sent or counted
  ASSERT_TRUE(p->packetize(Bytes(50, 3), counters));
  auto d = p->packetize(Bytes(50, 4), counters);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->count, 3u);
  EXPECT_EQ(p->stats().fec_blocks, 1u);
}

// The state a restarted net worker hands over: the bytes of the counters, nothing else.
AudioStreamCounters throughSharedMemory(const AudioStreamCounters& c) {
  std::array<uint8_t, sizeof(AudioStreamCounters)> page{};
  std::memcpy(page.data(), &c, sizeof c);
  AudioStreamCounters out;
  std::memcpy(&out, page.data(), sizeof out);
  return out;
}

TEST(AudioPacketizer, RestartContinuesWithoutGapOrReuse) {
  for (uint32_t handover : {6u, 8u}) {  // mid-block and on a block boundary
    const AudioParams prm = params(5, true, true, 99);
    std::vector<uint16_t> seqs;
    std::vector<uint32_t> stamps;
    auto record = [&](const AudioDatagrams& d) {
      seqs.push_back(bytes::be16(d.datagram[0].data() + 2));
      stamps.push_back(bytes::be32(d.datagram[0].data() + 4));
    };
    AudioStreamCounters stored;
    {
      auto first = AudioPacketizer::create(prm);
      ASSERT_TRUE(first);
      for (uint32_t n = 0; n < handover; ++n) {
        auto d = first->packetize(Bytes(64, static_cast<uint8_t>(n)), stored);
        ASSERT_TRUE(d);
        record(*d);
      }
    }  // the worker dies
    AudioStreamCounters counters = throughSharedMemory(stored);
    auto second = AudioPacketizer::create(prm);
    ASSERT_TRUE(second);
    std::vector<size_t> counts;
    for (uint32_t n = handover; n < 16; ++n) {
      const Bytes opus(64, static_cast<uint8_t>(n));
      const uint16_t seq = static_cast<uint16_t>(counters.next_rtp_seq);
      auto d = second->packetize(opus, counters);
      ASSERT_TRUE(d);
      record(*d);
      counts.push_back(d->count);
      EXPECT_EQ(decrypt(d->datagram[0].subspan(12), clientIv(99, seq), true), opus);
    }
    for (uint32_t n = 0; n < 16; ++n) {
      EXPECT_EQ(seqs[n], n) << "handover " << handover;
      EXPECT_EQ(stamps[n], n * 5) << "handover " << handover;
    }
    // Mid-block, the successor never saw packets 4 and 5: that block goes without FEC.
    EXPECT_EQ(second->stats().fec_skipped_partial, handover == 6 ? 1u : 0u);
    EXPECT_EQ(second->stats().fec_blocks, 2u);
    EXPECT_EQ(counts.back(), 3u);
  }
}

TEST(AudioPacketizer, CountersJumpingInsideABlockDropItsFec) {
  auto p = AudioPacketizer::create(params(5, false, true));
  ASSERT_TRUE(p);
  AudioStreamCounters counters;
  ASSERT_TRUE(p->packetize(Bytes(20), counters));
  ASSERT_TRUE(p->packetize(Bytes(20), counters));
  counters.next_timestamp += 5;  // a timestamp the client would not derive the block's from
  ASSERT_TRUE(p->packetize(Bytes(20), counters));
  auto d = p->packetize(Bytes(20), counters);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->count, 1u);
  EXPECT_EQ(p->stats().fec_skipped_partial, 1u);
  for (int n = 0; n < 4; ++n) d = p->packetize(Bytes(20), counters);
  EXPECT_EQ(d->count, 3u);
}

TEST(AudioReedSolomon, FixedMatrix) {
  auto rs = ReedSolomon::createWithMatrix(4, 2, kAudioFecMatrix);
  ASSERT_TRUE(rs) << rs.error().message;
  for (int j = 0; j < 2; ++j) {
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(rs->coefficient(j, i), kAudioFecMatrix[static_cast<size_t>(j * 4 + i)]);
    }
  }
  EXPECT_FALSE(ReedSolomon::createWithMatrix(4, 2, std::span(kAudioFecMatrix).first(7)));
  EXPECT_FALSE(ReedSolomon::createWithMatrix(0, 2, {}));
  // The Cauchy code is untouched by the extension.
  EXPECT_EQ(ReedSolomon::create(4, 2)->coefficient(0, 0), 0x8E);
}

// One FEC block as the client receives it: the 4 RTP payloads and the 2 parity payloads, and
// the FEC header's base sequence number and timestamp.
struct Block {
  Shards shards;
  uint16_t base_seq = 0;
  uint32_t base_ts = 0;
  std::vector<uint16_t> data_seq;
  std::vector<uint32_t> data_ts;
};

std::vector<Block> makeBlocks(AudioPacketizer& p, AudioStreamCounters& counters, size_t size,
                              int blocks, std::mt19937& rng, std::vector<Bytes>& opus_sent) {
  std::vector<Block> out;
  Block block;
  for (int n = 0; n < blocks * 4; ++n) {
    opus_sent.push_back(randomBytes(size, rng));
    auto d = p.packetize(opus_sent.back(), counters);
    if (!d) return {};
    const auto dg = d->datagram[0];
    block.shards.emplace_back(dg.begin() + 12, dg.end());
    block.data_seq.push_back(bytes::be16(dg.data() + 2));
    block.data_ts.push_back(bytes::be32(dg.data() + 4));
    if (d->count == 3) {
      for (size_t j = 1; j <= 2; ++j) {
        const auto f = d->datagram[j];
        block.shards.emplace_back(f.begin() + 24, f.end());
        block.base_seq = bytes::be16(f.data() + 14);
        block.base_ts = bytes::be32(f.data() + 16);
      }
      out.push_back(std::move(block));
      block = Block{};
    }
  }
  return out;
}

TEST(AudioPacketizer, ClientDecoderRecoversAnyTwoLostShards) {
  std::string why;
  bool failed = false;
  auto client = video_test::ClientDecoder::load(why, failed);
  if (failed) FAIL() << why;
  if (!client) GTEST_SKIP() << "client decoder unavailable: " << why;

  std::mt19937 rng(2024);
  size_t recovered = 0;
  for (bool encrypt : {false, true}) {
    for (uint32_t duration : {5u, 10u}) {
      for (size_t size : {1u, 16u, 120u, 333u, 1360u}) {
        auto p = AudioPacketizer::create(params(duration, encrypt, true, 77));
        ASSERT_TRUE(p);
        AudioStreamCounters counters{0xFFF8, 1000};  // blocks across the 16-bit wrap
        std::vector<Bytes> opus;
        const std::vector<Block> blocks = makeBlocks(*p, counters, size, 4, rng, opus);
        ASSERT_EQ(blocks.size(), 4u);
        for (size_t b = 0; b < blocks.size(); ++b) {
          const Block& block = blocks[b];
          // The FEC header matches what the client derives from any data packet of the block.
          for (size_t i = 0; i < 4; ++i) {
            EXPECT_EQ(block.base_seq, static_cast<uint16_t>(block.data_seq[i] / 4 * 4));
            EXPECT_EQ(block.base_ts, block.data_ts[i] - i * duration);
            EXPECT_EQ(block.data_seq[i], static_cast<uint16_t>(block.base_seq + i));
          }
          // Our parity is nanors' parity with the client's matrix.
          Shards theirs = block.shards;
          theirs[4].assign(theirs[4].size(), 0);
          theirs[5].assign(theirs[5].size(), 0);
          ASSERT_TRUE(client->encode(4, 2, theirs, kAudioMatrix));
          ASSERT_EQ(theirs, block.shards) << "parity differs from nanors, size " << size;
          // Every way of losing two shards (and each single one) is recovered by the client.
          for (int a = 0; a < 6; ++a) {
            for (int c = a; c < 6; ++c) {
              std::vector<bool> missing(6);
              missing[static_cast<size_t>(a)] = true;
              missing[static_cast<size_t>(c)] = true;
              Shards received = block.shards;
              ASSERT_TRUE(client->decode(4, 2, received, missing, kAudioMatrix));
              for (size_t i = 0; i < 4; ++i) {
                ASSERT_EQ(received[i], block.shards[i])
                    << "lost " << a << "," << c << " size " << size << " enc " << encrypt;
                if (missing[i]) ++recovered;
              }
              // What the client then decrypts is the Opus packet that was sent.
              if (encrypt && missing[0]) {
                const uint16_t seq = block.base_seq;
                EXPECT_EQ(decrypt(received[0], clientIv(77, seq), true), opus[b * 4]);
              }
            }
          }
        }
        EXPECT_EQ(p->stats().fec_blocks, 4u);
      }
    }
  }
  std::printf("[figures] audio FEC: %zu data shards recovered by the client's nanors (%s)\n",
              recovered, client->archive().c_str());
}

TEST(AudioPacketizer, Figures) {
  std::mt19937 rng(5);
  for (bool encrypt : {false, true}) {
    auto p = AudioPacketizer::create(params(5, encrypt, true, 3));
    ASSERT_TRUE(p);
    AudioStreamCounters counters;
    const Bytes opus = randomBytes(240, rng);  // 384 kb/s at 5 ms
    constexpr int kPackets = 20'000;
    size_t bytes_out = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int n = 0; n < kPackets; ++n) {
      auto d = p->packetize(opus, counters);
      ASSERT_TRUE(d);
      for (auto s : *d) bytes_out += s.size();
    }
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    std::printf(
        "[figures] audio packetize 240 B Opus, FEC on, %s: %.0f ns per packet, %zu bytes "
        "out per packet\n",
        encrypt ? "AES-128-CBC" : "plain", static_cast<double>(ns) / kPackets,
        bytes_out / kPackets);
  }
}

}  // namespace
}  // namespace funkhaus::net::gamestream
