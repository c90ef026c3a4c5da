// logind_session_leader: opens a real logind session the way a display manager's PAM module
// does (org.freedesktop.login1.Manager.CreateSession with itself as the leader), prints its id
// and keeps it open until SIGTERM. For the logind session source tests; runs as root inside
// the test's systemd namespace.
//   logind_session_leader UID TYPE CLASS DISPLAY
#include <signal.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s UID TYPE CLASS DISPLAY\n", argv[0]);
    return 64;
  }
  const auto uid = static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10));
  sd_bus* bus = nullptr;
  if (int r = sd_bus_open_system(&bus); r < 0) {
    std::fprintf(stderr, "system bus: %s\n", std::strerror(-r));
    return 1;
  }
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  // uid, leader pid, service, type, class, desktop, seat, vtnr, tty, display, remote,
  // remote user, remote host, properties.
  int r = sd_bus_call_method(
      bus, "org.freedesktop.login1", "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
      "CreateSession", &error, &reply, "uusssssussbssa(sv)", uid, static_cast<uint32_t>(getpid()),
      "funkhaus-test", argv[2], argv[3], "", "seat0", 0u, "", argv[4], 0, "", "", 0);
  if (r < 0) {
    std::fprintf(stderr, "CreateSession: %s\n", error.message ? error.message : std::strerror(-r));
    return 1;
  }
  const char* id = nullptr;
  const char* path = nullptr;
  const char* runtime = nullptr;
  int fifo = -1;
  r = sd_bus_message_read(reply, "sosh", &id, &path, &runtime, &fifo);
  if (r < 0) {
    std::fprintf(stderr, "CreateSession reply: %s\n", std::strerror(-r));
    return 1;
  }
  // The session lives as long as this end of its fifo stays open.
  const int kept = dup(fifo);
  std::printf("%s\n", id);
  std::fflush(stdout);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  close(kept);
  sd_bus_message_unref(reply);
  sd_bus_unref(bus);
  return 0;
}
