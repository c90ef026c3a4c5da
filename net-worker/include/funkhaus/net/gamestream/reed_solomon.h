// Reed-Solomon erasure code over GF(2^8) as the Moonlight client decodes it (nanors): the parity
// of GameStream video and audio FEC blocks. Pure computation; any thread (objects are immutable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::net::gamestream {

// GF(2^8) with the reducing polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D), the field of the
// client's decoder. Addition is XOR.
namespace gf256 {
uint8_t mul(uint8_t a, uint8_t b);
// Multiplicative inverse; inv(0) is 0 (0 has none: callers never ask).
uint8_t inv(uint8_t a);
}  // namespace gf256

// A systematic (data_shards + parity_shards) code whose parity rows form the client's Cauchy
// matrix: parity shard j = sum over data shards i of coefficient(j, i) * data shard i, with
// coefficient(j, i) = inv((parity_shards + i) XOR j) (gamestream.md §6.3; checked against the
// client's decoder in video_reed_solomon_test.cpp). The matrix depends on the parity count, so a
// block must announce exactly the parity count it was encoded with.
class ReedSolomon {
 public:
  static constexpr int kMaxTotalShards = 255;

  // 1 <= data_shards, 1 <= parity_shards, data_shards + parity_shards <= 255.
  static Result<ReedSolomon> create(int data_shards, int parity_shards);
  // The same code with a fixed parity matrix instead of the Cauchy one: `matrix` holds
  // parity_shards rows of data_shards coefficients each (row-major, nanors' layout of its p[]),
  // as the client installs for audio (gamestream.md §7). The caller vouches that the matrix
  // recovers the erasures it needs; only its shape is checked.
  static Result<ReedSolomon> createWithMatrix(int data_shards, int parity_shards,
                                              std::span<const uint8_t> matrix);

  int dataShards() const { return data_shards_; }
  int parityShards() const { return parity_shards_; }
  uint8_t coefficient(int parity_row, int data_column) const;

  // Computes the parity shards (overwriting them) from the data shards, each `shard_size` bytes.
  // data.size() == dataShards() and parity.size() == parityShards(), or it aborts (broken
  // invariant). Parity buffers must not overlap data buffers. No allocation.
  void encode(std::span<const uint8_t* const> data, std::span<uint8_t* const> parity,
              size_t shard_size) const;

 private:
  ReedSolomon(int data_shards, int parity_shards)
      : data_shards_(data_shards), parity_shards_(parity_shards) {}

  int data_shards_;
  int parity_shards_;
  std::vector<uint8_t> matrix_;  // fixed coefficients, row-major; empty: the Cauchy matrix
};

}  // namespace funkhaus::net::gamestream
