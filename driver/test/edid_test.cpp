// CVT timings and EDIDs: our own checks (checksums, fields) and edid-decode's, a parser and
// conformance checker nobody here wrote.
#include "funkhaus/vdisplay/edid.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>

#include "funkhaus/test/shell.h"
#include "funkhaus/vdisplay/protocol.h"

namespace funkhaus::vdisplay {
namespace {

bool haveEdidDecode() { return access("/usr/bin/edid-decode", X_OK) == 0; }

std::string run(const std::string& command) { return funkhaus::test::runShell(command).out; }

std::vector<uint8_t> edidFor(uint32_t w, uint32_t h, uint32_t mhz, bool hdr, uint32_t serial) {
  auto t = cvtReducedBlanking(w, h, mhz);
  EXPECT_TRUE(t.ok());
  EdidParams p;
  p.timing = *t;
  p.hdr = hdr;
  p.serial = serial;
  auto e = buildEdid(p);
  EXPECT_TRUE(e.ok()) << e.error().message;
  return *e;
}

TEST(Cvt, ReducedBlanking1080p60MatchesTheStandardMode) {
  auto t = cvtReducedBlanking(1920, 1080, 60000);
  ASSERT_TRUE(t.ok());
  // VESA's "1920x1080R": 138.5 MHz, 2080 x 1111 total.
  EXPECT_EQ(t->pixel_clock_hz, 138'500'000u);
  EXPECT_EQ(t->hTotal(), 2080u);
  EXPECT_EQ(t->vTotal(), 1111u);
  EXPECT_EQ(t->h_front, 48u);
  EXPECT_EQ(t->h_sync, 32u);
  EXPECT_EQ(t->h_back, 80u);
  EXPECT_EQ(t->v_front, 3u);
  EXPECT_EQ(t->v_sync, 5u);  // 16:9
  EXPECT_EQ(t->v_back, 23u);
  EXPECT_TRUE(t->h_sync_positive);
  EXPECT_FALSE(t->v_sync_positive);
  EXPECT_NEAR(t->refreshHz(), 59.934, 0.001);
}

TEST(Cvt, SyncWidthFollowsAspectRatio) {
  struct Case {
    uint32_t w, h, vsync;
  };
  for (const Case& c : {Case{1024, 768, 4}, Case{1920, 1080, 5}, Case{1920, 1200, 6},
                        Case{1280, 1024, 7}, Case{1280, 768, 7}, Case{2560, 1080, 10}}) {
    auto t = cvtReducedBlanking(c.w, c.h, 60000);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->v_sync, c.vsync) << c.w << "x" << c.h;
  }
  EXPECT_FALSE(cvtReducedBlanking(1366, 768, 60000).ok());  // not a multiple of the cell
  EXPECT_FALSE(cvtReducedBlanking(1920, 1080, 0).ok());
}

// When 460 us of blanking is fewer lines than front porch + sync + back porch, CVT 1.2 takes
// the minimum: 3 + sync + 6 (MIN_V_BPORCH = 6, as in X.org's xf86CVTMode). edid-decode of
// 2022-03 puts 7 lines of back porch here, so this case is checked against the standard only.
TEST(Cvt, MinimumVerticalBlankingOfShortScreens) {
  auto t = cvtReducedBlanking(4088, 320, 24000);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->v_sync, 10u);  // custom aspect ratio
  EXPECT_EQ(t->v_front + t->v_sync + t->v_back, 3u + 10u + 6u);
}

