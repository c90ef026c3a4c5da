// The encoders funkhaus knows (name, codec, family) and the x264 preset names: one table for
// validation and for the encoder's per-family settings. Encode worker, any thread.
#pragma once

#include <string>

#include "funkhaus/encode/encoder.h"

namespace funkhaus::encode {

enum class Family { kX264, kX265, kNvenc, kVaapi, kQsv };

struct KnownEncoder {
  const char* name;
  Codec codec;
  Family family;
};

// The entry of an encoder name, or nullptr.
const KnownEncoder* findKnown(const std::string& name);
// The index of an x264 preset name (ultrafast = 0 .. placebo = 9), or -1.
int presetIndex(const std::string& preset);

}  // namespace funkhaus::encode
