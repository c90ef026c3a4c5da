// GameStream video packetization: header bytes, FEC block layout, counters across frames and
// restarts, AUD/SEI stripping, AES-GCM, recovery by a reference and by the client's decoder.
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "funkhaus/net/gamestream/reed_solomon.h"
#include "funkhaus/net/gamestream/video_packetizer.h"
#include "video_reference_codec.h"

namespace funkhaus::net::gamestream {
namespace {

using media::Codec;
using Bytes = std::vector<uint8_t>;

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | static_cast<uint32_t>(p[3]);
}

// One NAL unit with a 4-byte start code: header bytes then `body` filler bytes (never 0, so no
// start code emulation).
void appendNal(Bytes& au, std::initializer_list<uint8_t> header, size_t body, uint8_t seed = 1) {
  au.insert(au.end(), {0, 0, 0, 1});
  au.insert(au.end(), header);
  for (size_t i = 0; i < body; ++i) au.push_back(static_cast<uint8_t>(1 + (seed + i * 7) % 250));
}

Bytes h264Idr(size_t slice_bytes) {
  Bytes au;
  appendNal(au, {0x67, 0x42, 0xC0, 0x1F}, 8);  // SPS
  appendNal(au, {0x68, 0xCE}, 2);              // PPS
  appendNal(au, {0x65, 0x88}, slice_bytes);    // IDR slice
  return au;
}

Bytes h264P(size_t slice_bytes, uint8_t seed) {
  Bytes au;
  appendNal(au, {0x41, 0x9A}, slice_bytes, seed);  // non-IDR slice
  return au;
}

VideoParams params(uint32_t p = 1024, uint32_t pct = 20, uint32_t min_fec = 2) {
  VideoParams v;
  v.packet_size = p;
  v.fec_percent = pct;
  v.min_fec_packets = min_fec;
  return v;
}

struct Packet {
  const uint8_t* p;
  uint32_t fecInfo() const { return le32(p + 28); }
  uint32_t dataShards() const { return fecInfo() >> 22; }
  uint32_t shardIndex() const { return (fecInfo() >> 12) & 0x3FF; }
  uint32_t pct() const { return (fecInfo() >> 4) & 0xFF; }
  bool parity() const { return shardIndex() >= dataShards(); }
};

std::vector<Packet> split(const Bytes& out, size_t datagram, size_t prefix = 0) {
  std::vector<Packet> packets;
  for (size_t off = 0; off < out.size(); off += datagram)
    packets.push_back({out.data() + off + prefix});
  return packets;
}

// The client's view: data payloads in order, cut at lastPayloadLen; returns frame header + AU.
Bytes reassemble(const std::vector<Packet>& packets, uint32_t packet_size) {
  const size_t chunk = packet_size - 16;
  Bytes stream;
  for (const Packet& pk : packets) {
    if (!pk.parity()) stream.insert(stream.end(), pk.p + 32, pk.p + 32 + chunk);
  }
  const uint16_t last = le16(stream.data() + 4);
  stream.resize(stream.size() - chunk + last);
  return stream;
}

TEST(VideoPacketizer, SmallIdrFrameByteByByte) {
  const VideoParams vp = params(1024, 20, 2);
  const Bytes au = h264Idr(100);
  VideoStreamCounters counters;
  counters.next_rtp_seq = 0x00AB1234;  // bytes of both encodings are distinguishable
  Bytes out;
  auto n = packetizeFrame({au, true, 0x0203, 0x11223344}, vp, counters, out);
  ASSERT_TRUE(n) << n.error().message;
  // 1 data shard; ceil(1 * 20%) = 1 < minimum 2 -> 2 parity, pct rewritten to 200.
  ASSERT_EQ(*n, 3u);
  ASSERT_EQ(datagramSize(vp), 1040u);
  ASSERT_EQ(out.size(), 3u * 1040u);

  const uint8_t* p = out.data();
  EXPECT_EQ(p[0], 0x90);
  EXPECT_EQ(p[1], 0x00);
  EXPECT_EQ(p[2], 0x12);  // BE16 seq 0x1234
  EXPECT_EQ(p[3], 0x34);
  EXPECT_EQ(be32(p + 4), 0x11223344u);
  EXPECT_EQ(p[4], 0x11);
  for (int i = 8; i < 16; ++i) EXPECT_EQ(p[i], 0) << i;  // SSRC, reserved
  // streamPacketIndex = counter << 8, LE: 00 34 12 AB
  EXPECT_EQ(p[16], 0x00);
  EXPECT_EQ(p[17], 0x34);
  EXPECT_EQ(p[18], 0x12);
  EXPECT_EQ(p[19], 0xAB);
  EXPECT_EQ(le32(p + 20), 1u);  // first frame index
  EXPECT_EQ(p[24], 0x07);       // picture data | SOF | EOF
  EXPECT_EQ(p[25], 0x00);
  EXPECT_EQ(p[26], 0x10);
  EXPECT_EQ(p[27], 0x00);
  EXPECT_EQ(le32(p + 28), 1u << 22 | 0u << 12 | 200u << 4);
  // Frame header.
  const size_t total = 8 + au.size();
  EXPECT_EQ(p[32], 0x01);
  EXPECT_EQ(le16(p + 33), 0x0203);
  EXPECT_EQ(p[35], 2);  // IDR
  EXPECT_EQ(le16(p + 36), total);
  EXPECT_EQ(p[38], 0);
  EXPECT_EQ(p[39], 0);
  EXPECT_EQ(0, std::memcmp(p + 40, au.data(), au.size()));
  for (size_t i = 32 + total; i < 1040; ++i) ASSERT_EQ(p[i], 0) << "padding at " << i;

  for (uint32_t x = 1; x < 3; ++x) {
    const uint8_t* q = out.data() + x * 1040;
    EXPECT_EQ(q[0], 0x90);
    EXPECT_EQ(be16(q + 2), 0x1234 + x);
    EXPECT_EQ(be32(q + 4), 0x11223344u);
    EXPECT_EQ(le32(q + 20), 1u);
    EXPECT_EQ(q[27], 0x00);
    EXPECT_EQ(le32(q + 28), 1u << 22 | x << 12 | 200u << 4);
  }
  EXPECT_EQ(counters.next_rtp_seq, 0x00AB1237u);
  EXPECT_EQ(counters.next_frame_index, 2u);
  EXPECT_EQ(counters.next_iv, 0u);
}

TEST(VideoPacketizer, PFrameTypeAndNoFec) {
  const VideoParams vp = params(1024, 0, 2);  // fec 0: no parity even below the minimum
  VideoStreamCounters counters;
  Bytes out;
  auto n = packetizeFrame({h264P(3000, 3), false, 0, 0}, vp, counters, out);
  ASSERT_TRUE(n) << n.error().message;
  const size_t packets = (8 + 4 + 2 + 3000 + 1007) / 1008;
  ASSERT_EQ(*n, packets);
  const auto pk = split(out, 1040);
  EXPECT_EQ(pk[0].p[35], 1);  // P-frame
  for (size_t i = 0; i < pk.size(); ++i) {
    EXPECT_EQ(pk[i].fecInfo(), packets << 22 | i << 12) << i;
    EXPECT_EQ(pk[i].p[24], 0x01 | (i == 0 ? 0x04 : 0) | (i + 1 == packets ? 0x02 : 0)) << i;
  }
}

TEST(VideoPacketizer, MultiBlockFrameHeaders) {
  const VideoParams vp = params(1392, 20, 2);
  // 300 packets of 1376 payload bytes: 255*100/120 = 212 data shards per block at most -> 2
  // blocks of 150 + 30 parity each.
  const size_t total = 299 * 1376 + 1000;
  const Bytes au = h264Idr(total - 8 - (4 + 4 + 8) - (4 + 2 + 2) - (4 + 2));
  ASSERT_EQ(8 + au.size(), total);
  VideoStreamCounters counters;
  counters.next_rtp_seq = 0xFFF0;  // the 16-bit sequence wraps inside the frame
  counters.next_frame_index = 41;
  Bytes out;
  auto n = packetizeFrame({au, true, 0, 90000}, vp, counters, out);
  ASSERT_TRUE(n) << n.error().message;
  ASSERT_EQ(*n, 360u);
  const auto pk = split(out, 1408);
  uint32_t seq = 0xFFF0;
  for (uint32_t b = 0; b < 2; ++b) {
    for (uint32_t x = 0; x < 180; ++x, ++seq) {
      const Packet& q = pk[b * 180 + x];
      SCOPED_TRACE(::testing::Message() << "block " << b << " shard " << x);
      EXPECT_EQ(q.p[0], 0x90);
      EXPECT_EQ(be16(q.p + 2), static_cast<uint16_t>(seq));
      EXPECT_EQ(be32(q.p + 4), 90000u);
      EXPECT_EQ(le32(q.p + 20), 41u);
      EXPECT_EQ(q.p[27], b << 4 | 1 << 6);
      EXPECT_EQ(q.dataShards(), 150u);
      EXPECT_EQ(q.shardIndex(), x);
      EXPECT_EQ(q.pct(), 20u);
      if (x < 150) {
        EXPECT_EQ(le32(q.p + 16), seq << 8);
        const uint8_t flags = 0x01 | (x == 0 ? 0x04 : 0) | (x == 149 ? 0x02 : 0);
        EXPECT_EQ(q.p[24], flags);
        EXPECT_EQ(q.p[25], 0);
        EXPECT_EQ(q.p[26], 0x10);
      }
    }
  }
  EXPECT_EQ(le16(pk[0].p + 36), 1000u);  // lastPayloadLen
  EXPECT_EQ(reassemble(pk, 1392).size(), total);
  EXPECT_EQ(counters.next_rtp_seq, 0xFFF0u + 360u);
  EXPECT_EQ(counters.next_frame_index, 42u);
}

TEST(VideoPacketizer, LastPayloadLength) {
  const VideoParams vp = params(1024, 20, 0);
  for (size_t total : {size_t{1008}, size_t{2016}, size_t{1009}, size_t{40}}) {
    const Bytes au = h264P(total - 8 - 6, 5);
    VideoStreamCounters counters;
    Bytes out;
    ASSERT_TRUE(packetizeFrame({au, false, 0, 0}, vp, counters, out));
    const uint16_t expected = static_cast<uint16_t>(total % 1008 == 0 ? 1008 : total % 1008);
    EXPECT_EQ(le16(out.data() + 36), expected) << total;
    const auto pk = split(out, 1040);
    Bytes stream = reassemble(pk, 1024);
    ASSERT_EQ(stream.size(), total);
    EXPECT_TRUE(std::equal(au.begin(), au.end(), stream.begin() + 8));
  }
}

TEST(VideoPacketizer, PlanKeepsClientParityAndLimits) {
  for (uint32_t pct : {0u, 1u, 5u, 20u, 50u, 100u, 200u, 255u}) {
    for (uint32_t min_fec : {0u, 1u, 2u, 4u, 10u, 60u}) {
      VideoParams vp = params(1392, pct, min_fec);
      for (size_t packets :
           {1u, 2u, 7u, 99u, 101u, 150u, 211u, 212u, 213u, 250u, 400u, 848u, 849u, 1000u, 4092u}) {
        auto plan = planVideoFrame(packets * 1376, vp);
        ASSERT_TRUE(plan) << plan.error().message;
        SCOPED_TRACE(::testing::Message()
                     << "pct " << pct << " min " << min_fec << " packets " << packets);
        ASSERT_GE(plan->blocks, 1u);
        ASSERT_LE(plan->blocks, 4u);
        size_t data = 0;
        for (uint32_t b = 0; b < plan->blocks; ++b) {
          const VideoBlockPlan& bp = plan->block[b];
          data += bp.data_shards;
          ASSERT_GE(bp.data_shards, 1u);
          ASSERT_LE(bp.fec_percent, 255u);
          // The client derives the parity count (and so the matrix) from the written pct.
          ASSERT_EQ((bp.data_shards * bp.fec_percent + 99) / 100, bp.parity_shards);
          if (bp.parity_shards > 0) {
            ASSERT_LE(bp.data_shards + bp.parity_shards, 255u);
          }
          if (bp.fec_percent > 0 && bp.fec_percent < 255 && bp.data_shards < 200) {
            ASSERT_GE(bp.parity_shards, min_fec);
          }
        }
        ASSERT_EQ(data, packets);
      }
    }
  }
  // More than 4 blocks at 20 %: 4 blocks without FEC.
  auto big = planVideoFrame(1000 * 1376, params(1392, 20, 2));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->blocks, 4u);
  for (uint32_t b = 0; b < 4; ++b) {
    EXPECT_EQ(big->block[b].data_shards, 250u);
    EXPECT_EQ(big->block[b].parity_shards, 0u);
    EXPECT_EQ(big->block[b].fec_percent, 0u);
  }
  // Sunshine's rewrite: 10 data shards, minimum 4 -> pct 40.
  auto raised = planVideoFrame(10 * 1376, params(1392, 10, 4));
  ASSERT_TRUE(raised);
  EXPECT_EQ(raised->block[0].parity_shards, 4u);
  EXPECT_EQ(raised->block[0].fec_percent, 40u);
  // Too large for 4 blocks of 1023 shards.
  auto huge = planVideoFrame(4093 * 1376, params(1392, 20, 2));
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("4093 packets"), std::string::npos) << huge.error().message;
}

