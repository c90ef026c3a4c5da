// funkhaus-barcode: reads raw decoded frames (gray, yuv420p or nv12) from stdin or a file and
// prints each frame's barcode (frame number, capture time, latency). Runs as its own process.
#pragma once

namespace funkhaus::capture {

// Exit codes of funkhaus-barcode.
inline constexpr int kBarcodeToolAllRead = 0;     // every frame's barcode was read
inline constexpr int kBarcodeToolUnreadable = 1;  // some frame was unreadable, or no frames
inline constexpr int kBarcodeToolBadInput = 2;    // bad arguments, unreadable input, cut frame

int runBarcodeTool(int argc, const char* const* argv);

}  // namespace funkhaus::capture
