// Reed-Solomon FEC of GameStream video: the field, the Cauchy matrix, erasure recovery with a
// reference decoder, and byte equality with the Moonlight client's own decoder (nanors).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "funkhaus/net/gamestream/reed_solomon.h"
#include "video_reference_codec.h"

namespace funkhaus::net::gamestream {
namespace {

using Shards = std::vector<std::vector<uint8_t>>;
using video_test::ClientDecoder;

Shards randomShards(int data, int parity, size_t size, std::mt19937& rng) {
  Shards shards(static_cast<size_t>(data + parity), std::vector<uint8_t>(size));
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < data; ++i) {
    for (auto& b : shards[static_cast<size_t>(i)]) b = static_cast<uint8_t>(byte(rng));
  }
  return shards;
}

// Our encoder on `shards` (parity overwritten).
void encode(const ReedSolomon& rs, Shards& shards) {
  std::vector<const uint8_t*> data;
  std::vector<uint8_t*> parity;
  for (int i = 0; i < rs.dataShards(); ++i) data.push_back(shards[static_cast<size_t>(i)].data());
  for (int j = 0; j < rs.parityShards(); ++j) {
    parity.push_back(shards[static_cast<size_t>(rs.dataShards() + j)].data());
  }
  rs.encode(data, parity, shards[0].size());
}

TEST(VideoReedSolomon, FieldMatchesBitwiseReference) {
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      ASSERT_EQ(gf256::mul(static_cast<uint8_t>(a), static_cast<uint8_t>(b)),
                video_test::refMul(static_cast<uint8_t>(a), static_cast<uint8_t>(b)))
          << a << " * " << b;
    }
    if (a != 0) {
      ASSERT_EQ(gf256::mul(static_cast<uint8_t>(a), gf256::inv(static_cast<uint8_t>(a))), 1) << a;
    }
  }
  EXPECT_EQ(gf256::mul(0x80, 2), 0x1D);  // x^8 = x^4 + x^3 + x^2 + 1
}

TEST(VideoReedSolomon, CauchyCoefficients) {
  auto rs = ReedSolomon::create(212, 43);
  ASSERT_TRUE(rs) << rs.error().message;
  for (int j = 0; j < 43; ++j) {
    for (int i = 0; i < 212; ++i) {
      ASSERT_EQ(rs->coefficient(j, i), video_test::refCoefficient(43, j, i)) << j << "," << i;
    }
  }
  // Spot values: row 0, column 0 of a 1+1 code is inv(1 ^ 0) = 1; of 4+2, inv(2) = 0x8E.
  EXPECT_EQ(ReedSolomon::create(1, 1)->coefficient(0, 0), 1);
  EXPECT_EQ(ReedSolomon::create(4, 2)->coefficient(0, 0), 0x8E);
}

TEST(VideoReedSolomon, CreateRejectsBadShapes) {
  EXPECT_FALSE(ReedSolomon::create(0, 1));
  EXPECT_FALSE(ReedSolomon::create(1, 0));
  EXPECT_FALSE(ReedSolomon::create(200, 56));
  auto bad = ReedSolomon::create(-1, 3);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("-1 data"), std::string::npos) << bad.error().message;
  EXPECT_TRUE(ReedSolomon::create(254, 1));
  EXPECT_TRUE(ReedSolomon::create(1, 254));
}

// Every shard size, including the SIMD tails, matches the bitwise reference encoder.
TEST(VideoReedSolomon, ParityMatchesReferenceForAllSizes) {
  std::mt19937 rng(7);
  for (size_t size : {1u, 15u, 31u, 32u, 33u, 63u, 100u, 1408u}) {
    for (auto [d, p] : {std::pair{1, 1}, {3, 2}, {10, 4}, {60, 12}}) {
      Shards ours = randomShards(d, p, size, rng);
      Shards ref = ours;
      encode(*ReedSolomon::create(d, p), ours);
      video_test::refEncode(d, p, ref);
      ASSERT_EQ(ours, ref) << "size " << size << ", " << d << "+" << p;
    }
  }
}

