// The Linux session source: the active session of a seat from systemd-logind (sd-login),
// watched with sd_login_monitor on the event loop.
#include <systemd/sd-daemon.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include <utility>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "funkhaus/supervisor/session_source.h"

namespace funkhaus::supervisor {
namespace {

namespace asio = boost::asio;

// sd-login returns malloc'ed strings; an absent value is "".
std::string take(char* s) {
  std::string out = s != nullptr ? s : "";
  free(s);
  return out;
}

class LogindSessionSource final : public SessionSource {
 public:
  LogindSessionSource(std::string seat, sd_login_monitor* monitor)
      : seat_(std::move(seat)), monitor_(monitor) {}
  ~LogindSessionSource() override {
    *alive_ = false;
    watch_.reset();
    sd_login_monitor_unref(monitor_);
  }

  Result<std::optional<SessionInfo>> current() override {
    char* session = nullptr;
    uid_t uid = 0;
    int r = sd_seat_get_active(seat_.c_str(), &session, &uid);
    if (r == -ENODATA || r == -ENXIO || r == -ENOENT) return std::optional<SessionInfo>();
    if (r < 0) return makeError("logind: active session of {}: {}", seat_, std::strerror(-r));
    LogindSession facts;
    facts.id = take(session);
    facts.seat = seat_;
    facts.uid = uid;
    char* value = nullptr;
    if (sd_session_get_state(facts.id.c_str(), &value) >= 0) facts.state = take(value);
    // A session on its way out is nobody's session any more; the next one follows.
    if (facts.state == "closing") return std::optional<SessionInfo>();
    value = nullptr;
    if (sd_session_get_type(facts.id.c_str(), &value) >= 0) facts.type = take(value);
    value = nullptr;
    if (sd_session_get_class(facts.id.c_str(), &value) >= 0) facts.klass = take(value);
    value = nullptr;
    if (sd_session_get_display(facts.id.c_str(), &value) >= 0) facts.display = take(value);
    auto info = sessionFromLogind(facts);
    if (!info) return info.error();
    return std::optional<SessionInfo>(std::move(*info));
  }

  void watch(asio::io_context& io, std::function<void()> changed) override {
    changed_ = std::move(changed);
    const int fd = sd_login_monitor_get_fd(monitor_);
    if (fd < 0) return;
    watch_ = std::make_unique<asio::posix::stream_descriptor>(io, dup(fd));
    arm();
  }

 private:
  void arm() {
    watch_->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, alive = alive_](const boost::system::error_code& ec) {
                         if (ec || !*alive || !watch_) return;
                         sd_login_monitor_flush(monitor_);
                         arm();
                         changed_();
                       });
  }

  std::string seat_;
  sd_login_monitor* monitor_;
  std::function<void()> changed_;
  std::unique_ptr<asio::posix::stream_descriptor> watch_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

Result<std::unique_ptr<SessionSource>> SessionSource::createLogind(const std::string& seat) {
  if (sd_booted() <= 0)
    return makeError(
        "session.source = \"logind\" needs a system booted with systemd (systemd-logind); "
        "use [session] source = \"fixed\" on this machine");
  sd_login_monitor* monitor = nullptr;
  if (int r = sd_login_monitor_new(nullptr, &monitor); r < 0)
    return makeError("logind: cannot watch sessions: {}", std::strerror(-r));
  return std::unique_ptr<SessionSource>(std::make_unique<LogindSessionSource>(seat, monitor));
}

}  // namespace funkhaus::supervisor
