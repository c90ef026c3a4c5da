// Restart policy of funkhausd: what to do when a worker exits (restart after a backoff, leave
// it failed, restart the session's whole set, or give up). Pure logic on injected time; used
// by the supervisor's event loop thread.
#pragma once

#include <chrono>
#include <deque>
#include <string>

#include "funkhaus/common/clock.h"
#include "funkhaus/platform/process.h"

namespace funkhaus::supervisor {

using platform::describeExit;
using platform::ExitStatus;

using namespace std::chrono_literals;

struct RestartPolicyConfig {
  Duration initial_backoff = 100ms;  // first restart delay; doubles on each restart
  Duration max_backoff = 10s;        // the cap of the doubling
  Duration stable_after = 5s;        // a worker up this long starts again from initial_backoff
  int max_restarts = 5;              // more restarts than this within `window` escalates
  Duration window = 30s;
  int max_session_restarts = 2;  // more whole-set restarts within `window`: funkhausd exits
};

enum class ExitKind { kStopped, kTransient, kPermanent };

// 0: stopped as asked; 1..63 and any signal: transient; 64..95: permanent; anything else
// (96..255: a worker that does not follow the convention) counts as transient.
ExitKind classifyExit(const ExitStatus& status);

// Per worker.
class RestartPolicy {
 public:
  enum class Action {
    kRestart,         // restart this worker after `delay`
    kLeaveFailed,     // permanent exit: show it failed, do not restart
    kRestartSession,  // too many restarts: restart the session's whole set
  };
  struct Decision {
    Action action;
    Duration delay{};
    std::string reason;
  };

  explicit RestartPolicy(const RestartPolicyConfig& config);

  void onStarted(TimePoint now);
  // An exit the supervisor did not ask for.
  Decision onUnexpectedExit(const ExitStatus& status, TimePoint now);
  // The session's set was restarted: forget this worker's history.
  void reset();

  int restarts() const { return restarts_; }
  Duration nextBackoff() const { return backoff_; }

 private:
  RestartPolicyConfig config_;
  Duration backoff_;
  TimePoint started_{};
  std::deque<TimePoint> recent_;  // restarts within the window
  int restarts_ = 0;              // total, for status
};

// Per session: counts escalations to a whole-set restart.
class SessionEscalation {
 public:
  explicit SessionEscalation(const RestartPolicyConfig& config) : config_(config) {}
  // True if the whole set may be restarted; false if funkhausd must give up (exit non-zero and
  // let systemd or the SCM take over).
  bool allowSessionRestart(TimePoint now);

 private:
  RestartPolicyConfig config_;
  std::deque<TimePoint> recent_;
};

}  // namespace funkhaus::supervisor
