// libav's log callback: into spdlog, to stderr before routing is set up, or into a LogCapture.
#include "libav_log.h"

extern "C" {
#include <libavutil/log.h>
}

#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

#include "funkhaus/encode/encoder.h"

namespace funkhaus::encode {
namespace {

// One callback for the whole process. While a probe runs, messages are collected (they become
// the reason in the single fallback line) instead of being logged.
std::mutex g_log_mutex;
bool g_route_to_spdlog = false;
std::string* g_capture = nullptr;

void libavLogCallback(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > av_log_get_level()) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  std::lock_guard lock(g_log_mutex);
  if (g_capture != nullptr) {
    if (level <= AV_LOG_WARNING) {
      if (!g_capture->empty()) *g_capture += "; ";
      *g_capture += text;
    }
    return;
  }
  if (!g_route_to_spdlog) {
    std::fprintf(stderr, "%s\n", text.c_str());
    return;
  }
  if (level <= AV_LOG_FATAL) {
    spdlog::critical("{}", text);
  } else if (level <= AV_LOG_ERROR) {
    spdlog::error("{}", text);
  } else if (level <= AV_LOG_WARNING) {
    spdlog::warn("{}", text);
  } else {
    spdlog::debug("{}", text);  // libav's "info" is chatty (cpu flags, per-encoder summaries)
  }
}

}  // namespace

LogCapture::LogCapture() {
  av_log_set_callback(libavLogCallback);
  std::lock_guard lock(g_log_mutex);
  g_capture = &text_;
}

LogCapture::~LogCapture() {
  std::lock_guard lock(g_log_mutex);
  g_capture = nullptr;
}

std::string LogCapture::take() {
  std::lock_guard lock(g_log_mutex);
  return std::move(text_);
}

void routeLibavLogToSpdlog() {
  {
    std::lock_guard lock(g_log_mutex);
    g_route_to_spdlog = true;
  }
  av_log_set_level(AV_LOG_INFO);
  av_log_set_callback(libavLogCallback);
}

}  // namespace funkhaus::encode
