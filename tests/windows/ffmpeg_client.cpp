// Linux's ffmpeg as the Windows tests' RTSP viewer (ffmpeg_client.h).
#include "ffmpeg_client.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "child_process.h"
#include "funkhaus/capture/barcode.h"

namespace funkhaus::test {

std::vector<uint64_t> playWithFfmpeg(uint16_t port, const char* transport, int frames,
                                     uint32_t width, uint32_t height) {
  const std::string raw = "/tmp/" + uniqueToken("ffmpeg") + ".raw";
  const std::string url = "rtsp://127.0.0.1:" + std::to_string(port) + "/live";
  const int status = runUnixShell(
      "exec timeout 60 ffmpeg -nostdin -loglevel error -rtsp_transport " + std::string(transport) +
          " -i " + url + " -frames:v " + std::to_string(frames) + " -f rawvideo -pix_fmt gray -y " +
          raw + " > " + raw + ".log 2>&1",
      90'000);
  std::string windows_path = "Z:" + raw;
  for (char& c : windows_path)
    if (c == '/') c = '\\';
  std::ifstream log(windows_path + ".log");
  const std::string said((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  log.close();
  DeleteFileA((windows_path + ".log").c_str());
  std::ifstream in(windows_path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  in.close();
  DeleteFileA(windows_path.c_str());
  EXPECT_EQ(status, 0) << "ffmpeg over " << transport << ": " << said;
  const size_t frame = size_t{width} * height;
  EXPECT_EQ(bytes.size(), frame * static_cast<size_t>(frames)) << transport;
  std::vector<uint64_t> numbers;
  for (size_t at = 0; at + frame <= bytes.size(); at += frame) {
    auto code = capture::readBarcode(bytes.data() + at, width, width, height);
    EXPECT_TRUE(code) << transport << " frame " << at / frame << ": "
                      << (code ? "" : code.error().message);
    if (code) numbers.push_back(code->frame_number);
  }
  return numbers;
}

}  // namespace funkhaus::test
