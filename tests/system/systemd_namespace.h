// SystemdNamespace: a real systemd booted as PID 1 of a new PID + mount namespace on this
// machine (with dbus and logind), for tests of funkhaus as a service and of the logind
// session source. Test processes only; needs root. Everything it starts dies with the test.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace funkhaus::test {

// Shell-quotes one argument for sh -c.
inline std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// Runs `command` with sh -c on the host; returns the exit status and what it printed
// (stdout and stderr).
struct CommandResult {
  int status = -1;
  std::string output;
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

inline CommandResult runCommand(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  r.status = pclose(p);
  return r;
}

class SystemdNamespace {
 public:
  // Why a real systemd cannot be booted here, or "" when it can be tried.
  static std::string unavailableReason() {
    if (geteuid() != 0) return "needs root (boots systemd in a new PID + mount namespace)";
    for (const char* tool : {"/lib/systemd/systemd", "/usr/bin/unshare", "/usr/bin/nsenter"})
      if (access(tool, X_OK) != 0) return std::string(tool) + " is missing";
    return "";
  }

  // How the namespace's file system relates to the host's.
  struct Options {
    std::chrono::seconds timeout = std::chrono::seconds(90);
    // Empty: the namespace shares the host's root file system (only /tmp, /var/tmp, /run and the
    // journal are private), so what runs in it can change the host. Set: the root is an overlay
    // of the host's root whose upper layer is a tmpfs mounted on this directory (which must
    // exist; put it in the build tree, never under /tmp). Whatever happens in the namespace then
    // (dpkg -i, useradd, systemd-tmpfiles, files written anywhere) lands in that tmpfs and is
    // gone at power-off; the host never sees it. /dev/shm is private too.
    std::filesystem::path overlay_mountpoint;
    // With an overlay: host directories bound read-write at the same path inside, so that
    // files the test writes there after the boot are seen on both sides (the overlay's lower
    // layer must not change while it is mounted).
    std::vector<std::filesystem::path> shared;
    // With an overlay: boot into a target that starts only dbus, logind and user sessions
    // instead of default.target, so that services the host's image enables (a database, ssh,
    // ...) do not start in the namespace, which shares the host's network.
    bool minimal = false;
  };

  // Boots systemd and waits until it is running (or degraded). On failure returns nullptr and
  // sets *why; whatever was started is stopped again.
  static std::unique_ptr<SystemdNamespace> boot(
      std::string* why, std::chrono::seconds timeout = std::chrono::seconds(90)) {
    Options options;
    options.timeout = timeout;
    return boot(why, options);
  }