// Frames 1..4 from one packetizer equal frames 1..3 from one and frame 4 from a successor that
// got the counters (as bytes, like a shared-memory page) after a restart.
TEST(VideoPacketizer, CountersContinueAcrossFramesAndRestart) {
  const VideoParams vp = params(1024, 20, 2);
  std::vector<Bytes> aus = {h264Idr(5000), h264P(700, 1), h264P(2500, 2), h264P(12000, 3)};

  auto one = VideoPacketizer::create(vp);
  ASSERT_TRUE(one);
  VideoStreamCounters c1;
  Bytes all;
  std::vector<size_t> counts;
  for (size_t f = 0; f < aus.size(); ++f) {
    auto n = one->packetizeFrame({aus[f], f == 0, 0, static_cast<uint32_t>(f * 1500)}, c1, all);
    ASSERT_TRUE(n);
    counts.push_back(*n);
  }

  Bytes restarted;
  alignas(8) unsigned char shm[sizeof(VideoStreamCounters)];
  {
    auto before = VideoPacketizer::create(vp);
    VideoStreamCounters c2;
    for (size_t f = 0; f < 3; ++f) {
      ASSERT_TRUE(before->packetizeFrame({aus[f], f == 0, 0, static_cast<uint32_t>(f * 1500)}, c2,
                                         restarted));
    }
    std::memcpy(shm, &c2, sizeof c2);
  }
  VideoStreamCounters c3;
  std::memcpy(&c3, shm, sizeof c3);
  auto after = VideoPacketizer::create(vp);
  ASSERT_TRUE(after->packetizeFrame({aus[3], false, 0, 4500}, c3, restarted));
  EXPECT_EQ(restarted, all);
  EXPECT_EQ(c3.next_rtp_seq, c1.next_rtp_seq);
  EXPECT_EQ(c3.next_frame_index, 5u);

  // Sequence numbers and frame indexes without gaps; streamPacketIndex grows.
  const auto pk = split(all, 1040);
  uint32_t last_spi = 0;
  size_t k = 0;
  for (size_t f = 0; f < counts.size(); ++f) {
    for (size_t i = 0; i < counts[f]; ++i, ++k) {
      EXPECT_EQ(be16(pk[k].p + 2), k) << k;
      EXPECT_EQ(le32(pk[k].p + 20), f + 1) << k;
      if (!pk[k].parity()) {
        const uint32_t spi = le32(pk[k].p + 16) >> 8;
        if (k > 0) {
          EXPECT_GT(spi, last_spi) << k;
        }
        last_spi = spi;
      }
    }
  }
  EXPECT_EQ(k, pk.size());
}

