// checkLayout(): the golden-layout check shared by every ABI layout test (this folder's and the
// components' own). Test processes only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "funkhaus/abi/abi.h"

namespace funkhaus::abi {

struct Field {
  const char* name;
  size_t offset;
  size_t size;
};

// Writes a distinct byte pattern through each field (by name, via the struct), then reads the
// raw bytes at the golden offset: proves the compiler put every field where the ABI says.
template <class T>
void checkLayout(const char* type, size_t golden_size, const std::vector<Field>& golden,
                 const std::vector<std::function<void(T&, uint8_t)>>& writers) {
  ASSERT_EQ(kAbiVersion, 5u) << "new ABI version: record its golden tables";
  EXPECT_EQ(sizeof(T), golden_size) << type;
  ASSERT_EQ(golden.size(), writers.size()) << type;
  size_t covered = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    alignas(T) unsigned char raw[sizeof(T)];
    std::memset(raw, 0, sizeof raw);
    T* obj = reinterpret_cast<T*>(raw);
    const uint8_t pattern = static_cast<uint8_t>(0xA0 + i);
    writers[i](*obj, pattern);
    const Field& f = golden[i];
    for (size_t b = 0; b < sizeof(T); ++b) {
      const bool inside = b >= f.offset && b < f.offset + f.size;
      EXPECT_EQ(raw[b], inside ? pattern : 0)
          << type << "." << f.name << ": byte " << b << " (golden offset " << f.offset << ", size "
          << f.size << ")";
    }
    covered += f.size;
  }
  EXPECT_LE(covered, sizeof(T)) << type;
}

#define W(field) [](auto& o, uint8_t p) { std::memset(&o.field, p, sizeof o.field); }

}  // namespace funkhaus::abi
