// Frame token packing: round trips, field edges, wrap-around and masking.
#include "funkhaus/abi/token.h"

#include <gtest/gtest.h>

namespace funkhaus::abi {
namespace {

TEST(Token, SeedLayoutIsGenShift40SeqShift8Slot) {
  EXPECT_EQ(packToken(1, 1, 1), (uint64_t{1} << 40) | (uint64_t{1} << 8) | 1);
  EXPECT_EQ(packToken(0xABCDEF, 0x12345678, 0x9A), 0xABCDEF123456789AULL);
}

TEST(Token, RoundTripsAtTheEdges) {
  const uint32_t gens[] = {0, 1, 0x7FFFFF, 0xFFFFFF};
  const uint32_t seqs[] = {0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF};
  const uint32_t slots[] = {0, 1, 127, 254, 255};
  for (uint32_t g : gens)
    for (uint32_t q : seqs)
      for (uint32_t s : slots) {
        uint64_t t = packToken(g, q, s);
        EXPECT_EQ(unpackToken(t), (TokenParts{g, q, s})) << g << "/" << q << "/" << s;
        EXPECT_EQ(tokenGeneration(t), g);
        EXPECT_EQ(tokenSequence(t), q);
        EXPECT_EQ(tokenSlot(t), s);
      }
  EXPECT_EQ(packToken(0xFFFFFF, 0xFFFFFFFF, 0xFF), ~uint64_t{0});
}

TEST(Token, OversizedPartsAreMaskedNotSpilled) {
  // A generation past 24 bits wraps inside its field and leaves sequence and slot intact.
  EXPECT_EQ(unpackToken(packToken(0x1000005, 7, 3)), (TokenParts{5, 7, 3}));
  EXPECT_EQ(unpackToken(packToken(2, 9, 0x1FF)), (TokenParts{2, 9, 0xFF}));
}

TEST(Token, SequenceComparisonSurvivesWrap) {
  EXPECT_TRUE(sequenceNewer(2, 1));
  EXPECT_FALSE(sequenceNewer(1, 2));
  EXPECT_FALSE(sequenceNewer(5, 5));
  EXPECT_TRUE(sequenceNewer(3, 0xFFFFFFF0u));  // after the wrap
  EXPECT_FALSE(sequenceNewer(0xFFFFFFF0u, 3));
  EXPECT_TRUE(sequenceNewer(0x80000000u, 1));
}

TEST(Token, NextGenerationAndSequenceSkipZero) {
  EXPECT_EQ(nextGeneration(0), 1u);
  EXPECT_EQ(nextGeneration(1), 2u);
  EXPECT_EQ(nextGeneration(0xFFFFFF), 1u);
  EXPECT_EQ(nextSequence(0xFFFFFFFF), 1u);
  EXPECT_EQ(nextSequence(41), 42u);
  EXPECT_NE(packToken(nextGeneration(0xFFFFFF), nextSequence(0xFFFFFFFF), 0), kNoToken);
}

}  // namespace
}  // namespace funkhaus::abi