TEST(VideoPacketizer, StripsH264AudAndSei) {
  Bytes au;
  appendNal(au, {0x09, 0xF0}, 0);         // AUD
  appendNal(au, {0x06, 0x05}, 2000);      // SEI (x264's version string is this large)
  appendNal(au, {0x67, 0x42, 0xC0}, 10);  // SPS
  appendNal(au, {0x68, 0xCE}, 2);         // PPS
  appendNal(au, {0x06, 0x01}, 5);         // another SEI
  appendNal(au, {0x65, 0x88}, 4000);      // IDR slice
  Bytes expected;
  appendNal(expected, {0x67, 0x42, 0xC0}, 10);
  appendNal(expected, {0x68, 0xCE}, 2);
  appendNal(expected, {0x65, 0x88}, 4000);

  VideoStreamCounters counters;
  Bytes out;
  ASSERT_TRUE(packetizeFrame({au, true, 0, 0}, params(1024, 20, 2), counters, out));
  const auto pk = split(out, 1040);
  Bytes stream = reassemble(pk, 1024);
  EXPECT_EQ(Bytes(stream.begin() + 8, stream.end()), expected);
  // The IDR slice's start code lies in the first packet.
  const uint8_t idr_start[] = {0, 0, 0, 1, 0x65};
  const uint8_t* first = pk[0].p + 32;
  EXPECT_NE(std::search(first, first + 1008, std::begin(idr_start), std::end(idr_start)),
            first + 1008);
}

