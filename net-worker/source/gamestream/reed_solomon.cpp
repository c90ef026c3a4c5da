// Reed-Solomon over GF(2^8)/0x11D with the client's Cauchy parity matrix (or a fixed one). The
// multiply-add kernel uses a 64 KB product table, or AVX2 nibble shuffles where the CPU has them.
#include "funkhaus/net/gamestream/reed_solomon.h"

#include <array>
#include <cstdlib>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FUNKHAUS_RS_AVX2 1
#endif

namespace funkhaus::net::gamestream {
namespace {

constexpr unsigned kPolynomial = 0x11D;

struct Tables {
  std::array<uint8_t, 512> exp{};  // doubled so exp[log a + log b] needs no modulo
  std::array<uint8_t, 256> log{};
  std::array<uint8_t, 256> inv{};
  std::array<uint8_t, 65536> mul{};         // mul[a << 8 | b] = a * b
  std::array<uint8_t, 256 * 32> nibbles{};  // per a: a * x (x < 16), then a * (x << 4)
};

constexpr Tables makeTables() {
  Tables t;
  unsigned x = 1;
  for (unsigned i = 0; i < 255; ++i) {
    t.exp[i] = static_cast<uint8_t>(x);
    t.exp[i + 255] = static_cast<uint8_t>(x);
    t.log[x] = static_cast<uint8_t>(i);
    x <<= 1;
    if (x & 0x100) x ^= kPolynomial;
  }
  t.exp[510] = t.exp[0];
  t.exp[511] = t.exp[1];
  for (unsigned a = 1; a < 256; ++a) t.inv[a] = t.exp[255 - t.log[a]];
  for (unsigned a = 1; a < 256; ++a) {
    for (unsigned b = 1; b < 256; ++b) t.mul[a << 8 | b] = t.exp[t.log[a] + t.log[b]];
  }
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned n = 0; n < 16; ++n) {
      t.nibbles[a * 32 + n] = t.mul[a << 8 | n];
      t.nibbles[a * 32 + 16 + n] = t.mul[a << 8 | (n << 4)];
    }
  }
  return t;
}

constexpr Tables kTables = makeTables();

static_assert(kTables.exp[8] == 0x1D, "x^8 reduces by 0x11D");
static_assert(kTables.mul[0x02 << 8 | 0x80] == 0x1D, "2 * 0x80 = x^8 = 0x1D");

// dst = c * src (add == false) or dst ^= c * src (add == true).
void mulScalar(uint8_t* dst, const uint8_t* src, size_t n, uint8_t c, bool add) {
  const uint8_t* row = &kTables.mul[static_cast<size_t>(c) << 8];
  if (add) {
    for (size_t k = 0; k < n; ++k) dst[k] ^= row[src[k]];
  } else {
    for (size_t k = 0; k < n; ++k) dst[k] = row[src[k]];
  }
}

#ifdef FUNKHAUS_RS_AVX2
__attribute__((target("avx2"))) void mulAvx2(uint8_t* dst, const uint8_t* src, size_t n, uint8_t c,
                                             bool add) {
  const uint8_t* nib = &kTables.nibbles[static_cast<size_t>(c) * 32];
  const __m256i lo =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(nib)));
  const __m256i hi =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(nib + 16)));
  const __m256i mask = _mm256_set1_epi8(0x0F);
  size_t k = 0;
  for (; k + 32 <= n; k += 32) {
    const __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + k));
    const __m256i low = _mm256_and_si256(s, mask);
    const __m256i high = _mm256_and_si256(_mm256_srli_epi64(s, 4), mask);
    __m256i p = _mm256_xor_si256(_mm256_shuffle_epi8(lo, low), _mm256_shuffle_epi8(hi, high));
    if (add) p = _mm256_xor_si256(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + k)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k), p);
  }
  mulScalar(dst + k, src + k, n - k, c, add);
}

bool haveAvx2() {
  static const bool have = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return have;
}
#endif

void mulRegion(uint8_t* dst, const uint8_t* src, size_t n, uint8_t c, bool add) {
#ifdef FUNKHAUS_RS_AVX2
  if (haveAvx2()) {
    mulAvx2(dst, src, n, c, add);
    return;
  }
#endif
  mulScalar(dst, src, n, c, add);
}

}  // namespace

namespace gf256 {
uint8_t mul(uint8_t a, uint8_t b) { return kTables.mul[static_cast<size_t>(a) << 8 | b]; }
uint8_t inv(uint8_t a) { return kTables.inv[a]; }
}  // namespace gf256

Result<ReedSolomon> ReedSolomon::create(int data_shards, int parity_shards) {
  if (data_shards < 1 || parity_shards < 1 || data_shards + parity_shards > kMaxTotalShards) {
    return makeError(ErrorCode::kBadConfig,
                     "Reed-Solomon needs 1+ data and 1+ parity shards, {} in all at most "
                     "(asked for {} data + {} parity)",
                     kMaxTotalShards, data_shards, parity_shards);
  }
  return ReedSolomon(data_shards, parity_shards);
}

Result<ReedSolomon> ReedSolomon::createWithMatrix(int data_shards, int parity_shards,
                                                  std::span<const uint8_t> matrix) {
  auto rs = create(data_shards, parity_shards);
  if (!rs) return rs;
  if (matrix.size() != static_cast<size_t>(data_shards) * static_cast<size_t>(parity_shards)) {
    return makeError(ErrorCode::kBadConfig,
                     "Reed-Solomon matrix of {} coefficients for {} data x {} parity shards",
                     matrix.size(), data_shards, parity_shards);
  }
  rs->matrix_.assign(matrix.begin(), matrix.end());
  return rs;
}

uint8_t ReedSolomon::coefficient(int parity_row, int data_column) const {
  if (!matrix_.empty()) {
    return matrix_[static_cast<size_t>(parity_row) * static_cast<size_t>(data_shards_) +
                   static_cast<size_t>(data_column)];
  }
  // (parity + i) > j always, so the XOR is never 0 and always below 256.
  return kTables
      .inv[static_cast<unsigned>(parity_shards_ + data_column) ^ static_cast<unsigned>(parity_row)];
}

void ReedSolomon::encode(std::span<const uint8_t* const> data, std::span<uint8_t* const> parity,
                         size_t shard_size) const {
  if (data.size() != static_cast<size_t>(data_shards_) ||
      parity.size() != static_cast<size_t>(parity_shards_)) {
    std::abort();  // broken invariant: shard lists do not match the code
  }
  for (int j = 0; j < parity_shards_; ++j) {
    uint8_t* out = parity[static_cast<size_t>(j)];
    for (int i = 0; i < data_shards_; ++i) {
      mulRegion(out, data[static_cast<size_t>(i)], shard_size, coefficient(j, i), i != 0);
    }
  }
}

}  // namespace funkhaus::net::gamestream
