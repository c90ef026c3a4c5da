// ChildProcess: the fd map, the environment, stop with grace and SIGKILL, set-up failures,
// reaping (no zombie is left), with real child processes (/bin/sh).
#include "funkhaus/common/child_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>

namespace funkhaus {
namespace {

using namespace std::chrono_literals;

std::string readAll(int fd) {
  std::string out;
  char buffer[256];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  return out;
}

struct Pipe {
  Pipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) std::abort();
    read_end.reset(p[0]);
    write_end.reset(p[1]);
  }
  UniqueFd read_end, write_end;
};

TEST(ChildProcess, MapsExactlyTheFdsItIsGiven) {
  // Not close-on-exec, and numbered below the highest fd the child keeps (9, the highest dash
  // can redirect to): must still not leak into the child. Taken before the pipes take the low
  // numbers.
  int free_fd = 4;
  while (free_fd < 9 && fcntl(free_fd, F_GETFD) >= 0) ++free_fd;
  if (free_fd == 9) GTEST_SKIP() << "fds 4..8 are all in use";
  UniqueFd stray_below(open("/dev/null", O_RDONLY));
  ASSERT_TRUE(stray_below.valid());
  if (stray_below.get() != free_fd) {
    ASSERT_EQ(dup2(stray_below.get(), free_fd), free_fd);
    stray_below = UniqueFd(free_fd);
  }
  Pipe out, extra;
  ChildSpec spec;
  spec.program = "/bin/sh";
  spec.args = {"-c", "echo out; echo extra >&9; ls /proc/self/fd | sort -n | tr '\\n' ' '"};
  spec.fds = {{9, extra.write_end.get()}};
  spec.stdout_fd = out.write_end.get();
  spec.drop_privileges = false;
  auto child = ChildProcess::spawn(spec);
  ASSERT_TRUE(child.ok()) << child.error().message;
  out.write_end.reset();
  extra.write_end.reset();
  EXPECT_EQ(child->wait(5s), (ExitStatus{false, 0}));
  const std::string text = readAll(out.read_end.get());
  EXPECT_EQ(text.substr(0, 4), "out\n");
  // ls's own directory fd (3) shows up too; 0, 1, 2 and 9 are what the child was given.
  EXPECT_NE(text.find("0 1 2 3 9 "), std::string::npos) << text;
  EXPECT_EQ(text.find(" " + std::to_string(free_fd) + " "), std::string::npos) << text;
  EXPECT_EQ(readAll(extra.read_end.get()), "extra\n");
}

TEST(ChildProcess, GetsExactlyTheEnvironmentItIsGiven) {
  Pipe out;
  ChildSpec spec;
  spec.program = "/usr/bin/env";
  spec.environment = std::map<std::string, std::string>{{"ONLY", "this"}};
  spec.stdout_fd = out.write_end.get();
  spec.drop_privileges = false;
  auto child = ChildProcess::spawn(spec);
  ASSERT_TRUE(child.ok());
  out.write_end.reset();
  EXPECT_EQ(child->wait(5s), (ExitStatus{false, 0}));
  EXPECT_EQ(readAll(out.read_end.get()), "ONLY=this\n");
}

TEST(ChildProcess, StopSendsSigtermThenSigkill) {
  ChildSpec polite;
  polite.program = "sleep";  // looked up in PATH
  polite.args = {"60"};
  auto a = ChildProcess::spawn(polite);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->stop(2s), (ExitStatus{true, SIGTERM}));
  EXPECT_FALSE(a->running());
  EXPECT_EQ(a->handle(), -1) << "reaped";

  ChildSpec stubborn;
  stubborn.program = "/bin/sh";
  stubborn.args = {"-c", "trap '' TERM; echo up; sleep 60"};
  Pipe out;
  stubborn.stdout_fd = out.write_end.get();
  auto b = ChildProcess::spawn(stubborn);
  ASSERT_TRUE(b.ok());
  out.write_end.reset();
  char c[3];
  ASSERT_EQ(read(out.read_end.get(), c, 3), 3) << "the trap is set";
  EXPECT_EQ(b->stop(200ms), (ExitStatus{true, SIGKILL}));
}

TEST(ChildProcess, AFailedSetUpIsItsExitCodeAndAMissingProgramAnError) {
  ChildSpec missing;
  missing.program = "/nonexistent/program";
  auto refused = ChildProcess::spawn(missing);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(refused.error().message.find("/nonexistent/program"), std::string::npos);

  ChildSpec not_in_path;
  not_in_path.program = "funkhaus-no-such-program";
  not_in_path.setup_failure_exit = 77;
  Pipe err;
  not_in_path.stdout_fd = err.write_end.get();
  auto child = ChildProcess::spawn(not_in_path);
  ASSERT_TRUE(child.ok());
  err.write_end.reset();
  EXPECT_EQ(child->wait(5s), (ExitStatus{false, 77}));
  EXPECT_NE(readAll(err.read_end.get()).find("set-up failed at execve"), std::string::npos);
}

TEST(ChildProcess, DestroyingOneThatRunsKillsAndReapsIt) {
  pid_t pid = -1;
  {
    ChildSpec spec;
    spec.program = "sleep";
    spec.args = {"60"};
    auto child = ChildProcess::spawn(spec);
    ASSERT_TRUE(child.ok());
    pid = child->pid();
  }
  EXPECT_NE(kill(pid, 0), 0) << "no process and no zombie left";
  EXPECT_EQ(errno, ESRCH);
}

TEST(ChildProcess, DescribesExits) {
  EXPECT_EQ(describeExit({false, 3}), "exit code 3");
  EXPECT_EQ(describeExit({true, SIGKILL}), "killed by SIGKILL");
}

}  // namespace
}  // namespace funkhaus