TEST(VideoPacketizer, StripsHevcAudAndSeiAndKeepsCleanUnitsAsTheyAre) {
  VideoParams vp = params(1024, 20, 2);
  vp.codec = Codec::kHevc;
  Bytes au;
  appendNal(au, {0x46, 0x01}, 1);    // AUD (35)
  appendNal(au, {0x40, 0x01}, 20);   // VPS (32)
  appendNal(au, {0x42, 0x01}, 30);   // SPS (33)
  appendNal(au, {0x44, 0x01}, 5);    // PPS (34)
  appendNal(au, {0x4E, 0x01}, 900);  // prefix SEI (39)
  appendNal(au, {0x26, 0x01}, 700);  // IDR_W_RADL (19)
  appendNal(au, {0x50, 0x01}, 50);   // suffix SEI (40)
  Bytes expected;
  appendNal(expected, {0x40, 0x01}, 20);
  appendNal(expected, {0x42, 0x01}, 30);
  appendNal(expected, {0x44, 0x01}, 5);
  appendNal(expected, {0x26, 0x01}, 700);
  VideoStreamCounters counters;
  Bytes out;
  ASSERT_TRUE(packetizeFrame({au, true, 0, 0}, vp, counters, out));
  Bytes stream = reassemble(split(out, 1040), 1024);
  EXPECT_EQ(Bytes(stream.begin() + 8, stream.end()), expected);

  // Nothing to strip: the access unit goes as it is (3-byte start codes included).
  Bytes clean = {0, 0, 1, 0x02, 0x01, 0xAA, 0xBB, 0, 0, 1, 0x02, 0x01, 0xCC};
  out.clear();
  ASSERT_TRUE(packetizeFrame({clean, false, 0, 0}, vp, counters, out));
  stream = reassemble(split(out, 1040), 1024);
  EXPECT_EQ(Bytes(stream.begin() + 8, stream.end()), clean);
}

