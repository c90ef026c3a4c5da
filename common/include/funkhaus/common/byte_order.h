// Explicit byte order for wire formats: loads and stores of big- and little-endian integers at a
// byte pointer, and appends to a byte vector. The one definition for every parser and builder of
// network bytes (RTP/RTCP, GameStream). Pure functions, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace funkhaus::bytes {

template <class T>
constexpr T loadBe(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>(v << 8 | p[i]);
  return v;
}
template <class T>
constexpr T loadLe(const uint8_t* p) {
  T v = 0;
  for (size_t i = sizeof(T); i-- > 0;) v = static_cast<T>(v << 8 | p[i]);
  return v;
}
template <class T>
constexpr void storeBe(uint8_t* p, T v) {
  for (size_t i = 0; i < sizeof(T); ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * (sizeof(T) - 1 - i)));
}
template <class T>
constexpr void storeLe(uint8_t* p, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
template <class T>
void appendBe(std::vector<uint8_t>& out, T v) {
  out.resize(out.size() + sizeof(T));
  storeBe(out.data() + out.size() - sizeof(T), v);
}
template <class T>
void appendLe(std::vector<uint8_t>& out, T v) {
  out.resize(out.size() + sizeof(T));
  storeLe(out.data() + out.size() - sizeof(T), v);
}

inline uint16_t be16(const uint8_t* p) { return loadBe<uint16_t>(p); }
inline uint32_t be32(const uint8_t* p) { return loadBe<uint32_t>(p); }
inline uint16_t le16(const uint8_t* p) { return loadLe<uint16_t>(p); }
inline uint32_t le32(const uint8_t* p) { return loadLe<uint32_t>(p); }
inline uint64_t le64(const uint8_t* p) { return loadLe<uint64_t>(p); }

}  // namespace funkhaus::bytes
