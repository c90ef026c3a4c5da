// ConsoleSessionSource::createWts (windows_host.h): the console session from WTS.
#include <utility>
// Asio before windows.h (windows_host.h includes it).
#include <boost/asio.hpp>
// Then windows.h, and wtsapi32.h after it.
#include <windows.h>

#include <wtsapi32.h>

#include "funkhaus/platform/handle.h"
#include "funkhaus/supervisor/windows_host.h"

namespace funkhaus::supervisor {
namespace {

constexpr DWORD kNoSession = 0xFFFFFFFF;  // WTSGetActiveConsoleSessionId: nobody attached

// The user logged on in session `session` ("" when nobody is, or WTS cannot tell).
std::string sessionUser(DWORD session) {
  wchar_t* name = nullptr;
  DWORD bytes = 0;
  if (!WTSQuerySessionInformationW(WTS_CURRENT_SERVER_HANDLE, session, WTSUserName, &name, &bytes))
    return "";
  std::string out;
  const int n = WideCharToMultiByte(CP_UTF8, 0, name, -1, nullptr, 0, nullptr, nullptr);
  if (n > 1) {
    out.resize(static_cast<size_t>(n));
    WideCharToMultiByte(CP_UTF8, 0, name, -1, out.data(), n, nullptr, nullptr);
    out.pop_back();  // the terminating NUL
  }
  WTSFreeMemory(name);
  return out;
}

class WtsSessions final : public ConsoleSessionSource {
 public:
  explicit WtsSessions(bool need_token) : need_token_(need_token) {}

  std::optional<ConsoleSession> current() override {
    const DWORD id = WTSGetActiveConsoleSessionId();
    if (id == kNoSession) return std::nullopt;
    if (need_token_) {
      // The log-on screen has no user's token (ERROR_NO_TOKEN): nobody to run workers as yet.
      HANDLE token = nullptr;
      if (!WTSQueryUserToken(id, &token)) return std::nullopt;
      platform::UniqueHandle owned(token);
    }
    return ConsoleSession{id, sessionUser(id)};
  }

 private:
  bool need_token_;
};

}  // namespace

std::unique_ptr<ConsoleSessionSource> ConsoleSessionSource::createWts(bool need_token) {
  return std::make_unique<WtsSessions>(need_token);
}

}  // namespace funkhaus::supervisor