Bytes decrypt(const uint8_t* datagram, size_t size, const std::array<uint8_t, 16>& key, bool& ok) {
  Bytes plain(size - 32);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  int final_len = 0;
  ok =
      EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, key.data(), datagram) == 1 &&
      EVP_DecryptUpdate(ctx, plain.data(), &len, datagram + 32, static_cast<int>(size - 32)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, const_cast<uint8_t*>(datagram + 16)) ==
          1 &&
      EVP_DecryptFinal_ex(ctx, plain.data() + len, &final_len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return plain;
}

TEST(VideoPacketizer, EncryptionRoundTrip) {
  VideoParams clear = params(1392 - 32, 20, 2);  // the client subtracted the prefix from P
  VideoParams enc = clear;
  enc.encrypt = true;
  for (size_t i = 0; i < 16; ++i) enc.key[i] = static_cast<uint8_t>(0x10 + i);
  ASSERT_EQ(datagramSize(enc), 1392u - 32 + 16 + 32);

  const Bytes au = h264Idr(20000);
  VideoStreamCounters c_clear{7, 9, 0};
  VideoStreamCounters c_enc{7, 9, 0xFFFFFFF0ull};
  Bytes plain_out;
  Bytes enc_out;
  auto n1 = packetizeFrame({au, true, 5, 77}, clear, c_clear, plain_out);
  auto n2 = packetizeFrame({au, true, 5, 77}, enc, c_enc, enc_out);
  ASSERT_TRUE(n1);
  ASSERT_TRUE(n2) << n2.error().message;
  ASSERT_EQ(*n1, *n2);
  EXPECT_EQ(c_enc.next_iv, 0xFFFFFFF0ull + *n2);
  const size_t dsize = datagramSize(enc);
  for (size_t d = 0; d < *n2; ++d) {
    const uint8_t* g = enc_out.data() + d * dsize;
    const uint64_t iv = le32(g) | static_cast<uint64_t>(le32(g + 4)) << 32;
    EXPECT_EQ(iv, 0xFFFFFFF0ull + d);
    EXPECT_EQ(g[8], 0);
    EXPECT_EQ(g[9], 0);
    EXPECT_EQ(g[10], 0);
    EXPECT_EQ(g[11], 'V');
    EXPECT_EQ(le32(g + 12), 9u);
    bool ok = false;
    Bytes plain = decrypt(g, dsize, enc.key, ok);
    ASSERT_TRUE(ok) << "datagram " << d;
    ASSERT_EQ(0, std::memcmp(plain.data(), plain_out.data() + d * (dsize - 32), dsize - 32)) << d;
  }
  // A flipped bit fails authentication.
  Bytes tampered(enc_out.begin(), enc_out.begin() + static_cast<ptrdiff_t>(dsize));
  tampered[100] ^= 1;
  bool ok = true;
  (void)decrypt(tampered.data(), dsize, enc.key, ok);
  EXPECT_FALSE(ok);
}

