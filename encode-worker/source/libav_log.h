// libavcodec's log (and libx264's, which goes through it): routed into spdlog, or collected
// while a probe runs so that it becomes the reason in a single fallback line. One callback for
// the whole process; any thread (libav logs from its own threads too).
#pragma once

#include <string>

namespace funkhaus::encode {

// Collects libav messages of warning level and worse while alive.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string take();

 private:
  std::string text_;
};

}  // namespace funkhaus::encode