// edid-decode --cvt computes CVT independently; every field must agree with ours.
TEST(Cvt, AgreesWithEdidDecode) {
  if (!haveEdidDecode()) GTEST_SKIP() << "edid-decode is not installed";
  struct Case {
    uint32_t w, h, mhz;
  };
  const std::regex line1(R"(CVT:\s+(\d+)x(\d+)\s+([\d.]+) Hz.*?([\d.]+) MHz)");
  const std::regex porches(
      R"(Hfront\s+(\d+) Hsync\s+(\d+) Hback\s+(\d+)[\s\S]*Vfront\s+(\d+) Vsync\s+(\d+) Vback\s+(\d+))");
  for (const Case& c : {Case{1920, 1080, 60000}, Case{1280, 720, 144000}, Case{3840, 2160, 60000},
                        Case{2560, 1440, 120000}, Case{1024, 768, 75000}, Case{640, 480, 59940},
                        Case{1368, 770, 60000}, Case{320, 4094, 240000}, Case{1920, 1200, 50000},
                        Case{4088, 2160, 24000}}) {
    auto t = cvtReducedBlanking(c.w, c.h, c.mhz);
    ASSERT_TRUE(t.ok());
    const std::string out =
        run(fmt::format("edid-decode --cvt w={},h={},fps={:.3f},rb=1", c.w, c.h, c.mhz / 1000.0));
    std::smatch m, p;
    ASSERT_TRUE(std::regex_search(out, m, line1)) << out;
    ASSERT_TRUE(std::regex_search(out, p, porches)) << out;
    const std::string what = fmt::format("{}x{}@{}", c.w, c.h, c.mhz);
    EXPECT_NEAR(std::stod(m[4]) * 1e6, static_cast<double>(t->pixel_clock_hz), 1.0) << what;
    EXPECT_NEAR(std::stod(m[3]), t->refreshHz(), 1e-5) << what;
    EXPECT_EQ(std::stoul(p[1]), t->h_front) << what;
    EXPECT_EQ(std::stoul(p[2]), t->h_sync) << what;
    EXPECT_EQ(std::stoul(p[3]), t->h_back) << what;
    EXPECT_EQ(std::stoul(p[4]), t->v_front) << what;
    EXPECT_EQ(std::stoul(p[5]), t->v_sync) << what;
    EXPECT_EQ(std::stoul(p[6]), t->v_back) << what;
  }
}

TEST(Edid, ChecksumsAndFields) {
  const auto sdr = edidFor(1920, 1080, 60000, false, 0xABCDEF05);
  ASSERT_EQ(sdr.size(), 128u);
  EXPECT_EQ(edidBlockSum(sdr), 0);
  EXPECT_EQ(sdr[0], 0x00);
  EXPECT_EQ(sdr[1], 0xFF);
  EXPECT_EQ(sdr[18], 1);  // version 1.4
  EXPECT_EQ(sdr[19], 4);
  EXPECT_EQ(sdr[126], 0);  // no extension
  // Serial, little-endian.
  EXPECT_EQ(sdr[12] | sdr[13] << 8 | sdr[14] << 16 | uint32_t{sdr[15]} << 24, 0xABCDEF05u);
  // First detailed timing = the mode.
  const uint8_t* d = sdr.data() + 54;
  EXPECT_EQ(d[0] | d[1] << 8, 13850);  // 138.50 MHz in 10 kHz units
  EXPECT_EQ(d[2] | (d[4] >> 4) << 8, 1920);
  EXPECT_EQ(d[5] | (d[7] >> 4) << 8, 1080);
  EXPECT_EQ(d[3] | (d[4] & 0xF) << 8, 160);  // horizontal blanking
  EXPECT_EQ(d[6] | (d[7] & 0xF) << 8, 31);   // vertical blanking

  const auto hdr = edidFor(3840, 2160, 60000, true, 7);
  ASSERT_EQ(hdr.size(), 256u);
  EXPECT_EQ(edidBlockSum(std::span(hdr).first(128)), 0);
  EXPECT_EQ(edidBlockSum(std::span(hdr).subspan(128)), 0);
  EXPECT_EQ(hdr[126], 1);
  EXPECT_EQ(hdr[128], 0x02);         // CTA-861
  EXPECT_EQ((hdr[20] >> 4) & 7, 3);  // 10 bits per colour

  // Any single flipped byte breaks the checksum.
  auto broken = sdr;
  broken[60] ^= 0x10;
  EXPECT_NE(edidBlockSum(broken), 0);
}

