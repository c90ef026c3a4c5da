// Linux's ffmpeg as the viewer of the Windows tests: it runs outside Wine (runUnixShell) and
// plays what funkhaus-net.exe serves. Used by the tests' main thread.
#pragma once

#include <cstdint>
#include <vector>

namespace funkhaus::test {

// Linux's ffmpeg (outside Wine) plays rtsp://127.0.0.1:PORT/live from funkhaus-net.exe over
// `transport`: `frames` gray frames of the synthetic source into a file; each one's barcode read
// here. Returns the frame numbers read (empty and a failure when ffmpeg or a barcode failed).
std::vector<uint64_t> playWithFfmpeg(uint16_t port, const char* transport, int frames,
                                     uint32_t width, uint32_t height);

}  // namespace funkhaus::test
