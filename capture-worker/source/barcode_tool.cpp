// funkhaus-barcode: one output line per raw frame.
#include "funkhaus/capture/barcode_tool.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "funkhaus/capture/barcode.h"
#include "funkhaus/common/clock.h"

namespace funkhaus::capture {

int runBarcodeTool(int argc, const char* const* argv) {
  CLI::App app{
      "funkhaus-barcode: reads raw frames and prints, per frame, the frame number and "
      "CLOCK_MONOTONIC capture time stamped by funkhaus-capture, and the latency (now - capture "
      "time; meaningful on the capturing machine). Output lines:\n"
      "  index=I frame=N capture_ns=T latency_us=L\n"
      "  index=I unreadable: REASON\n"
      "Exit: 0 all frames read, 1 some unreadable (or none at all), 2 bad arguments or input."};
  uint32_t width = 0, height = 0;
  std::string pix_fmt = "yuv420p";
  std::string input = "-";
  app.add_option("--width", width, "frame width")->required()->check(CLI::Range(1u, 16384u));
  app.add_option("--height", height, "frame height")->required()->check(CLI::Range(1u, 16384u));
  app.add_option("--pix-fmt", pix_fmt, "gray, yuv420p (default) or nv12")
      ->check(CLI::IsMember({"gray", "yuv420p", "nv12"}));
  app.add_option("--input", input, "file of raw frames; - (default) reads stdin");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return kBarcodeToolAllRead;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "funkhaus-barcode: %s (see --help)\n", e.what());
    return kBarcodeToolBadInput;
  }
  const uint64_t luma = uint64_t{width} * height;
  const uint64_t chroma = uint64_t{(width + 1) / 2} * ((height + 1) / 2);
  const uint64_t frame_size = pix_fmt == "gray" ? luma : luma + 2 * chroma;

  FILE* in = stdin;
  if (input != "-") {
    in = std::fopen(input.c_str(), "rb");
    if (in == nullptr) {
      std::fprintf(stderr, "funkhaus-barcode: cannot open %s: %s\n", input.c_str(),
                   std::strerror(errno));
      return kBarcodeToolBadInput;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line per frame, as it comes
  std::vector<uint8_t> frame(frame_size);
  uint64_t index = 0, readable = 0;
  int code = kBarcodeToolAllRead;
  for (;; ++index) {
    const size_t got = std::fread(frame.data(), 1, frame.size(), in);
    if (got == 0 && std::feof(in)) break;
    if (got != frame.size()) {
      std::fprintf(
          stderr, "funkhaus-barcode: %s after %llu frames (%zu of %llu bytes of frame %llu)\n",
          std::ferror(in) ? "read error" : "input ends inside a frame",
          static_cast<unsigned long long>(index), got, static_cast<unsigned long long>(frame_size),
          static_cast<unsigned long long>(index));
      code = kBarcodeToolBadInput;
      break;
    }
    const uint64_t now = monotonicNs();
    // Every supported format starts with a packed luma plane.
    auto data = readBarcode(frame.data(), width, width, height);
    if (data) {
      ++readable;
      const auto latency_us =
          static_cast<long long>(static_cast<int64_t>(now - data->capture_ns) / 1000);
      std::printf("index=%llu frame=%llu capture_ns=%llu latency_us=%lld\n",
                  static_cast<unsigned long long>(index),
                  static_cast<unsigned long long>(data->frame_number),
                  static_cast<unsigned long long>(data->capture_ns), latency_us);
    } else {
      std::printf("index=%llu unreadable: %s\n", static_cast<unsigned long long>(index),
                  data.error().message.c_str());
    }
  }
  if (in != stdin) std::fclose(in);
  std::fprintf(stderr, "funkhaus-barcode: %llu frames, %llu read, %llu unreadable\n",
               static_cast<unsigned long long>(index), static_cast<unsigned long long>(readable),
               static_cast<unsigned long long>(index - readable));
  if (code != kBarcodeToolAllRead) return code;
  return index > 0 && readable == index ? kBarcodeToolAllRead : kBarcodeToolUnreadable;
}

}  // namespace funkhaus::capture