// Drops packets of a packetized frame, rebuilds them with `decode`, applies what the client
// restores after a recovery (RTP header, frameIndex, multiFecBlocks: RtpVideoQueue.c), and
// compares with the originals (fecInfo excepted: the client ignores it in recovered packets).
template <class Decode>
void recoverFrame(const Bytes& out, size_t shard, Decode decode) {
  const auto pk = split(out, shard);
  size_t k = 0;
  std::mt19937 rng(23);
  while (k < pk.size()) {
    const int d = static_cast<int>(pk[k].dataShards());
    const int p = static_cast<int>((pk[k].dataShards() * pk[k].pct() + 99) / 100);
    std::vector<std::vector<uint8_t>> shards;
    for (int s = 0; s < d + p; ++s) shards.emplace_back(pk[k + s].p, pk[k + s].p + shard);
    std::vector<bool> missing(static_cast<size_t>(d + p));
    // Lose p shards, data first (the hard case), then a random mix for odd blocks.
    std::vector<int> order(missing.size());
    std::iota(order.begin(), order.end(), 0);
    if ((k / 7) % 2 == 1) std::shuffle(order.begin(), order.end(), rng);
    for (int e = 0; e < p; ++e) missing[static_cast<size_t>(order[static_cast<size_t>(e)])] = true;
    const Packet head = pk[k];
    std::vector<std::vector<uint8_t>> received = shards;
    for (size_t s = 0; s < missing.size(); ++s) {
      if (missing[s]) received[s].assign(shard, 0);
    }
    ASSERT_TRUE(decode(d, p, received, missing));
    for (int i = 0; i < d; ++i) {
      if (!missing[static_cast<size_t>(i)]) continue;
      uint8_t* r = received[static_cast<size_t>(i)].data();
      r[0] = head.p[0];
      const uint16_t seq = static_cast<uint16_t>(be16(head.p + 2) - head.shardIndex() + i);
      r[2] = static_cast<uint8_t>(seq >> 8);
      r[3] = static_cast<uint8_t>(seq);
      std::memcpy(r + 4, head.p + 4, 8);    // timestamp, SSRC
      std::memcpy(r + 20, head.p + 20, 4);  // frameIndex
      r[27] = head.p[27];                   // multiFecBlocks
      std::memcpy(r + 28, head.p + 28, 4);  // fecInfo: not restored by the client; not compared
      const std::vector<uint8_t>& orig = shards[static_cast<size_t>(i)];
      for (size_t b = 0; b < shard; ++b) {
        if (b >= 28 && b < 32) continue;
        ASSERT_EQ(r[b], orig[b]) << "block at " << k << ", data shard " << i << ", byte " << b;
      }
    }
    k += static_cast<size_t>(d + p);
  }
}

TEST(VideoPacketizer, FecRecoversLostPacketsWithReferenceDecoder) {
  const VideoParams vp = params(1392, 20, 2);
  const Bytes au = h264Idr(400 * 1376);  // 2 blocks
  VideoStreamCounters counters;
  Bytes out;
  ASSERT_TRUE(packetizeFrame({au, true, 0, 1234}, vp, counters, out));
  recoverFrame(out, 1408, video_test::refDecode);
  Bytes small_out;
  ASSERT_TRUE(packetizeFrame({h264P(200, 9), false, 0, 1}, vp, counters, small_out));
  recoverFrame(small_out, 1408, video_test::refDecode);
}

