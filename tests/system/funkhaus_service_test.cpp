// funkhaus installed as a service, against a real systemd. The built .deb is checked as a file;
// then each service test boots systemd as PID 1 of a PID + mount namespace whose root is an
// overlay of the host's root with a tmpfs upper layer (tests/system/systemd_namespace.h), so
// that dpkg -i/-r/-P, useradd and the service itself change nothing on the host, installs the
// .deb there and drives it with systemctl, funkhausctl and kill. Needs root for the service
// tests; they skip with the reason otherwise.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "systemd_namespace.h"

namespace funkhaus {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::CommandResult;
using test::SystemdNamespace;
using namespace std::chrono_literals;

constexpr const char* kDeb = FUNKHAUS_DEB;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

template <class Pred>
bool waitFor(std::chrono::milliseconds timeout, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// ---- the package as a file (no root needed) ---------------------------------------------------

class Package : public ::testing::Test {
 protected:
  static std::string field(const std::string& name) {
    return trim(test::runCommand("dpkg-deb -f " + test::shellQuote(kDeb) + " " + name).output);
  }
  static std::string member(const std::string& path) {
    return test::runCommand("dpkg-deb --fsys-tarfile " + test::shellQuote(kDeb) +
                            " | tar -xOf - ." + path)
        .output;
  }
};

TEST_F(Package, HasTheBinariesUnitsConfigAndManPages) {
  ASSERT_EQ(access(kDeb, R_OK), 0) << kDeb << " was not built";
  const auto listing =
      test::runCommand("dpkg-deb -c " + test::shellQuote(kDeb) + " | awk '{print $1 \" \" $6}'");
  ASSERT_TRUE(listing.ok()) << listing.output;
  std::map<std::string, std::string> files;  // path -> mode string
  for (const auto& line : lines(listing.output)) {
    const auto space = line.find(' ');
    std::string path = line.substr(space + 2);  // "./usr/..." -> "/usr/..."
    if (path.size() > 1 && path.back() == '/') path.pop_back();
    files[path] = line.substr(0, space);
  }
  for (const char* exe :
       {"/usr/sbin/funkhausd", "/usr/bin/funkhausctl", "/usr/libexec/funkhaus/funkhaus-capture",
        "/usr/libexec/funkhaus/funkhaus-encode", "/usr/libexec/funkhaus/funkhaus-net",
        "/usr/libexec/funkhaus/funkhaus-web", "/usr/libexec/funkhaus/funkhaus-input",
        "/usr/libexec/funkhaus/funkhaus-console"}) {
    ASSERT_TRUE(files.contains(exe)) << exe << "\n" << listing.output;
    EXPECT_EQ(files[exe], "-rwxr-xr-x") << exe;
  }
  for (const char* file :
       {"/etc/funkhaus/funkhaus.toml", "/lib/systemd/system/funkhaus.service",
        "/usr/lib/systemd/user/funkhaus.service", "/usr/lib/sysusers.d/funkhaus.conf",
        "/usr/lib/tmpfiles.d/funkhaus.conf", "/lib/udev/rules.d/60-funkhaus-uinput.rules"})
    EXPECT_TRUE(files.contains(file)) << file << "\n" << listing.output;
  // A man page for every program: funkhausd(8), funkhausctl(1), and one per worker.
  for (const auto& [path, mode] : files) {
    const bool in_path = path.starts_with("/usr/sbin/") || path.starts_with("/usr/bin/");
    if (!(in_path || path.starts_with("/usr/libexec/funkhaus/")) || mode[0] != '-') continue;
    const std::string name = fs::path(path).filename();
    const std::string section = path.starts_with("/usr/bin/") ? "1" : "8";
    EXPECT_TRUE(files.contains("/usr/share/man/man" + section + "/" + name + "." + section + ".gz"))
        << "no man page for " << path;
  }
  EXPECT_TRUE(files.contains("/usr/share/man/man5/funkhaus.toml.5.gz"));
}

TEST_F(Package, DependenciesAreComputedAndConfigIsAConffile) {
  ASSERT_EQ(access(kDeb, R_OK), 0) << kDeb << " was not built";
  const std::string depends = field("Depends");
  std::printf("[figures] Depends: %s\n", depends.c_str());
  // dpkg-shlibdeps ran: the C library and the libraries funkhausd links are there.
  for (const char* lib : {"libc6", "libstdc++6", "libsystemd0", "libcap2"})
    EXPECT_NE(depends.find(lib), std::string::npos) << lib << " missing from " << depends;
  EXPECT_NE(depends.find("init-system-helpers"), std::string::npos) << depends;
  // Every dependency is satisfiable here (the system tests install the package).
  const auto check =
      test::runCommand("dpkg-checkbuilddeps -d " + test::shellQuote(depends) + " /dev/null");
  EXPECT_TRUE(check.ok()) << check.output;

  const auto control = test::runCommand("dpkg-deb --ctrl-tarfile " + test::shellQuote(kDeb) +
                                        " | tar -xOf - ./conffiles");
  EXPECT_EQ(control.output, "/etc/funkhaus/funkhaus.toml\n");
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    const auto r = test::runCommand("dpkg-deb --ctrl-tarfile " + test::shellQuote(kDeb) +
                                    " | tar -xOf - ./" + script + " | sh -n");
    EXPECT_TRUE(r.ok()) << script << ": " << r.output;
  }
}

TEST_F(Package, ManPagesRenderAndProgramsHaveHelp) {
  ASSERT_EQ(access(kDeb, R_OK), 0) << kDeb << " was not built";
  // Extract the package into the build tree: the programs as packaged (stripped), run here.
  const fs::path dir =
      fs::path(FUNKHAUS_PACKAGING_BIN_DIR) / ("extract-" + std::to_string(getpid()));
  fs::remove_all(dir);
  ASSERT_TRUE(test::runCommand("dpkg-deb -x " + test::shellQuote(kDeb) + " " +
                               test::shellQuote(dir.string()))
                  .ok());
  for (const char* page : {"man8/funkhausd.8.gz", "man1/funkhausctl.1.gz",
                           "man5/funkhaus.toml.5.gz", "man8/funkhaus-workers.8.gz"}) {
    const std::string path = (dir / "usr/share/man" / page).string();
    // man -l renders; --warnings makes groff report what it had to guess.
    const auto r = test::runCommand("MANWIDTH=80 man --warnings -l " + test::shellQuote(path) +
                                    " 2>&1 >/dev/null");
    EXPECT_TRUE(r.ok() && r.output.empty()) << page << ": " << r.output;
  }
  for (const char* program : {"usr/sbin/funkhausd", "usr/bin/funkhausctl"}) {
    const auto r = test::runCommand((dir / program).string() + " --help");
    EXPECT_TRUE(r.ok()) << program << ": " << r.output;
    EXPECT_NE(r.output.find("--"), std::string::npos) << r.output;
  }
  // The shipped config is one funkhausd accepts.
  const auto check =
      test::runCommand((dir / "usr/sbin/funkhausd").string() + " --check-config --config " +
                       (dir / "etc/funkhaus/funkhaus.toml").string());
  EXPECT_TRUE(check.ok()) << check.output;
  fs::remove_all(dir);
}

// ---- the package installed, under a real systemd --------------------------------------------

// Any free port (the namespace shares the host's network; GameStream on loopback, not
// announced), small synthetic frames, the three pipeline workers.
std::string smallPipeline() {
  return "[net]\nport = 0\n[gamestream]\nbase_port = 0\nlisten_address = \"127.0.0.1\"\n"
         "mdns = false\n[console]\nport = 0\n[capture]\nsource = \"synthetic\"\nwidth = "
         "320\nheight = 180\n"
         "fps = 30\n[rings]\nmax_width = 320\nmax_height = 180\n"
         "[workers]\nstart = [\"capture\", \"encode\", \"net\"]\n";
}

// The system service's test config: one fixed unprivileged user (so there is a session without
// a display manager), any free port (the namespace shares the host's network), small frames.
constexpr const char* kServiceUser = "fhsvc";
std::string serviceConfig(const std::string& user) {
  std::string c = "[session]\nsource = \"fixed\"\n";
  if (!user.empty()) c += "user = \"" + user + "\"\n";
  return c + smallPipeline();
}

class Service : public ::testing::Test {
 protected:
  static constexpr const char* kUnit = "funkhaus.service";