TEST(Edid, EveryModeInBoundsFitsADetailedTiming) {
  for (uint32_t w : {320u, 640u, 1280u, 1920u, 2560u, 3840u, 4088u})
    for (uint32_t h : {320u, 480u, 1080u, 2160u, 4094u})
      for (uint32_t mhz : {24000u, 30000u, 59940u, 60000u, 120000u, 144000u, 240000u}) {
        if (!validateMode({w, h, mhz}).ok()) continue;
        auto t = cvtReducedBlanking(w, h, mhz);
        ASSERT_TRUE(t.ok());
        EdidParams p;
        p.timing = *t;
        p.hdr = (w + h) % 2 == 0;
        auto e = buildEdid(p);
        ASSERT_TRUE(e.ok()) << w << "x" << h << "@" << mhz << ": " << e.error().message;
        for (size_t b = 0; b < e->size(); b += 128)
          EXPECT_EQ(edidBlockSum(std::span(*e).subspan(b, 128)), 0);
      }
}

struct DecodeCase {
  uint32_t w, h, mhz;
  bool hdr;
};

class EdidDecode : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(EdidDecode, ConformsAndReportsModeSerialAndHdr) {
  if (!haveEdidDecode()) GTEST_SKIP() << "edid-decode is not installed";
  const DecodeCase c = GetParam();
  const uint32_t serial = 0x00C0FF00u | (c.w % 256);
  const auto edid = edidFor(c.w, c.h, c.mhz, c.hdr, serial);
  const std::string path = ::testing::TempDir() + "edid-" + std::to_string(getpid()) + ".bin";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(edid.data()), static_cast<std::streamsize>(edid.size()));
  const std::string out = run("edid-decode --check " + path + " 2>&1");
  std::remove(path.c_str());
  EXPECT_NE(out.find("EDID conformity: PASS"), std::string::npos) << out;
  EXPECT_EQ(out.find("Failures:"), std::string::npos) << out;
  EXPECT_EQ(out.find("Warnings:"), std::string::npos) << out;
  EXPECT_NE(out.find("EDID Structure Version & Revision: 1.4"), std::string::npos) << out;
  EXPECT_NE(out.find("Serial Number: " + std::to_string(serial)), std::string::npos) << out;
  EXPECT_NE(out.find("Manufacturer: FNK"), std::string::npos) << out;
  const std::regex dtd(fmt::format(R"(DTD 1:\s+{}x{}\s+([\d.]+) Hz)", c.w, c.h));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, dtd)) << out;
  EXPECT_NEAR(std::stod(m[1]), c.mhz / 1000.0, c.mhz / 1000.0 * 0.01) << out;  // CVT's clock step
  const bool has_hdr_block = out.find("HDR Static Metadata Data Block") != std::string::npos;
  EXPECT_EQ(has_hdr_block, c.hdr) << out;
  if (c.hdr) {
    EXPECT_NE(out.find("SMPTE ST2084"), std::string::npos) << out;
    EXPECT_NE(out.find("BT2020RGB"), std::string::npos) << out;
    EXPECT_NE(out.find("Bits per primary color channel: 10"), std::string::npos) << out;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Modes, EdidDecode,
    ::testing::Values(DecodeCase{1920, 1080, 60000, false}, DecodeCase{1920, 1080, 60000, true},
                      DecodeCase{3840, 2160, 60000, true}, DecodeCase{2560, 1440, 144000, false},
                      DecodeCase{1280, 720, 240000, true}, DecodeCase{1024, 768, 24000, false},
                      DecodeCase{1368, 770, 59940, true}, DecodeCase{320, 4094, 240000, false},
                      DecodeCase{4088, 320, 24000, true}));

}  // namespace
}  // namespace funkhaus::vdisplay