// Recovery of every erasure pattern of up to `parity` shards (small codes: all of them).
TEST(VideoReedSolomon, RecoversEveryErasurePatternOfSmallCodes) {
  std::mt19937 rng(11);
  for (auto [d, p] : {std::pair{4, 3}, {3, 5}, {6, 2}, {1, 4}}) {
    Shards original = randomShards(d, p, 40, rng);
    encode(*ReedSolomon::create(d, p), original);
    const int n = d + p;
    int patterns = 0;
    for (unsigned mask = 1; mask < (1u << n); ++mask) {
      if (std::popcount(mask) > p) continue;
      std::vector<bool> missing(static_cast<size_t>(n));
      Shards received = original;
      for (int s = 0; s < n; ++s) {
        missing[static_cast<size_t>(s)] = (mask >> s) & 1;
        if (missing[static_cast<size_t>(s)]) received[static_cast<size_t>(s)].assign(40, 0);
      }
      ASSERT_TRUE(video_test::refDecode(d, p, received, missing)) << d << "+" << p << " " << mask;
      for (int i = 0; i < d; ++i) {
        ASSERT_EQ(received[static_cast<size_t>(i)], original[static_cast<size_t>(i)])
            << d << "+" << p << " mask " << mask;
      }
      ++patterns;
    }
    EXPECT_GT(patterns, 0);
  }
}

// Large codes (what 1080p frames use): random patterns with exactly `parity` erasures.
TEST(VideoReedSolomon, RecoversRandomMaximalErasuresOfLargeCodes) {
  std::mt19937 rng(13);
  for (auto [d, p] : {std::pair{212, 43}, {100, 20}, {253, 2}, {50, 50}}) {
    Shards original = randomShards(d, p, 64, rng);
    encode(*ReedSolomon::create(d, p), original);
    for (int round = 0; round < 4; ++round) {
      std::vector<int> order(static_cast<size_t>(d + p));
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      if (round == 0) std::iota(order.begin(), order.end(), 0);  // the first p data shards
      std::vector<bool> missing(order.size());
      Shards received = original;
      for (int e = 0; e < p; ++e) {
        missing[static_cast<size_t>(order[static_cast<size_t>(e)])] = true;
        received[static_cast<size_t>(order[static_cast<size_t>(e)])].assign(64, 0);
      }
      ASSERT_TRUE(video_test::refDecode(d, p, received, missing));
      for (int i = 0; i < d; ++i) {
        ASSERT_EQ(received[static_cast<size_t>(i)], original[static_cast<size_t>(i)]);
      }
    }
  }
}

// The proof the issue asks for: the client's decoder (nanors from the moonlight-common-c archive,
// built at test time) computes the same parity and recovers our frames' erasures.
TEST(VideoReedSolomon, ClientDecoderAgreesAndRecovers) {
  std::string why;
  bool failed = false;
  auto client = ClientDecoder::load(why, failed);
  if (failed) FAIL() << why;
  if (!client) GTEST_SKIP() << "client decoder unavailable: " << why;

  std::mt19937 rng(17);
  for (auto [d, p] : {std::pair{1, 1}, {4, 2}, {12, 3}, {72, 15}, {212, 43}, {253, 2}, {5, 20}}) {
    for (size_t size : {1408u, 1040u, 33u}) {
      Shards ours = randomShards(d, p, size, rng);
      encode(*ReedSolomon::create(d, p), ours);
      Shards theirs = ours;
      for (int j = 0; j < p; ++j) theirs[static_cast<size_t>(d + j)].assign(size, 0);
      ASSERT_TRUE(client->encode(d, p, theirs));
      ASSERT_EQ(ours, theirs) << "parity differs from nanors for " << d << "+" << p;

      for (int round = 0; round < 3; ++round) {
        std::vector<int> order(static_cast<size_t>(d + p));
        std::iota(order.begin(), order.end(), 0);
        if (round > 0) std::shuffle(order.begin(), order.end(), rng);
        const int lost = round == 2 ? std::max(1, p / 2) : p;
        std::vector<bool> missing(order.size());
        for (int e = 0; e < lost; ++e)
          missing[static_cast<size_t>(order[static_cast<size_t>(e)])] = true;
        Shards received = ours;
        ASSERT_TRUE(client->decode(d, p, received, missing)) << d << "+" << p;
        for (int i = 0; i < d; ++i) {
          ASSERT_EQ(received[static_cast<size_t>(i)], ours[static_cast<size_t>(i)])
              << "nanors did not recover data shard " << i << " of " << d << "+" << p;
        }
      }
    }
  }
  RecordProperty("client_archive", client->archive());
}

}  // namespace
}  // namespace funkhaus::net::gamestream