  void SetUp() override {
    if (FUNKHAUS_SANITIZED)
      GTEST_SKIP() << "sanitizer build: the package and service are tested in the plain build";
    if (std::string why = SystemdNamespace::unavailableReason(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_EQ(access(kDeb, R_OK), 0) << kDeb << " was not built";
    host_before_ = hostState();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(FUNKHAUS_PACKAGING_BIN_DIR) /
           ("service-" + std::string(info->name()) + "-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "overlay");
    fs::copy_file(kDeb, dir_ / "funkhaus.deb");
    SystemdNamespace::Options options;
    options.overlay_mountpoint = dir_ / "overlay";
    options.shared = {dir_};
    options.minimal = true;
    std::string why;
    const auto t = std::chrono::steady_clock::now();
    ns_ = SystemdNamespace::boot(&why, options);
    if (!ns_) GTEST_SKIP() << "no real systemd here: " << why;
    std::printf("[figures] systemd booted on the overlay in %.0f ms\n", msSince(t));
    // Everything below writes to the namespace's root: it must be the overlay, never the host's.
    const auto root = in("findmnt -n -o FSTYPE,SOURCE /");
    ASSERT_EQ(trim(root.output), "overlay funkhaus-root") << "refusing to go on: " << root.output;
    shm_at_boot_ = in("ls -A /dev/shm").output;
    // systemd's own messages about the unit ("Watchdog timeout", "Started") into the journal,
    // beside funkhausd's (it was booted logging to the console).
    ASSERT_TRUE(in("systemd-analyze log-target journal").ok());
  }

  void TearDown() override {
    if (ns_) {
      const pid_t systemd = ns_->systemdPid();
      ns_.reset();  // powers the namespace off; the overlay and all it holds go with it
      // The host as it was found: no systemd of ours left, nothing of the package on it.
      std::ifstream comm("/proc/" + std::to_string(systemd) + "/comm");
      std::string name;
      if (std::getline(comm, name) && name == "systemd")
        ADD_FAILURE() << "the namespace's systemd (pid " << systemd << ") is still running";
      EXPECT_EQ(hostState(), host_before_) << "the host changed";
      std::ifstream mounts("/proc/self/mountinfo");
      const std::string table((std::istreambuf_iterator<char>(mounts)),
                              std::istreambuf_iterator<char>());
      EXPECT_EQ(table.find(dir_.string()), std::string::npos) << "a mount of the test is left";
    }
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // What the test must not change on the host: the package database's view of funkhaus and
  // the files the package installs.
  static std::string hostState() {
    return test::runCommand(
               "{ dpkg-query -W -f='${Status}' funkhaus; ls -d /etc/funkhaus "
               "/lib/systemd/system/funkhaus.service /usr/sbin/funkhausd "
               "/usr/libexec/funkhaus; getent group funkhaus; }")
        .output;
  }

  CommandResult in(const std::string& command) const { return ns_->run(command); }

  // Installs the .deb with the test config in place (kept: --force-confold). With
  // start = false a policy-rc.d keeps the postinst from starting the service.
  void install(bool start, const std::string& config) {
    ASSERT_TRUE(in("id -u fhsvc >/dev/null 2>&1 || useradd --system --shell /usr/sbin/nologin " +
                   std::string(kServiceUser))
                    .ok());
    writeFile("/etc/funkhaus/funkhaus.toml", config);
    // policy-rc.d decides whether maintainer scripts may start and stop services. A machine
    // built as a container image has one that always says no (this host may be one); the
    // namespace is a booted system, so it gets none, or one saying no for this install only.
    ASSERT_TRUE(in("rm -f /usr/sbin/policy-rc.d").ok());
    if (!start) writeFile("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", "0755");
    const auto t = std::chrono::steady_clock::now();
    const auto r = in("dpkg -i --force-confold " + (dir_ / "funkhaus.deb").string());
    ASSERT_TRUE(r.ok()) << r.output << journal();
    std::printf("[figures] dpkg -i%s: %.0f ms\n", start ? " (postinst starts the service)" : "",
                msSince(t));
    if (!start) {
      ASSERT_TRUE(in("rm /usr/sbin/policy-rc.d").ok());
    }
  }

  // Writes a file inside the namespace (through the shared test directory).
  void writeFile(const std::string& path, const std::string& text,
                 const std::string& mode = "0644") {
    const fs::path staged = dir_ / "staged-file";
    std::ofstream(staged) << text;
    const auto r = in("install -D -m " + mode + " " + staged.string() + " " + path);
    ASSERT_TRUE(r.ok()) << r.output;
  }

  std::string show(const std::string& property, const std::string& unit = kUnit) const {
    return trim(in("systemctl show -P " + property + " " + unit).output);
  }

  std::string journal() const {
    return "\n--- journal of funkhaus.service:\n" +
           in(std::string("journalctl --no-pager -o cat -u ") + kUnit).output;
  }

  // The status is what funkhausctl prints on stdout (an instrumented build run as another user
  // says on stderr that it cannot write its coverage counts).
  json status(const std::string& prefix = "") const {
    return json::parse(in(prefix + "funkhausctl status --json 2>/dev/null").output, nullptr, false);
  }

  static const json* worker(const json& s, const std::string& name) {
    if (!s.is_object() || !s.contains("sessions") || s["sessions"].empty()) return nullptr;
    for (const auto& w : s["sessions"][0]["workers"])
      if (w["name"] == name) return &w;
    return nullptr;
  }

  static bool allRunning(const json& s) {
    if (!s.is_object() || !s.contains("sessions") || s["sessions"].empty()) return false;
    const auto& workers = s["sessions"][0]["workers"];
    return !workers.empty() && std::all_of(workers.begin(), workers.end(), [](const json& w) {
      return w["state"] == "running" && w["pid"].is_number();
    });
  }

  // Every process in the namespace that runs a funkhaus program: "pid path" lines.
  std::vector<std::string> funkhausProcesses() const {
    return lines(in("for p in /proc/[0-9]*; do e=$(readlink $p/exe 2>/dev/null) || continue; "
                    "case $e in */funkhausd*|*/funkhaus-*) echo \"${p#/proc/} $e\";; esac; done")
                     .output);
  }

  // Every open fd in the namespace on a funkhaus memfd: "fd link" lines.
  std::vector<std::string> funkhausMemfds() const {
    return lines(in("for f in /proc/[0-9]*/fd/*; do l=$(readlink $f 2>/dev/null) || continue; "
                    "case $l in *memfd:funkhaus*) echo \"$f $l\";; esac; done")
                     .output);
  }

  std::string procStatus(int pid, const std::string& key) const {
    return trim(
        in("sed -n 's/^" + key + ":[[:space:]]*//p' /proc/" + std::to_string(pid) + "/status")
            .output);
  }

  bool alive(int pid) const { return in("kill -0 " + std::to_string(pid)).ok(); }

  fs::path dir_;
  std::unique_ptr<SystemdNamespace> ns_;
  std::string shm_at_boot_;
  std::string host_before_;
};

TEST_F(Service, StartReachesActiveOnlyAfterReadyAndIsConfined) {
  install(/*start=*/false, serviceConfig(kServiceUser));
  EXPECT_EQ(trim(in("systemctl is-enabled funkhaus").output), "enabled");
  EXPECT_EQ(show("ActiveState"), "inactive") << "policy-rc.d should have kept it stopped";
  EXPECT_EQ(trim(in("getent group funkhaus | cut -d: -f1").output), "funkhaus")
      << "sysusers.d did not create the group";
  // funkhaus-web's service user: not in the control group, its state directory its own.
  EXPECT_EQ(trim(in("id -gn funkhaus; id -Gn funkhaus").output), "nogroup\nnogroup")
      << "sysusers.d did not create user funkhaus outside the control group";
  EXPECT_EQ(trim(in("stat -c '%U %a' /var/lib/funkhaus").output), "funkhaus 700");

  // The installed units are clean for systemd-analyze verify (binaries and man pages present).
  const auto verify = in("systemd-analyze verify funkhaus.service");
  EXPECT_TRUE(verify.ok() && verify.output.empty()) << verify.output;

  // funkhausd checks every worker binary of the set before it opens a port: with the net
  // worker's binary gone it names it and exits 66, a permanent code (RestartPreventExitStatus),
  // so the unit fails at once and systemd does not restart it into the same error.
  const std::string net_bin = "/usr/libexec/funkhaus/funkhaus-net";
  ASSERT_TRUE(in("mv " + net_bin + " " + net_bin + ".hidden").ok());
  auto t = std::chrono::steady_clock::now();
  EXPECT_FALSE(in("systemctl start funkhaus").ok()) << journal();
  const double failed_ms = msSince(t);
  ASSERT_TRUE(waitFor(20s, [&] { return show("ActiveState") == "failed"; }))
      << show("ActiveState") << journal();
  EXPECT_EQ(show("ExecMainStatus"), "66") << journal();
  EXPECT_NE(journal().find("funkhaus-net (worker net) is missing"), std::string::npos) << journal();
  std::this_thread::sleep_for(3s);  // longer than RestartSec=2s
  EXPECT_EQ(show("ActiveState"), "failed") << "a permanent exit must not be restarted";
  EXPECT_EQ(show("NRestarts"), "0");
  std::printf("[figures] net worker binary missing: unit failed with exit %s after %.0f ms\n",
              show("ExecMainStatus").c_str(), failed_ms);

  // With the binary back, the unit is active only once funkhausd sent READY=1 (Type=notify),
  // which it sends when every worker of the session is ready.
  ASSERT_TRUE(in("mv " + net_bin + ".hidden " + net_bin).ok());
  ASSERT_TRUE(in("systemctl reset-failed funkhaus").ok());
  t = std::chrono::steady_clock::now();
  ASSERT_TRUE(in("systemctl start --no-block funkhaus").ok());
  ASSERT_TRUE(waitFor(20s, [&] { return show("ActiveState") == "active"; }))
      << show("ActiveState") << " " << show("StatusText") << journal();
  std::printf("[figures] binary back: systemctl start -> READY=1 -> unit active in %.0f ms\n",
              msSince(t));
  EXPECT_EQ(show("SubState"), "running");
  EXPECT_TRUE(waitFor(5s, [&] { return show("StatusText") == "3 workers running"; }))
      << show("StatusText");
  EXPECT_TRUE(allRunning(status())) << journal();

  // A plain start: `systemctl start` blocks until READY=1.
  ASSERT_TRUE(in("systemctl stop funkhaus").ok());
  t = std::chrono::steady_clock::now();
  const auto start = in("systemctl start funkhaus");
  const double start_ms = msSince(t);
  ASSERT_TRUE(start.ok()) << start.output << journal();
  const json s = status();
  EXPECT_EQ(show("ActiveState"), "active");
  EXPECT_TRUE(allRunning(s)) << s.dump() << journal();
  std::printf("[figures] systemctl start funkhaus (returns after READY=1): %.0f ms\n", start_ms);
  ASSERT_TRUE(s.is_object()) << journal();
  EXPECT_EQ(s["mode"], "system");

  // Confinement as the kernel sees it. funkhausd: root with exactly CAP_SETUID, CAP_SETGID and
  // CAP_KILL (bits 7, 6, 5 = 0xe0), no new privileges, a seccomp filter.
  const int main_pid = std::stoi(show("MainPID"));
  EXPECT_EQ(procStatus(main_pid, "CapBnd"), "00000000000000e0");
  EXPECT_EQ(procStatus(main_pid, "CapEff"), "00000000000000e0");
  EXPECT_EQ(procStatus(main_pid, "NoNewPrivs"), "1");
  EXPECT_EQ(procStatus(main_pid, "Seccomp"), "2");
  const std::string uid = trim(in("id -u fhsvc").output);
  for (const auto& w : s["sessions"][0]["workers"]) {
    const int pid = w["pid"].get<int>();
    // Workers: the session user, no capabilities at all, funkhausd's cgroup.
    EXPECT_EQ(procStatus(pid, "Uid"), uid + "\t" + uid + "\t" + uid + "\t" + uid) << w.dump();
    EXPECT_EQ(procStatus(pid, "CapEff"), "0000000000000000") << w.dump();
    EXPECT_EQ(procStatus(pid, "CapPrm"), "0000000000000000") << w.dump();
    EXPECT_EQ(procStatus(pid, "NoNewPrivs"), "1") << w.dump();
    EXPECT_TRUE(
        in("grep -q '/system.slice/funkhaus.service' /proc/" + std::to_string(pid) + "/cgroup")
            .ok())
        << in("cat /proc/" + std::to_string(pid) + "/cgroup").output;
  }
  // ProtectSystem=strict, as funkhausd sees its file system.
  EXPECT_EQ(in("nsenter -t " + std::to_string(main_pid) + " -m findmnt -n -o OPTIONS -T /usr")
                .output.substr(0, 3),
            "ro,");

  // The control socket: anyone reads the status; members of group funkhaus may steer workers.
  ASSERT_TRUE(in("useradd --system --shell /usr/sbin/nologin fhout && "
                 "useradd --system --shell /usr/sbin/nologin -G funkhaus fhops")
                  .ok());
  EXPECT_TRUE(status("runuser -u fhout -- ").is_object());
  const auto refused = in("runuser -u fhout -- funkhausctl restart encode");
  EXPECT_EQ(WEXITSTATUS(refused.status), 1) << refused.output;
  EXPECT_NE(refused.output.find("permission denied"), std::string::npos) << refused.output;
  const int encode_pid = (*worker(s, "encode"))["pid"].get<int>();
  const auto allowed = in("runuser -u fhops -- funkhausctl restart encode");
  EXPECT_TRUE(allowed.ok()) << allowed.output;
  json after;
  EXPECT_TRUE(waitFor(10s, [&] {
    after = status();
    const json* e = worker(after, "encode");
    return e && (*e)["state"] == "running" && (*e)["pid"] != encode_pid;
  })) << after.dump();

  // systemd-analyze security: the exposure score and what is still open (figures only).
  const auto security = in("systemd-analyze security --no-pager funkhaus.service");
  for (const auto& line : lines(security.output)) {
    if (line.find("Overall exposure") == std::string::npos && line.rfind("✗", 0) != 0) continue;
    std::string compact;  // the table's column padding squeezed to " | "
    for (size_t i = 0; i < line.size(); ++i) {
      if (line.compare(i, 2, "  ") == 0) {
        while (i + 1 < line.size() && line[i + 1] == ' ') ++i;
        compact += " | ";
      } else {
        compact += line[i];
      }
    }
    std::printf("[figures] security: %s\n", compact.c_str());
  }
  EXPECT_NE(security.output.find("Overall exposure level for funkhaus.service"), std::string::npos)
      << security.output;
}

// The workers inherit the unit's confinement (seccomp filter, MemoryDenyWriteExecute, ...).
// The encoder libraries they use must work under it: ffmpeg with libx264 and libx265 (the same
// libavcodec and encoder libraries) runs in a transient service with exactly the hardening
// settings of the installed unit, as the session user. A W+X mapping is refused in the same
// setting (and allowed outside it), so the settings are in force.
TEST_F(Service, UnitHardeningHoldsForTheEncoderLibraries) {
  if (access("/usr/bin/ffmpeg", X_OK) != 0) GTEST_SKIP() << "/usr/bin/ffmpeg is not installed";
  install(/*start=*/false, serviceConfig(kServiceUser));
  const auto settings = lines(in("sed -n '/^# --- hardening/,/^\\[Install\\]/p' "
                                 "/lib/systemd/system/funkhaus.service | grep -v '^#' | grep =")
                                  .output);
  ASSERT_GT(settings.size(), 20u);
  std::string run =
      "systemd-run --wait --pipe --quiet --collect -p User=" + std::string(kServiceUser);
  for (const auto& setting : settings) run += " -p " + test::shellQuote(setting);
  std::printf("[figures] hardening settings applied: %zu\n", settings.size());
  const auto wx = in(run + " " + FUNKHAUS_WX_PROBE);
  EXPECT_TRUE(wx.ok()) << wx.output;
  EXPECT_NE(wx.output.find("W+X mapping refused"), std::string::npos) << wx.output;
  // The probe itself gets its W+X mapping outside the unit's settings.
  EXPECT_EQ(WEXITSTATUS(
                in(std::string("runuser -u ") + kServiceUser + " -- " + FUNKHAUS_WX_PROBE).status),
            1);
  for (const char* encoder : {"libx264", "libx265"}) {
    const auto t = std::chrono::steady_clock::now();
    const auto r = in(run +
                      " ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i "
                      "testsrc2=size=320x180:rate=30 -frames:v 60 -c:v " +
                      encoder + " -preset superfast -f null - < /dev/null");
    EXPECT_TRUE(r.ok()) << encoder << ": " << r.output;
    std::printf("[figures] ffmpeg %s, 60 frames 320x180 under the unit's hardening: %.0f ms\n",
                encoder, msSince(t));
  }
}

TEST_F(Service, KilledWorkersAreRepairedByFunkhausdNotBySystemd) {
  install(/*start=*/true, serviceConfig(kServiceUser));
  ASSERT_EQ(show("ActiveState"), "active") << "postinst did not start the service" << journal();
  const std::string main_pid = show("MainPID");
  json s = status();
  ASSERT_TRUE(allRunning(s)) << s.dump() << journal();
  for (const char* name : {"capture", "encode", "net"}) {
    const json* w = worker(s, name);
    ASSERT_NE(w, nullptr) << name << " " << s.dump();
    const int pid = (*w)["pid"].get<int>();
    const int restarts = (*w)["restarts"].get<int>();
    const auto t = std::chrono::steady_clock::now();
    ASSERT_TRUE(in("kill -9 " + std::to_string(pid)).ok());
    ASSERT_TRUE(waitFor(15s,
                        [&] {
                          s = status();
                          const json* n = worker(s, name);
                          return n && (*n)["state"] == "running" && (*n)["pid"] != pid &&
                                 (*n)["restarts"] == restarts + 1;
                        }))
        << name << ": " << s.dump() << journal();
    std::printf("[figures] kill -9 %s: running again (new pid) after %.0f ms\n", name, msSince(t));
    EXPECT_EQ((*worker(s, name))["last_exit"], "killed by SIGKILL");
    EXPECT_FALSE(alive(pid));
    // systemd never noticed: same funkhausd, no restart of the unit, still active.
    EXPECT_EQ(show("MainPID"), main_pid);
    EXPECT_EQ(show("NRestarts"), "0");
    EXPECT_EQ(show("ActiveState"), "active");
  }
  EXPECT_TRUE(allRunning(status())) << journal();
}

TEST_F(Service, WatchdogRestartsAStoppedFunkhausd) {
  install(/*start=*/false, serviceConfig(kServiceUser));
  // A short watchdog so the test is quick (the unit ships WatchdogSec=10s).
  writeFile("/etc/systemd/system/funkhaus.service.d/test-watchdog.conf",
            "[Service]\nWatchdogSec=2s\n");
  ASSERT_TRUE(in("systemctl daemon-reload && systemctl start funkhaus").ok()) << journal();
  EXPECT_EQ(show("WatchdogUSec"), "2s");
  const int old_main = std::stoi(show("MainPID"));
  const json before = status();
  ASSERT_TRUE(allRunning(before)) << before.dump();

  // SIGSTOP: funkhausd is alive but its event loop no longer pings the watchdog.
  const auto t = std::chrono::steady_clock::now();
  ASSERT_TRUE(in("kill -STOP " + std::to_string(old_main)).ok());
  int new_main = 0;
  ASSERT_TRUE(waitFor(60s,
                      [&] {
                        if (show("NRestarts") != "1" || show("ActiveState") != "active")
                          return false;
                        new_main = std::stoi(show("MainPID"));
                        return new_main != 0 && new_main != old_main;
                      }))
      << show("NRestarts") << " " << show("ActiveState") << journal();
  std::printf(
      "[figures] SIGSTOP of funkhausd -> watchdog -> active again (new funkhausd) in %.0f ms "
      "(WatchdogSec=2s, RestartSec=2s)\n",
      msSince(t));
  const std::string log = journal();
  EXPECT_NE(log.find("funkhaus.service: Watchdog timeout"), std::string::npos) << log;
  for (const auto& line : lines(log))
    if (line.find("funkhaus.service: Main process exited") != std::string::npos ||
        line.find("funkhaus.service: Watchdog timeout") != std::string::npos)
      std::printf("[figures] systemd: %s\n", line.c_str());
  EXPECT_FALSE(alive(old_main));
  for (const auto& w : before["sessions"][0]["workers"])
    EXPECT_FALSE(alive(w["pid"].get<int>())) << "old worker left behind: " << w.dump();
  const json s = status();
  EXPECT_TRUE(allRunning(s)) << s.dump() << journal();
  EXPECT_EQ(s["pid"], new_main);
}

// The shipped default session source, logind (the active session of seat0), under the
// hardened unit: with nobody logged in READY=1 comes at once ("waiting for a session"); a user
// logs in at seat0 (a display manager's CreateSession) and the workers run as that user; the
// user logs out and the workers stop while the service stays up.
TEST_F(Service, FollowsTheActiveSessionOfSeat0) {
  install(/*start=*/false, smallPipeline());  // no [session]: logind, as shipped
  ASSERT_TRUE(in("systemctl start funkhaus").ok()) << journal();
  EXPECT_EQ(show("ActiveState"), "active");
  EXPECT_TRUE(waitFor(5s, [&] { return show("StatusText") == "waiting for a session"; }))
      << show("StatusText");
  json s = status();
  ASSERT_TRUE(s.is_object()) << journal();
  EXPECT_TRUE(s["sessions"].empty()) << s.dump();

  ASSERT_TRUE(in("useradd --shell /usr/sbin/nologin fhseat").ok());
  const std::string uid = trim(in("id -u fhseat").output);
  const std::string out = (dir_ / "leader.out").string();
  const auto t = std::chrono::steady_clock::now();
  // The leader holds the session open until the session is terminated.
  const auto leader =
      in("setsid " + std::string(FUNKHAUS_SESSION_LEADER) + " " + uid + " x11 user :5 > " + out +
         " 2>&1 < /dev/null & "
         "for i in $(seq 100); do [ -s " +
         out + " ] && break; sleep 0.05; done; cat " + out);
  const std::string session = leader.output.substr(0, leader.output.find('\n'));
  ASSERT_FALSE(session.empty() || session.find(' ') != std::string::npos) << leader.output;
  ASSERT_TRUE(waitFor(15s,
                      [&] {
                        s = status();
                        return allRunning(s) && s["sessions"][0]["id"] == session &&
                               std::to_string(s["sessions"][0]["uid"].get<int>()) == uid;
                      }))
      << s.dump() << journal();
  std::printf("[figures] logind session at seat0 -> workers running as its user in %.0f ms\n",
              msSince(t));
  for (const auto& w : s["sessions"][0]["workers"])
    EXPECT_EQ(procStatus(w["pid"].get<int>(), "Uid"), uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_TRUE(waitFor(5s, [&] { return show("StatusText") == "3 workers running"; }))
      << show("StatusText");

  ASSERT_TRUE(in("loginctl terminate-session " + session).ok());
  ASSERT_TRUE(waitFor(15s,
                      [&] {
                        s = status();
                        return s.is_object() && s["sessions"].empty();
                      }))
      << s.dump() << journal();
  // funkhausd, funkhaus-web and funkhaus-console (host workers: they stay without a session).
  EXPECT_EQ(funkhausProcesses().size(), 3u) << ::testing::PrintToString(funkhausProcesses());
  EXPECT_EQ(show("ActiveState"), "active");
  EXPECT_EQ(show("NRestarts"), "0");
}

// funkhausd gives up (exit 1) when a worker keeps failing past its restart policy; then
// systemd takes over (RestartForceExitStatus=1) and restarts funkhausd, which comes up once
// the worker can run again.
TEST_F(Service, FunkhausdGivingUpIsRestartedBySystemd) {
  install(/*start=*/false,
          serviceConfig(kServiceUser) +
              "[restart]\ninitial_backoff_ms = 10\nmax_backoff_ms = 50\nmax_restarts = 2\n"
              "window_s = 30\nmax_session_restarts = 0\n");
  const std::string encode_bin = "/usr/libexec/funkhaus/funkhaus-encode";
  ASSERT_TRUE(in("mv " + encode_bin + " " + encode_bin + ".real").ok());
  writeFile(encode_bin, "#!/bin/sh\nexit 1\n", "0755");  // a transient failure, every time
  const auto t = std::chrono::steady_clock::now();
  ASSERT_TRUE(in("systemctl start --no-block funkhaus").ok());
  ASSERT_TRUE(waitFor(30s, [&] { return show("NRestarts") != "0"; }))
      << show("ActiveState") << journal();
  std::printf(
      "[figures] encode failing every time: funkhausd gave up, systemd restarted it "
      "after %.0f ms\n",
      msSince(t));
  const std::string log = journal();
  EXPECT_NE(log.find("giving up so systemd can take over"), std::string::npos) << log;
  EXPECT_NE(log.find("funkhaus.service: Main process exited, code=exited, status=1/FAILURE"),
            std::string::npos)
      << log;

  ASSERT_TRUE(in("mv " + encode_bin + ".real " + encode_bin).ok());
  ASSERT_TRUE(waitFor(30s, [&] { return show("ActiveState") == "active"; }))
      << show("ActiveState") << " " << show("StatusText") << journal();
  std::printf("[figures] encode back: active after %.0f ms in all, %s systemd restarts\n",
              msSince(t), show("NRestarts").c_str());
  EXPECT_TRUE(allRunning(status())) << journal();
}

TEST_F(Service, StopLeavesNoProcessAndNoSharedMemory) {
  install(/*start=*/true, serviceConfig(kServiceUser));
  ASSERT_EQ(show("ActiveState"), "active") << journal();
  ASSERT_TRUE(allRunning(status())) << journal();
  // The checks below can see what they look for: now there are processes and memfds.
  const auto running = funkhausProcesses();
  const auto memfds = funkhausMemfds();
  // funkhaus keeps its shared memory in memfds: /dev/shm stays as it was at boot.
  EXPECT_EQ(in("ls -A /dev/shm").output, shm_at_boot_);
  // With funkhaus-web and funkhaus-console.
  EXPECT_EQ(running.size(), 6u) << ::testing::PrintToString(running);
  EXPECT_FALSE(memfds.empty());
  std::printf("[figures] running: %zu funkhaus processes holding %zu funkhaus memfd fds\n",
              running.size(), memfds.size());

  const auto t = std::chrono::steady_clock::now();
  ASSERT_TRUE(in("systemctl stop funkhaus").ok()) << journal();
  std::printf("[figures] systemctl stop funkhaus: %.0f ms\n", msSince(t));
  EXPECT_EQ(show("ActiveState"), "inactive");
  EXPECT_EQ(show("Result"), "success") << "funkhausd did not stop cleanly" << journal();
  EXPECT_TRUE(funkhausProcesses().empty()) << ::testing::PrintToString(funkhausProcesses());
  EXPECT_TRUE(funkhausMemfds().empty()) << ::testing::PrintToString(funkhausMemfds());
  EXPECT_EQ(in("ls -A /dev/shm").output, shm_at_boot_);
  EXPECT_FALSE(in("test -e /run/funkhaus/control.sock").ok());
  EXPECT_NE(journal().find("stopping every worker"), std::string::npos) << journal();
}

TEST_F(Service, RestartsTenTimesInARow) {
  install(/*start=*/true, serviceConfig(kServiceUser));
  ASSERT_EQ(show("ActiveState"), "active") << journal();
  std::vector<double> ms;
  for (int i = 0; i < 10; ++i) {
    const int old_main = std::stoi(show("MainPID"));
    const auto t = std::chrono::steady_clock::now();
    const auto r = in("systemctl restart funkhaus");
    ms.push_back(msSince(t));
    ASSERT_TRUE(r.ok()) << "restart " << i + 1 << ": " << r.output << journal();
    ASSERT_EQ(show("ActiveState"), "active") << "restart " << i + 1 << journal();
    const int new_main = std::stoi(show("MainPID"));
    EXPECT_NE(new_main, old_main);
    EXPECT_FALSE(alive(old_main));
    const json s = status();
    ASSERT_TRUE(allRunning(s)) << "restart " << i + 1 << ": " << s.dump() << journal();
    EXPECT_EQ(s["pid"], new_main);
    EXPECT_EQ(funkhausProcesses().size(), 6u) << ::testing::PrintToString(funkhausProcesses());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("[figures] systemctl restart x10: min %.0f ms, median %.0f ms, max %.0f ms\n",
              ms.front(), ms[ms.size() / 2], ms.back());
  EXPECT_EQ(show("NRestarts"), "0");  // manual restarts, none by systemd
}

// An upgrade (here: the same package again) restarts the running service with the new
// binaries and keeps the admin's configuration.
TEST_F(Service, UpgradeRestartsTheServiceAndKeepsTheConfig) {
  const std::string config = serviceConfig(kServiceUser) + "[encode]\nbitrate_kbps = 1234\n";
  install(/*start=*/true, config);
  ASSERT_EQ(show("ActiveState"), "active") << journal();
  const std::string old_main = show("MainPID");
  const auto t = std::chrono::steady_clock::now();
  const auto r = in("dpkg -i " + (dir_ / "funkhaus.deb").string());
  ASSERT_TRUE(r.ok()) << r.output;
  std::printf("[figures] dpkg -i over the installed package (postinst restarts): %.0f ms\n",
              msSince(t));
  EXPECT_EQ(show("ActiveState"), "active");
  EXPECT_NE(show("MainPID"), old_main);
  EXPECT_EQ(show("NRestarts"), "0");
  EXPECT_TRUE(allRunning(status())) << journal();
  EXPECT_EQ(in("cat /etc/funkhaus/funkhaus.toml").output, config);
  EXPECT_EQ(trim(in("systemctl is-enabled funkhaus").output), "enabled");
}

// The user unit in a user's own manager (systemctl --user). `prefix` runs a command as that
// user with its runtime directory.
class UserUnit : public Service {
 protected:
  void startUserInstance() {
    // With a home: a user-mode funkhausd's funkhaus-web keeps its state in
    // ~/.local/state/funkhaus.
    ASSERT_TRUE(in("useradd --create-home --shell /usr/sbin/nologin fhuser").ok());
    uid_ = trim(in("id -u fhuser").output);
    prefix_ = "runuser -u fhuser -- env XDG_RUNTIME_DIR=/run/user/" + uid_ + " ";
    ASSERT_TRUE(in("systemctl start user@" + uid_ + ".service").ok()) << in("journalctl -b").output;
    // Its own config (any free port: the system service may run too), through a drop-in, the
    // way a user points the unit at ~/.config/funkhaus/funkhaus.toml.
    writeFile("/etc/funkhaus-test/user.toml", serviceConfig(""));
    writeFile("/etc/systemd/user/funkhaus.service.d/test-config.conf",
              "[Service]\nExecStart=\nExecStart=/usr/sbin/funkhausd --mode user --config "
              "/etc/funkhaus-test/user.toml --worker-dir /usr/libexec/funkhaus\n");
    const auto verify = in(prefix_ + "systemd-analyze --user verify funkhaus.service");
    EXPECT_TRUE(verify.ok() && verify.output.empty()) << verify.output;
    const auto t = std::chrono::steady_clock::now();
    const auto r = in(prefix_ + "systemctl --user start funkhaus");
    ASSERT_TRUE(r.ok()) << r.output << userJournal();
    std::printf("[figures] systemctl --user start funkhaus: %.0f ms\n", msSince(t));
  }

  std::string userShow(const std::string& property) const {
    return trim(in(prefix_ + "systemctl --user show -P " + property + " funkhaus").output);
  }

  std::string userJournal() const {
    return "\n--- journal of fhuser's funkhaus.service:\n" +
           in("journalctl --no-pager -o cat _SYSTEMD_USER_UNIT=funkhaus.service + "
              "USER_UNIT=funkhaus.service")
               .output;
  }

  std::string uid_;
  std::string prefix_;
};

TEST_F(UserUnit, RunsInTheUsersManagerAndRepairsItsWorkers) {
  install(/*start=*/false, serviceConfig(kServiceUser));
  startUserInstance();
  EXPECT_EQ(userShow("ActiveState"), "active");
  EXPECT_TRUE(waitFor(5s, [&] { return userShow("StatusText") == "3 workers running"; }))
      << userShow("StatusText");
  // funkhausctl finds the user's socket by itself (no system funkhausd is running).
  json s = status(prefix_);
  ASSERT_TRUE(allRunning(s)) << s.dump() << userJournal();
  EXPECT_EQ(s["mode"], "user");
  for (const auto& w : s["sessions"][0]["workers"])
    EXPECT_EQ(procStatus(w["pid"].get<int>(), "Uid"),
              uid_ + "\t" + uid_ + "\t" + uid_ + "\t" + uid_);
  // A killed worker is funkhausd's business here too.
  const int pid = (*worker(s, "net"))["pid"].get<int>();
  ASSERT_TRUE(in("kill -9 " + std::to_string(pid)).ok());
  ASSERT_TRUE(waitFor(15s, [&] {
    s = status(prefix_);
    const json* n = worker(s, "net");
    return n && (*n)["state"] == "running" && (*n)["pid"] != pid;
  })) << s.dump();
  EXPECT_EQ(userShow("NRestarts"), "0");

  ASSERT_TRUE(in(prefix_ + "systemctl --user stop funkhaus").ok());
  EXPECT_EQ(userShow("ActiveState"), "inactive");
  EXPECT_TRUE(funkhausProcesses().empty()) << ::testing::PrintToString(funkhausProcesses());
}

TEST_F(UserUnit, RemoveStopsEveryInstanceAndPurgeRemovesTheConfig) {
  install(/*start=*/true, serviceConfig(kServiceUser));
  ASSERT_EQ(show("ActiveState"), "active") << journal();
  startUserInstance();
  // Two funkhausds with funkhaus-web, funkhaus-console and three session workers each.
  EXPECT_EQ(funkhausProcesses().size(), 12u) << ::testing::PrintToString(funkhausProcesses());

  auto t = std::chrono::steady_clock::now();
  const auto remove = in("dpkg -r funkhaus");
  ASSERT_TRUE(remove.ok()) << remove.output;
  std::printf("[figures] dpkg -r funkhaus (system service and a user instance running): %.0f ms\n",
              msSince(t));
  // Nothing of funkhaus runs any more, neither the system service nor the user's instance.
  EXPECT_TRUE(funkhausProcesses().empty()) << ::testing::PrintToString(funkhausProcesses());
  EXPECT_TRUE(funkhausMemfds().empty()) << ::testing::PrintToString(funkhausMemfds());
  EXPECT_EQ(show("ActiveState"), "inactive");
  EXPECT_EQ(userShow("ActiveState"), "inactive");
  EXPECT_FALSE(in("test -e /usr/sbin/funkhausd").ok());
  EXPECT_FALSE(in("test -e /lib/systemd/system/funkhaus.service").ok());
  // Removed, not purged: the configuration stays.
  EXPECT_TRUE(in("test -f /etc/funkhaus/funkhaus.toml").ok());
  EXPECT_EQ(trim(in("dpkg-query -W -f='${Status}' funkhaus").output), "deinstall ok config-files");

  t = std::chrono::steady_clock::now();
  const auto purge = in("dpkg -P funkhaus");
  ASSERT_TRUE(purge.ok()) << purge.output;
  std::printf("[figures] dpkg -P funkhaus: %.0f ms\n", msSince(t));
  EXPECT_FALSE(in("test -e /etc/funkhaus").ok()) << in("ls -la /etc/funkhaus").output;
  EXPECT_FALSE(in("dpkg-query -W funkhaus").ok());
  EXPECT_FALSE(in("test -e /etc/systemd/system/multi-user.target.wants/funkhaus.service").ok());
  EXPECT_FALSE(in("test -e /run/funkhaus").ok());
}

}  // namespace
}  // namespace funkhaus
