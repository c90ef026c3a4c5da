// funkhausctl: shows funkhausd's sessions and workers and restarts, stops or starts one.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "funkhaus/common/unique_fd.h"
#include "funkhaus/supervisor/control_protocol.h"
#include "funkhaus/supervisor/supervisor.h"
#include "funkhaus/supervisor/worker_table.h"

namespace {

using namespace funkhaus;
using namespace funkhaus::supervisor;

// Sends one request and returns the reply line.
Result<std::string> call(const std::string& path, const ControlRequest& request) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return makeError("socket path too long: {}", path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return makeError("cannot reach funkhausd at {}: {} (is it running?)", path,
                     std::strerror(errno));
  const std::string line = encodeControlRequest(request) + "\n";
  if (write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return makeError("writing to {}: {}", path, std::strerror(errno));
  std::string reply;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) return makeError("reading from {}: {}", path, std::strerror(errno));
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  if (reply.empty()) return makeError("funkhausd closed the connection without a reply");
  return reply;
}

std::string cell(const nlohmann::json& j) {
  if (j.is_null()) return "-";
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_float()) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", j.get<double>());
    return b;
  }
  return j.dump();
}

nlohmann::json at(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) ? j[key] : nlohmann::json();
}

void printTable(const nlohmann::json& status) {
  std::printf("funkhausd pid %s, %s mode\n", cell(at(status, "pid")).c_str(),
              cell(at(status, "mode")).c_str());
  if (const auto net = at(status, "net"); net.is_object())
    std::printf("viewers: rtsp://HOST:%s%s (RTP/RTCP on UDP %s)\n",
                cell(at(net, "rtsp_port")).c_str(), cell(at(net, "path")).c_str(),
                cell(at(net, "rtp_port")).c_str());
  const auto sessions = status.value("sessions", nlohmann::json::array());
  if (sessions.empty()) std::printf("\nno active session: no workers running\n");
  for (const auto& s : sessions) {
    std::printf("\nsession %s (%s, %s) user %s uid %s\n", cell(at(s, "id")).c_str(),
                cell(at(s, "type")).c_str(), cell(at(s, "class")).c_str(),
                cell(at(s, "user")).c_str(), cell(at(s, "uid")).c_str());
    std::printf("  %-8s %-8s %-8s %8s %8s %-20s %6s %6s %7s %7s %9s %6s %s\n", "WORKER", "PID",
                "STATE", "UPTIME_S", "RESTARTS", "LAST_EXIT", "HB_MS", "FPS", "P50_MS", "P99_MS",
                "FRAMES", "DROPS", "");
    for (const auto& w : s["workers"]) {
      const auto counters = at(w, "counters");
      std::string extra;
      if (w.contains("viewers")) extra = "viewers " + cell(w["viewers"]);
      std::printf("  %-8s %-8s %-8s %8s %8s %-20s %6s %6s %7s %7s %9s %6s %s\n",
                  cell(at(w, "name")).c_str(), cell(at(w, "pid")).c_str(),
                  cell(at(w, "state")).c_str(), cell(at(w, "uptime_s")).c_str(),
                  cell(at(w, "restarts")).c_str(), cell(at(w, "last_exit")).c_str(),
                  cell(at(w, "heartbeat_age_ms")).c_str(), cell(at(w, "fps")).c_str(),
                  cell(at(w, "latency_p50_ms")).c_str(), cell(at(w, "latency_p99_ms")).c_str(),
                  cell(at(counters, "frames_out")).c_str(), cell(at(counters, "drops")).c_str(),
                  extra.c_str());
      if (w.contains("failure")) std::printf("      failed: %s\n", cell(w["failure"]).c_str());
    }
    for (const auto& m : s.value("monitors", nlohmann::json::array()))
      std::printf("  virtual monitor %s: DISPLAY=%s%s%s, %sx%s at %s Hz\n",
                  cell(at(m, "id")).c_str(), cell(at(m, "display")).c_str(),
                  cell(at(m, "xauthority")).empty() || cell(at(m, "xauthority")) == "-"
                      ? ""
                      : " XAUTHORITY=",
                  cell(at(m, "xauthority")) == "-" ? "" : cell(at(m, "xauthority")).c_str(),
                  cell(at(m, "width")).c_str(), cell(at(m, "height")).c_str(),
                  cell(at(m, "refresh_hz")).c_str());
    if (s.contains("vdisplay_error"))
      std::printf("  vdisplay: %s\n", cell(s["vdisplay_error"]).c_str());
    if (const auto rings = at(s, "rings"); rings.is_object())
      for (const auto& [name, r] : rings.items()) {
        if (r.contains("slots"))
          std::printf(
              "  %s ring: %s slots, generation %s, published %s, consumed %s, dropped %s, "
              "repeated %s, abandoned %s\n",
              name.c_str(), cell(at(r, "slots")).c_str(), cell(at(r, "generation")).c_str(),
              cell(at(r, "published")).c_str(), cell(at(r, "consumed")).c_str(),
              cell(at(r, "dropped")).c_str(), cell(at(r, "repeated")).c_str(),
              cell(at(r, "abandoned")).c_str());
        else
          std::printf("  %s ring: %s of %s bytes in use, %s records, %s dropped\n", name.c_str(),
                      cell(at(r, "used_bytes")).c_str(), cell(at(r, "capacity_bytes")).c_str(),
                      cell(at(r, "records")).c_str(), cell(at(r, "dropped_records")).c_str());
      }
  }
}