TEST(VideoPacketizer, FecRecoversLostPacketsWithClientDecoder) {
  std::string why;
  bool failed = false;
  auto client = video_test::ClientDecoder::load(why, failed);
  if (failed) FAIL() << why;
  if (!client) GTEST_SKIP() << "client decoder unavailable: " << why;
  const VideoParams vp = params(1392, 20, 2);
  VideoStreamCounters counters;
  auto decode = [&](int d, int p, std::vector<std::vector<uint8_t>>& shards,
                    const std::vector<bool>& missing) {
    return client->decode(d, p, shards, missing);
  };
  for (size_t bytes : {size_t{150}, size_t{30'000}, size_t{100'000}, size_t{600'000}}) {
    Bytes out;
    ASSERT_TRUE(packetizeFrame({h264Idr(bytes), true, 0, 1}, vp, counters, out));
    recoverFrame(out, 1408, decode);
  }
}

TEST(VideoPacketizer, ErrorsNameTheProblemAndChangeNothing) {
  VideoStreamCounters counters{5, 6, 7};
  Bytes out = {1, 2, 3};
  const Bytes au = h264Idr(10);
  auto expectError = [&](const VideoParams& vp, std::span<const uint8_t> unit,
                         const std::string& needle) {
    auto n = packetizeFrame({unit, true, 0, 0}, vp, counters, out);
    ASSERT_FALSE(n) << needle;
    EXPECT_NE(n.error().message.find(needle), std::string::npos) << n.error().message;
    EXPECT_EQ(counters.next_rtp_seq, 5u);
    EXPECT_EQ(counters.next_frame_index, 6u);
    EXPECT_EQ(counters.next_iv, 7u);
    EXPECT_EQ(out, (Bytes{1, 2, 3}));
  };
  expectError(params(1000), au, "packet size 1000");
  expectError(params(48), au, "packet size 48");
  expectError(params(1024, 256), au, "FEC percentage 256");
  expectError(params(1024, 20, 1000), au, "minimum video FEC packets 1000");
  VideoParams none = params();
  none.codec = Codec::kNone;
  expectError(none, au, "not H.264 or HEVC");
  expectError(params(), {}, "empty");
  const Bytes no_start = {0x65, 0x88, 0x99};
  expectError(params(), no_start, "no Annex-B start code");
  Bytes only_aud;
  appendNal(only_aud, {0x09, 0xF0}, 0);
  expectError(params(), only_aud, "only AUD/SEI");
  expectError(params(64, 20, 2), h264Idr(200'000), "packets of 64 bytes");
  EXPECT_TRUE(packetizeFrame({au, true, 0, 0}, params(64, 20, 2), counters, out));
}

// Not a benchmark with a threshold: prints what one 100 KB IDR costs at P = 1392, 20 % FEC.
TEST(VideoPacketizer, TimingOf100KbIdr) {
  for (bool encrypt : {false, true}) {
    VideoParams vp = params(encrypt ? 1392 - 32 : 1392, 20, 2);
    vp.encrypt = encrypt;
    auto packetizer = VideoPacketizer::create(vp);
    ASSERT_TRUE(packetizer);
    const Bytes au = h264Idr(100'000);
    VideoStreamCounters counters;
    Bytes out;
    out.reserve(200 * packetizer->datagramSize());
    constexpr int kRounds = 200;
    size_t packets = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < kRounds; ++r) {
      out.clear();
      auto n = packetizer->packetizeFrame({au, true, 0, 0}, counters, out);
      ASSERT_TRUE(n);
      packets = *n;
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const double us =
        std::chrono::duration<double, std::micro>(elapsed).count() / static_cast<double>(kRounds);
    std::cout << "packetizeFrame 100 KB IDR, P=" << vp.packet_size << ", 20 % FEC"
              << (encrypt ? ", AES-GCM" : "") << ": " << packets << " datagrams, " << us
              << " us per frame\n";
    RecordProperty(encrypt ? "us_per_frame_encrypted" : "us_per_frame", std::to_string(us));
    EXPECT_GT(packets, 0u);
  }
}

}  // namespace
}  // namespace funkhaus::net::gamestream
