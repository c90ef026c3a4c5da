// Restart policy on a fake clock: backoff sequence, reset after a stable run, permanent exits,
// intensity escalation to a session restart and to giving up.
#include "funkhaus/supervisor/restart_policy.h"

#include <gtest/gtest.h>

#include <csignal>

#include "funkhaus/abi/exit_codes.h"

namespace funkhaus::supervisor {
namespace {

using Action = RestartPolicy::Action;

constexpr ExitStatus kKilled{true, SIGKILL};
constexpr ExitStatus kTransient{false, abi::kExitFailure};
constexpr ExitStatus kAbiMismatch{false, abi::kExitAbiMismatch};

RestartPolicyConfig config() {
  RestartPolicyConfig c;
  c.initial_backoff = 100ms;
  c.max_backoff = 2s;
  c.stable_after = 5s;
  c.max_restarts = 100;  // out of the way unless a test lowers it
  c.window = 30s;
  return c;
}

TEST(ExitClassification, RangesAreTheRestartPolicy) {
  EXPECT_EQ(classifyExit({false, 0}), ExitKind::kStopped);
  EXPECT_EQ(classifyExit({false, 1}), ExitKind::kTransient);
  EXPECT_EQ(classifyExit({false, 63}), ExitKind::kTransient);
  EXPECT_EQ(classifyExit({false, 64}), ExitKind::kPermanent);
  EXPECT_EQ(classifyExit({false, 95}), ExitKind::kPermanent);
  EXPECT_EQ(classifyExit({false, 96}), ExitKind::kTransient);
  EXPECT_EQ(classifyExit({true, SIGKILL}), ExitKind::kTransient);
  EXPECT_EQ(classifyExit({true, SIGSEGV}), ExitKind::kTransient);
  EXPECT_EQ(describeExit({true, SIGKILL}), "killed by SIGKILL");
  EXPECT_EQ(describeExit({false, 64}), "exit code 64");
}

TEST(RestartPolicy, BackoffStartsAt100msDoublesAndCaps) {
  FakeClock clock;
  RestartPolicy p(config());
  const int64_t expected_ms[] = {100, 200, 400, 800, 1600, 2000, 2000};
  for (int64_t ms : expected_ms) {
    p.onStarted(clock.now());
    clock.advance(10ms);  // dies quickly each time
    auto d = p.onUnexpectedExit(kKilled, clock.now());
    ASSERT_EQ(d.action, Action::kRestart);
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(d.delay).count(), ms);
    clock.advance(d.delay);
  }
  EXPECT_EQ(p.restarts(), 7);
}

TEST(RestartPolicy, StableRunResetsBackoff) {
  FakeClock clock;
  RestartPolicy p(config());
  for (int i = 0; i < 4; ++i) {
    p.onStarted(clock.now());
    clock.advance(10ms);
    clock.advance(p.onUnexpectedExit(kTransient, clock.now()).delay);
  }
  EXPECT_EQ(p.nextBackoff(), 1600ms);
  p.onStarted(clock.now());
  clock.advance(4999ms);  // not quite stable
  EXPECT_EQ(p.onUnexpectedExit(kTransient, clock.now()).delay, 1600ms);
  clock.advance(1600ms);
  p.onStarted(clock.now());
  clock.advance(5s);  // stable
  EXPECT_EQ(p.onUnexpectedExit(kTransient, clock.now()).delay, 100ms);
}

TEST(RestartPolicy, PermanentExitIsNotRestarted) {
  FakeClock clock;
  RestartPolicy p(config());
  p.onStarted(clock.now());
  auto d = p.onUnexpectedExit(kAbiMismatch, clock.now());
  EXPECT_EQ(d.action, Action::kLeaveFailed);
  EXPECT_NE(d.reason.find("exit code 64 is permanent"), std::string::npos) << d.reason;
  EXPECT_EQ(p.restarts(), 0);
}

TEST(RestartPolicy, MoreThanRRestartsInTSecondsEscalates) {
  FakeClock clock;
  RestartPolicyConfig c = config();
  c.max_restarts = 3;
  c.window = 10s;
  RestartPolicy p(c);
  for (int i = 0; i < 3; ++i) {
    p.onStarted(clock.now());
    clock.advance(1s);
    EXPECT_EQ(p.onUnexpectedExit(kKilled, clock.now()).action, Action::kRestart) << i;
  }
  p.onStarted(clock.now());
  clock.advance(1s);
  auto d = p.onUnexpectedExit(kKilled, clock.now());
  EXPECT_EQ(d.action, Action::kRestartSession);
  EXPECT_NE(d.reason.find("more than 3 restarts in 10 s"), std::string::npos) << d.reason;
}

TEST(RestartPolicy, RestartsOutsideTheWindowDoNotCount) {
  FakeClock clock;
  RestartPolicyConfig c = config();
  c.max_restarts = 3;
  c.window = 10s;
  RestartPolicy p(c);
  for (int i = 0; i < 20; ++i) {
    p.onStarted(clock.now());
    clock.advance(4s);  // at most 3 exits in any 10 s
    EXPECT_EQ(p.onUnexpectedExit(kKilled, clock.now()).action, Action::kRestart) << i;
  }
}

TEST(SessionEscalation, PastTheLimitFunkhausdGivesUp) {
  FakeClock clock;
  RestartPolicyConfig c = config();
  c.max_session_restarts = 2;
  c.window = 30s;
  SessionEscalation e(c);
  EXPECT_TRUE(e.allowSessionRestart(clock.now()));
  clock.advance(5s);
  EXPECT_TRUE(e.allowSessionRestart(clock.now()));
  clock.advance(5s);
  EXPECT_FALSE(e.allowSessionRestart(clock.now()));
  clock.advance(60s);
  EXPECT_TRUE(e.allowSessionRestart(clock.now())) << "old escalations age out of the window";
}

}  // namespace
}  // namespace funkhaus::supervisor
