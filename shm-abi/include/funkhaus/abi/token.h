// Frame token: generation | sequence | slot packed into one uint64_t.
// Written by a frame-ring producer, checked by its consumer and shown by funkhausctl.
#pragma once

#include <cstdint>

namespace funkhaus::abi {

// Layout: gen << 40 | seq << 8 | slot.
//   bits 63..40  generation (24 bits): bumped on a mode change or a producer (re)attach.
//   bits 39..8   sequence   (32 bits): per-ring publish counter, wraps; 0 is never published.
//   bits  7..0   slot       (8 bits) : index of the slot that holds the frame.
// The value 0 means "no frame".
inline constexpr int kTokenGenerationShift = 40;
inline constexpr int kTokenSequenceShift = 8;
inline constexpr uint64_t kTokenGenerationMask = (uint64_t{1} << 24) - 1;
inline constexpr uint64_t kTokenSequenceMask = (uint64_t{1} << 32) - 1;
inline constexpr uint64_t kTokenSlotMask = (uint64_t{1} << 8) - 1;
inline constexpr uint64_t kNoToken = 0;

struct TokenParts {
  uint32_t generation;  // 24 significant bits
  uint32_t sequence;
  uint32_t slot;  // 8 significant bits
  friend bool operator==(const TokenParts&, const TokenParts&) = default;
};

// Out-of-range parts are masked to their field width, so a wrapped generation or sequence
// stays a valid token instead of spilling into its neighbour.
constexpr uint64_t packToken(uint32_t generation, uint32_t sequence, uint32_t slot) {
  return ((uint64_t{generation} & kTokenGenerationMask) << kTokenGenerationShift) |
         ((uint64_t{sequence} & kTokenSequenceMask) << kTokenSequenceShift) |
         (uint64_t{slot} & kTokenSlotMask);
}

constexpr TokenParts unpackToken(uint64_t token) {
  return {static_cast<uint32_t>((token >> kTokenGenerationShift) & kTokenGenerationMask),
          static_cast<uint32_t>((token >> kTokenSequenceShift) & kTokenSequenceMask),
          static_cast<uint32_t>(token & kTokenSlotMask)};
}

constexpr uint32_t tokenGeneration(uint64_t token) { return unpackToken(token).generation; }
constexpr uint32_t tokenSequence(uint64_t token) { return unpackToken(token).sequence; }
constexpr uint32_t tokenSlot(uint64_t token) { return unpackToken(token).slot; }

// Serial-number comparison (RFC 1982 style) so that sequence 5 is newer than 0xFFFFFFF0
// after a wrap. Equal sequences are not newer.
constexpr bool sequenceNewer(uint32_t candidate, uint32_t reference) {
  return static_cast<int32_t>(candidate - reference) > 0;
}

// Next generation after `gen`, wrapping inside 24 bits and skipping 0 (0 means "never
// produced", so a token of generation 0 can never match a live ring).
constexpr uint32_t nextGeneration(uint32_t gen) {
  uint32_t next = (gen + 1) & static_cast<uint32_t>(kTokenGenerationMask);
  return next == 0 ? 1 : next;
}

// Next sequence after `seq`, wrapping and skipping 0.
constexpr uint32_t nextSequence(uint32_t seq) { return seq + 1 == 0 ? 1 : seq + 1; }

}  // namespace funkhaus::abi
