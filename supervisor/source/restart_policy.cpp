// Restart policy: exit classification, exponential backoff, intensity escalation.
#include "funkhaus/supervisor/restart_policy.h"

#include <fmt/format.h>
#include <string.h>

#include <algorithm>

#include "funkhaus/abi/exit_codes.h"

namespace funkhaus::supervisor {

ExitKind classifyExit(const ExitStatus& status) {
  if (status.signaled) return ExitKind::kTransient;
  if (status.code == abi::kExitStopped) return ExitKind::kStopped;
  if (status.code >= abi::kExitPermanentFirst && status.code <= abi::kExitPermanentLast)
    return ExitKind::kPermanent;
  return ExitKind::kTransient;
}

RestartPolicy::RestartPolicy(const RestartPolicyConfig& config)
    : config_(config), backoff_(config.initial_backoff) {}

void RestartPolicy::onStarted(TimePoint now) { started_ = now; }

void RestartPolicy::reset() {
  backoff_ = config_.initial_backoff;
  recent_.clear();
}

RestartPolicy::Decision RestartPolicy::onUnexpectedExit(const ExitStatus& status, TimePoint now) {
  const std::string what = describeExit(status);
  if (classifyExit(status) == ExitKind::kPermanent)
    return {Action::kLeaveFailed, {}, fmt::format("{} is permanent: not restarted", what)};
  if (now - started_ >= config_.stable_after) backoff_ = config_.initial_backoff;
  while (!recent_.empty() && now - recent_.front() > config_.window) recent_.pop_front();
  recent_.push_back(now);
  ++restarts_;
  if (static_cast<int>(recent_.size()) > config_.max_restarts) {
    recent_.clear();
    backoff_ = config_.initial_backoff;
    return {Action::kRestartSession,
            {},
            fmt::format("{}; more than {} restarts in {} s: restarting the session's workers", what,
                        config_.max_restarts,
                        std::chrono::duration_cast<std::chrono::seconds>(config_.window).count())};
  }
  const Duration delay = backoff_;
  backoff_ = std::min<Duration>(backoff_ * 2, config_.max_backoff);
  return {Action::kRestart, delay,
          fmt::format("{}; restarting in {} ms", what,
                      std::chrono::duration_cast<std::chrono::milliseconds>(delay).count())};
}

bool SessionEscalation::allowSessionRestart(TimePoint now) {
  while (!recent_.empty() && now - recent_.front() > config_.window) recent_.pop_front();
  recent_.push_back(now);
  return static_cast<int>(recent_.size()) <= config_.max_session_restarts;
}

}  // namespace funkhaus::supervisor