  static std::unique_ptr<SystemdNamespace> boot(std::string* why, const Options& options) {
    const std::chrono::seconds timeout = options.timeout;
    auto ns = std::unique_ptr<SystemdNamespace>(new SystemdNamespace());
    ns->log_ = std::filesystem::temp_directory_path() /
               ("funkhaus-systemd-" + std::to_string(getpid()) + ".log");
    const std::string script = bootScript(options);
    const pid_t parent = getpid();
    ns->unshare_ = fork();
    if (ns->unshare_ < 0) {
      *why = "fork failed";
      return nullptr;
    }
    if (ns->unshare_ == 0) {
      // If the test dies, unshare dies, and --kill-child takes systemd (and so the whole
      // namespace) with it.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      setsid();
      const int out = open(ns->log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
      }
      execl("/usr/bin/unshare", "unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--mount",
            "--mount-proc", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string state;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ns->systemd_ <= 0) ns->systemd_ = ns->findSystemd();
      if (ns->systemd_ > 0) {
        state = ns->run("systemctl is-system-running").output;
        while (!state.empty() && (state.back() == '\n' || state.back() == ' ')) state.pop_back();
        if (state == "running" || state == "degraded") return ns;
      }
      int status = 0;
      if (waitpid(ns->unshare_, &status, WNOHANG) == ns->unshare_) {
        ns->unshare_ = -1;
        *why = "systemd exited while booting; see " + ns->log_.string();
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    *why = "systemd did not reach running within " + std::to_string(timeout.count()) +
           " s (state: " + state + "); see " + ns->log_.string();
    return nullptr;
  }

  ~SystemdNamespace() {
    if (unshare_ <= 0) return;
    if (systemd_ > 0) (void)run("systemctl --no-block poweroff");
    for (int i = 0; i < 300; ++i) {
      int status = 0;
      if (waitpid(unshare_, &status, WNOHANG) == unshare_) {
        unshare_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (unshare_ > 0) {  // did not power off in 30 s: take it down, keep the log
      if (systemd_ > 0) kill(systemd_, SIGKILL);
      kill(unshare_, SIGKILL);
      waitpid(unshare_, nullptr, 0);
      return;
    }
    std::error_code ec;
    std::filesystem::remove(log_, ec);
  }

  pid_t systemdPid() const { return systemd_; }
  const std::filesystem::path& logPath() const { return log_; }

  // The prefix that runs a command inside the namespace (its mounts and PIDs).
  std::string enter() const { return "nsenter -t " + std::to_string(systemd_) + " -m -p -- "; }
  // Runs a shell command inside the namespace.
  CommandResult run(const std::string& command) const {
    return runCommand(enter() + "sh -c " + shellQuote(command));
  }

 private:
  SystemdNamespace() = default;

  // The shell script run as PID 1 of the new namespace before it execs systemd.
  static std::string bootScript(const Options& options) {
    // Private /tmp, /var/tmp, /run and journal: systemd-tmpfiles at boot empties /tmp and fills
    // /run, and the host's must stay as they were. Hiding /sys/class/tty makes logind treat
    // seat0 as a seat without VTs: a new session there becomes the active one at once, and
    // `loginctl activate` switches without a VT.
    const std::string boot_systemd =
        "exec env container=lxc /lib/systemd/systemd --system --log-target=console";
    if (options.overlay_mountpoint.empty())
      return "mount -t tmpfs -o mode=1777 none /tmp && "
             "mount -t tmpfs -o mode=1777 none /var/tmp && "
             "mount -t tmpfs -o mode=755 none /run && mount -t tmpfs none /sys/class/tty && "
             "{ ! [ -d /var/log/journal ] || mount -t tmpfs none /var/log/journal; } && " +
             boot_systemd;
    // The overlay: lower = the host's root file system (its own mount only, so /proc, /sys,
    // /dev are mounted anew or bound in), upper = a tmpfs, so the host's disk is never written.
    // The upper layer must not live on the lower file system (overlayfs refuses overlapping
    // layers), which the tmpfs also ensures. Then pivot_root into it and boot.
    const std::string m = shellQuote(options.overlay_mountpoint.string());
    std::string s =
        "set -e; M=" + m +
        "; mount -t tmpfs -o mode=755 funkhaus-overlay \"$M\"; "
        "mkdir \"$M/upper\" \"$M/work\" \"$M/root\"; "
        "mount -t overlay funkhaus-root -o \"lowerdir=/,upperdir=$M/upper,workdir=$M/work\" "
        "\"$M/root\"; R=\"$M/root\"; "
        "mount --rbind /dev \"$R/dev\"; mount -t tmpfs -o mode=1777 none \"$R/dev/shm\"; "
        "mount --rbind /sys \"$R/sys\"; mount -t tmpfs none \"$R/sys/class/tty\"; "
        "mount -t proc proc \"$R/proc\"; "
        "mount -t tmpfs -o mode=1777 none \"$R/tmp\"; "
        "mount -t tmpfs -o mode=1777 none \"$R/var/tmp\"; "
        "mount -t tmpfs -o mode=755 none \"$R/run\"; ";
    for (const auto& dir : options.shared) {
      const std::string d = shellQuote(dir.string());
      s += "mkdir -p \"$R\"" + d + "; mount --bind " + d + " \"$R\"" + d + "; ";
    }
    std::string unit;
    if (options.minimal) {
      s += "mkdir -p \"$R/etc/systemd/system\"; printf '%s\\n' '[Unit]' "
           "'Description=funkhaus test namespace: dbus, logind, user sessions' "
           "'Requires=basic.target' "
           "'Wants=dbus.service systemd-logind.service systemd-user-sessions.service' "
           "'After=basic.target dbus.service systemd-logind.service systemd-user-sessions.service' "
           "'AllowIsolate=yes' > \"$R/etc/systemd/system/funkhaus-test.target\"; ";
      unit = " --unit=funkhaus-test.target";
    }
    s += "cd \"$R\"; pivot_root . .; umount -l .; cd /; " + boot_systemd + unit;
    return s;
  }

  pid_t findSystemd() const {
    std::ifstream children("/proc/" + std::to_string(unshare_) + "/task/" +
                           std::to_string(unshare_) + "/children");
    pid_t child = 0;
    if (!(children >> child)) return 0;
    std::ifstream comm("/proc/" + std::to_string(child) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name == "systemd" ? child : 0;
  }

  std::filesystem::path log_;
  pid_t unshare_ = -1;
  pid_t systemd_ = 0;
};

}  // namespace funkhaus::test