// Runs one request; prints the result. Returns the exit code.
int run(const std::string& socket_path, const ControlRequest& request, bool json) {
  auto reply = call(socket_path, request);
  if (!reply) {
    std::fprintf(stderr, "funkhausctl: %s\n", reply.error().message.c_str());
    return 2;
  }
  const auto j = nlohmann::json::parse(*reply, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::fprintf(stderr, "funkhausctl: funkhausd sent an unreadable reply\n");
    return 2;
  }
  if (!j.value("ok", false)) {
    std::fprintf(stderr, "funkhausctl: %s\n", j.value("error", std::string("refused")).c_str());
    return 1;
  }
  if (request.kind == ControlRequest::Kind::kMode)
    std::printf("virtual monitor %s is now %sx%s\n", cell(at(j, "display")).c_str(),
                cell(at(j, "width")).c_str(), cell(at(j, "height")).c_str());
  if (request.kind == ControlRequest::Kind::kStatus) {
    if (json)
      std::printf("%s\n", j.dump().c_str());
    else
      printTable(j);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"funkhausctl: show and steer funkhausd's workers"};
  app.require_subcommand(1);
  std::string socket_path;
  app.add_option("--socket", socket_path,
                 "Control socket (default: /run/funkhaus/control.sock if it exists, else "
                 "$XDG_RUNTIME_DIR/funkhaus/control.sock of a user-mode funkhausd)");
  bool json = false;
  auto* status = app.add_subcommand("status", "Sessions and workers");
  status->add_flag("--json", json, "One JSON object instead of a table");
  auto* watch = app.add_subcommand("watch", "Refresh the status table every second");
  std::string worker;
  std::vector<std::string> names;
  for (const WorkerSpec& w : workerTable()) names.emplace_back(w.name);
  auto* restart = app.add_subcommand("restart", "Restart one worker live");
  restart->add_option("worker", worker)->required()->check(CLI::IsMember(names));
  auto* stop = app.add_subcommand("stop", "Stop one worker (it stays stopped)");
  stop->add_option("worker", worker)->required()->check(CLI::IsMember(names));
  auto* start = app.add_subcommand("start", "Start a stopped or failed worker");
  start->add_option("worker", worker)->required()->check(CLI::IsMember(names));
  std::string mode_text;
  auto* mode = app.add_subcommand("mode", "Change the virtual monitor's mode live");
  mode->add_option("mode", mode_text, "WIDTHxHEIGHT or WIDTHxHEIGHT@HZ, e.g. 1280x720@60")
      ->required();
  CLI11_PARSE(app, argc, argv);

  if (socket_path.empty()) {
    // The system funkhausd's socket if there is one, else this user's funkhausd.
    const std::string system_socket = defaultControlSocket(RunMode::kSystem);
    const std::string user_socket = defaultControlSocket(RunMode::kUser);
    socket_path = access(system_socket.c_str(), F_OK) == 0 || access(user_socket.c_str(), F_OK) != 0
                      ? system_socket
                      : user_socket;
  }
  ControlRequest request;
  request.worker = worker;
  if (*restart) request.kind = ControlRequest::Kind::kRestart;
  if (*stop) request.kind = ControlRequest::Kind::kStop;
  if (*start) request.kind = ControlRequest::Kind::kStart;
  if (*mode) {
    request.kind = ControlRequest::Kind::kMode;
    unsigned w = 0, h = 0, hz = 0;
    char extra = 0;
    const int n = std::sscanf(mode_text.c_str(), "%ux%u@%u%c", &w, &h, &hz, &extra);
    if (!(n == 2 || n == 3) || w == 0 || h == 0 || (n == 3 && hz == 0)) {
      std::fprintf(stderr, "funkhausctl: mode \"%s\" is not WIDTHxHEIGHT[@HZ]\n",
                   mode_text.c_str());
      return 2;
    }
    request.width = w;
    request.height = h;
    request.refresh_hz = n == 3 ? hz : 0;
  }
  if (*watch) {
    for (;;) {
      std::printf("\033[H\033[2J");
      const int rc = run(socket_path, request, false);
      std::fflush(stdout);
      if (rc != 0) return rc;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  return run(socket_path, request, json);
}
