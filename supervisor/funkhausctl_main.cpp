// funkhausctl: shows funkhausd's sessions and workers and restarts, stops or starts one; pairs
// Moonlight clients with the host (GameStream, through funkhaus-web), lists and unpairs them.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "funkhaus/supervisor/control_client.h"
#include "funkhaus/supervisor/control_protocol.h"
#include "funkhaus/supervisor/latency_split.h"
#include "funkhaus/supervisor/stats_view.h"
#include "funkhaus/supervisor/worker_table.h"

namespace {

using namespace funkhaus;
using namespace funkhaus::supervisor;

// Sends one request and returns the reply line.
Result<std::string> call(const std::string& address, const ControlRequest& request) {
  return callControl(address, encodeControlRequest(request));
}

// Text from funkhausd may come from a worker, and a client name from the network: no control
// characters reach the terminal.
std::string printable(std::string text) {
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return text;
}

std::string cell(const nlohmann::json& j) {
  if (j.is_null()) return "-";
  if (j.is_string()) return printable(j.get<std::string>());
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

// "3 min ago" from Unix seconds (0: never).
std::string ago(const nlohmann::json& unix_seconds) {
  if (!unix_seconds.is_number_integer() || unix_seconds.get<int64_t>() <= 0) return "never";
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t s = std::max<int64_t>(now - unix_seconds.get<int64_t>(), 0);
  char b[64];
  if (s < 120)
    std::snprintf(b, sizeof b, "%llds ago", static_cast<long long>(s));
  else if (s < 7200)
    std::snprintf(b, sizeof b, "%lld min ago", static_cast<long long>(s / 60));
  else if (s < 172800)
    std::snprintf(b, sizeof b, "%lld h ago", static_cast<long long>(s / 3600));
  else
    std::snprintf(b, sizeof b, "%lld days ago", static_cast<long long>(s / 86400));
  return b;
}

void printWorkerRow(const nlohmann::json& w) {
  const auto counters = at(w, "counters");
  std::string extra;
  if (w.contains("viewers")) extra = "viewers " + cell(w["viewers"]);
  if (w.contains("devices")) extra = "devices " + cell(w["devices"]);
  std::printf("  %-8s %-8s %-8s %8s %8s %-20s %6s %6s %7s %7s %9s %6s %s\n",
              cell(at(w, "name")).c_str(), cell(at(w, "pid")).c_str(), cell(at(w, "state")).c_str(),
              cell(at(w, "uptime_s")).c_str(), cell(at(w, "restarts")).c_str(),
              cell(at(w, "last_exit")).c_str(), cell(at(w, "heartbeat_age_ms")).c_str(),
              cell(at(w, "fps")).c_str(), cell(at(w, "latency_p50_ms")).c_str(),
              cell(at(w, "latency_p99_ms")).c_str(), cell(at(counters, "frames_out")).c_str(),
              cell(at(counters, "drops")).c_str(), extra.c_str());
  if (w.contains("failure")) std::printf("      failed: %s\n", cell(w["failure"]).c_str());
}

void printHeader() {
  std::printf("  %-8s %-8s %-8s %8s %8s %-20s %6s %6s %7s %7s %9s %6s %s\n", "WORKER", "PID",
              "STATE", "UPTIME_S", "RESTARTS", "LAST_EXIT", "HB_MS", "FPS", "P50_MS", "P99_MS",
              "FRAMES", "DROPS", "");
}

// The GameStream section: funkhausd's sockets and what funkhaus-web reported.
void printGamestream(const nlohmann::json& g) {
  std::printf("GameStream (Moonlight): %s HTTP %s, HTTPS %s; %s",
              cell(at(g, "listen_address")).c_str(), cell(at(g, "http_port")).c_str(),
              cell(at(g, "https_port")).c_str(), cell(at(g, "worker_state")).c_str());
  if (g.contains("error")) {
    std::printf(" (%s)\n", cell(g["error"]).c_str());
    return;
  }
  std::printf(", '%s', %s paired client(s), %s pending pairing(s), running app: %s\n",
              cell(at(g, "name")).c_str(), cell(at(g, "paired_clients")).c_str(),
              cell(at(g, "pending_pairings")).c_str(),
              g.contains("running_app_title") ? cell(g["running_app_title"]).c_str() : "none");
}

void printTable(const nlohmann::json& status) {
  std::printf("funkhausd pid %s, %s mode\n", cell(at(status, "pid")).c_str(),
              cell(at(status, "mode")).c_str());
  if (const auto net = at(status, "net"); net.is_object())
    std::printf("viewers: rtsp://HOST:%s%s (RTP/RTCP on UDP %s)\n",
                cell(at(net, "rtsp_port")).c_str(), cell(at(net, "path")).c_str(),
                cell(at(net, "rtp_port")).c_str());
  if (const auto g = at(status, "gamestream"); g.is_object()) printGamestream(g);
  if (const auto host = at(status, "host_workers"); host.is_array() && !host.empty()) {
    std::printf("\nhost workers\n");
    printHeader();
    for (const auto& w : host) printWorkerRow(w);
  }
  const auto sessions = status.value("sessions", nlohmann::json::array());
  if (sessions.empty()) std::printf("\nno active session: no session workers running\n");
  for (const auto& s : sessions) {
    std::printf("\nsession %s (%s, %s) user %s uid %s\n", cell(at(s, "id")).c_str(),
                cell(at(s, "type")).c_str(), cell(at(s, "class")).c_str(),
                cell(at(s, "user")).c_str(), cell(at(s, "uid")).c_str());
    printHeader();
    for (const auto& w : s["workers"]) printWorkerRow(w);
    for (const std::string& line : latencySplitLines(at(s, "latency")))
      std::printf("%s\n", line.c_str());
    for (const auto& m : s.value("monitors", nlohmann::json::array()))
      std::printf("  virtual monitor %s: DISPLAY=%s%s%s, %sx%s at %s Hz\n",
                  cell(at(m, "id")).c_str(), cell(at(m, "display")).c_str(),
                  cell(at(m, "xauthority")).empty() || cell(at(m, "xauthority")) == "-"
                      ? ""
                      : " XAUTHORITY=",
                  cell(at(m, "xauthority")) == "-" ? "" : cell(at(m, "xauthority")).c_str(),
                  cell(at(m, "width")).c_str(), cell(at(m, "height")).c_str(),
                  cell(at(m, "refresh_hz")).c_str());
    if (const auto g = at(s, "gamestream"); g.is_object()) {
      std::printf("  GameStream stream: %s", cell(at(g, "phase")).c_str());
      if (g.contains("client")) std::printf(" to client %.12s", cell(g["client"]).c_str());
      if (g.contains("width"))
        std::printf(", %sx%s@%s %s %s kbit/s, FEC %s %%", cell(g["width"]).c_str(),
                    cell(at(g, "height")).c_str(), cell(at(g, "fps")).c_str(),
                    cell(at(g, "codec")).c_str(), cell(at(g, "bitrate_kbps")).c_str(),
                    cell(at(g, "fec_percent")).c_str());
      if (g.contains("frames_sent"))
        std::printf(", %s frames sent, %s bad datagrams/messages dropped, last heard %s ms ago",
                    cell(g["frames_sent"]).c_str(), cell(at(g, "dropped_input")).c_str(),
                    cell(at(g, "last_heard_ms")).c_str());
      std::printf("\n");
    }
    if (const auto a = at(s, "sound_server"); a.is_object()) {
      // The line a person copies to play into the session: PULSE_SERVER=... paplay x.wav
      std::printf("  sound server: %s",
                  a.value("env", std::string()).empty() ? "none" : cell(at(a, "env")).c_str());
      if (at(a, "started_by_funkhaus") == true) {
        std::printf(" (pulseaudio started by funkhaus: %s", cell(at(a, "state")).c_str());
        if (!at(a, "pid").is_null()) std::printf(", pid %s", cell(at(a, "pid")).c_str());
        std::printf(", %s restarts", cell(at(a, "restarts")).c_str());
        if (!at(a, "last_exit").is_null())
          std::printf(", last exit %s", cell(at(a, "last_exit")).c_str());
        std::printf(")");
      } else {
        std::printf(" (%s)", cell(at(a, "state")).c_str());
      }
      if (a.contains("failure")) std::printf(": %s", cell(a["failure"]).c_str());
      std::printf("\n");
    }
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

// The reply of a request funkhaus-web served, for people.
void printForwarded(const ControlRequest& request, const nlohmann::json& j) {
  if (request.command == "pairing") {
    const auto pending = j.value("pending", nlohmann::json::array());
    if (pending.empty()) {
      std::printf(
          "no pairing request waits: start pairing in Moonlight (it shows a PIN), then run "
          "funkhausctl pair PIN\n");
      return;
    }
    std::printf("%-40s %-24s %8s %s\n", "ADDRESS", "CLIENT", "AGE_S", "STATE");
    for (const auto& p : pending)
      std::printf("%-40s %-24s %8s %s\n", cell(at(p, "address")).c_str(),
                  cell(at(p, "name")).c_str(), cell(at(p, "age_s")).c_str(),
                  at(p, "waiting_for_pin") == true ? "waiting for the PIN: funkhausctl pair PIN"
                                                   : "pairing");
  } else if (request.command == "pair") {
    std::printf("PIN entered for the pairing request from %s: Moonlight finishes pairing now\n",
                cell(at(j, "address")).c_str());
  } else if (request.command == "clients") {
    const auto clients = j.value("clients", nlohmann::json::array());
    if (clients.empty()) {
      std::printf("no paired clients\n");
      return;
    }
    std::printf("%-16s %-24s %-16s %s\n", "ID", "NAME", "PAIRED", "LAST_SEEN");
    for (const auto& c : clients)
      std::printf("%-16s %-24s %-16s %s\n", cell(at(c, "id")).substr(0, 16).c_str(),
                  cell(at(c, "name")).c_str(), ago(at(c, "paired_at")).c_str(),
                  ago(at(c, "last_seen")).c_str());
    std::printf(
        "(ID: the first 16 hex digits of the SHA-256 of its certificate; funkhausctl "
        "unpair ID)\n");
  } else if (request.command == "unpair") {
    std::printf("unpaired %s (%s): it is refused from now on\n", cell(at(j, "name")).c_str(),
                cell(at(j, "id")).substr(0, 16).c_str());
  } else if (request.command == "set-password") {
    std::printf("console password set: every console session is logged out\n");
  } else if (request.command == "new-metrics-token") {
    std::printf("%s\n", cell(at(j, "token")).c_str());
    std::fprintf(stderr,
                 "(the new /metrics token, shown this once: scrapers send it as "
                 "'Authorization: Bearer TOKEN'; the old one no longer works)\n");
  } else {
    std::printf("%s\n", j.dump().c_str());
  }
}

// The console password: from the terminal without echo, asked twice, or one line of stdin.
Result<std::string> readConsolePassword(bool from_stdin) {
  if (from_stdin) return readInputLine("", false);
  if (!inputIsTerminal())
    return makeError("standard input is not a terminal: use console-password --stdin");
  auto first = readInputLine("New console password: ", true);
  if (!first) return first;
  auto second = readInputLine("Again: ", true);
  if (!second) return second;
  if (*first != *second) return makeError("the two passwords differ: nothing changed");
  return first;
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
    std::fprintf(stderr, "funkhausctl: %s\n",
                 printable(j.value("error", std::string("refused"))).c_str());
    return 1;
  }
  if (request.kind == ControlRequest::Kind::kMode)
    std::printf("virtual monitor %s is now %sx%s\n", cell(at(j, "display")).c_str(),
                cell(at(j, "width")).c_str(), cell(at(j, "height")).c_str());
  if (request.kind == ControlRequest::Kind::kForward) {
    if (json) {
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
    printForwarded(request, j);
  }
  if (request.kind == ControlRequest::Kind::kStatus) {
    if (json)
      std::printf("%s\n", j.dump().c_str());
    else
      printTable(j);
  }
  return 0;
}

// The stats recorder's and logs' requests. `format`: "" (tables), "json" or "csv" (export).
int runRecorder(const std::string& socket_path, const ControlRequest& request,
                const std::string& format) {
  // The same checks funkhausd makes, so that a bad id or name gets a message here.
  if (auto checked = parseControlRequest(encodeControlRequest(request)); !checked) {
    std::fprintf(stderr, "funkhausctl: %s\n", checked.error().message.c_str());
    return 2;
  }
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
    std::fprintf(stderr, "funkhausctl: %s\n",
                 printable(j.value("error", std::string("refused"))).c_str());
    return 1;
  }
  const nlohmann::json capture = at(j, "capture");
  if (format == "json") {
    std::printf("%s\n", (capture.is_null() ? j : capture)
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                            .c_str());
    return 0;
  }
  if (format == "csv") {
    auto csv = statsCsv(capture);
    if (!csv) {
      std::fprintf(stderr, "funkhausctl: %s\n", csv.error().message.c_str());
      return 1;
    }
    std::fputs(csv->c_str(), stdout);
    return 0;
  }
  std::vector<std::string> lines;
  switch (request.kind) {
    case ControlRequest::Kind::kStatsStart:
      lines.push_back("capture " + cell(at(j, "id")) +
                      " armed: sampled every second until funkhausctl stats stop");
      break;
    case ControlRequest::Kind::kStatsStop:
      lines.push_back("capture " + cell(at(j, "id")) + " stopped and saved, " +
                      cell(at(j, "samples")) + " samples: funkhausctl stats show " +
                      cell(at(j, "id")));
      break;
    case ControlRequest::Kind::kStatsList:
      lines = statsListLines(j);
      break;
    case ControlRequest::Kind::kStatsShow:
      lines = statsSeriesLines(capture);
      break;
    case ControlRequest::Kind::kStatsRm:
      lines.push_back("capture " + request.id + " removed");
      break;
    case ControlRequest::Kind::kLogs:
      lines = logLines(j);
      break;
    default:
      break;
  }
  for (const std::string& line : lines) std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"funkhausctl: show and steer funkhausd's workers"};
  app.require_subcommand(1);
  std::string socket_path;
  app.add_option("--socket", socket_path, controlAddressHelp());
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
  std::string pin, client_address, client_id;
  auto* pair = app.add_subcommand(
      "pair", "Pair a Moonlight client: enter the PIN it shows (no PIN: list waiting requests)");
  pair->add_option("pin", pin, "The 4 digits Moonlight shows");
  pair->add_option("--address", client_address, "The client's address when several wait");
  pair->add_flag("--json", json, "The reply as JSON");
  auto* clients = app.add_subcommand("clients", "The paired Moonlight clients");
  clients->add_flag("--json", json, "The reply as JSON");
  auto* unpair = app.add_subcommand("unpair", "Unpair a Moonlight client (refused at once)");
  unpair->add_option("id", client_id, "Its ID (8 or more hex digits, from funkhausctl clients)")
      ->required();
  std::string mode_text;
  auto* mode = app.add_subcommand("mode", "Change the virtual monitor's mode live");
  mode->add_option("mode", mode_text, "WIDTHxHEIGHT or WIDTHxHEIGHT@HZ, e.g. 1280x720@60")
      ->required();
  bool password_stdin = false;
  auto* console_password = app.add_subcommand(
      "console-password", "Set the web console's password (asked twice, not echoed)");
  console_password->add_flag("--stdin", password_stdin, "Read it as one line of standard input");
  auto* metrics_token = app.add_subcommand(
      "metrics-token", "Make a new bearer token for /metrics (printed once; the old one ends)");
  // The stats recorder (stats start|stop|list|show|rm|export) and funkhausd's recent log lines.
  std::string stats_name, stats_id, recorder_format;
  bool as_csv = false, as_json = false;
  uint32_t log_seconds = 300;
  auto* stats = app.add_subcommand("stats", "Stats captures: per-second samples of every worker");
  stats->require_subcommand(1);
  auto* stats_start = stats->add_subcommand("start", "Arm a capture (one at a time)");
  stats_start->add_option("--name", stats_name, "A name for it (part of its id)");
  auto* stats_stop = stats->add_subcommand("stop", "Stop the armed capture and save it");
  auto* stats_list = stats->add_subcommand("list", "The saved captures and the armed one");
  auto* stats_show = stats->add_subcommand("show", "A capture's series: min, median, max");
  auto* stats_rm = stats->add_subcommand("rm", "Remove a saved capture");
  auto* stats_export = stats->add_subcommand("export", "A capture as CSV or JSON on stdout");
  for (auto* sub : {stats_show, stats_rm, stats_export})
    sub->add_option("id", stats_id, "The capture's id (funkhausctl stats list)")->required();
  for (auto* sub : {stats_list, stats_show}) sub->add_flag("--json", as_json, "The reply as JSON");
  auto* csv_flag = stats_export->add_flag("--csv", as_csv, "One row per second, a column a series");
  auto* json_flag = stats_export->add_flag("--json", as_json, "The capture file's JSON");
  csv_flag->excludes(json_flag);
  auto* logs = app.add_subcommand("logs", "funkhausd's log lines of the last seconds");
  logs->add_option("--seconds", log_seconds, "How far back (1 to 3600, default 300)")
      ->check(CLI::Range(1, 3600));
  logs->add_flag("--json", as_json, "The reply as JSON");
  CLI11_PARSE(app, argc, argv);

  if (socket_path.empty()) socket_path = defaultControlAddress();
  ControlRequest request;
  request.worker = worker;
  if (*stats || *logs) {
    if (*stats_export && !as_csv && !as_json) {
      std::fprintf(stderr, "funkhausctl: stats export needs --csv or --json\n");
      return 2;
    }
    using Kind = ControlRequest::Kind;
    request.kind = *stats_start  ? Kind::kStatsStart
                   : *stats_stop ? Kind::kStatsStop
                   : *stats_list ? Kind::kStatsList
                   : *stats_rm   ? Kind::kStatsRm
                   : *logs       ? Kind::kLogs
                                 : Kind::kStatsShow;
    request.name = stats_name;
    request.id = stats_id;
    request.seconds = log_seconds;
    return runRecorder(socket_path, request, as_csv ? "csv" : as_json ? "json" : "");
  }
  if (*restart) request.kind = ControlRequest::Kind::kRestart;
  if (*stop) request.kind = ControlRequest::Kind::kStop;
  if (*start) request.kind = ControlRequest::Kind::kStart;
  if (*pair && pin.empty() && !client_address.empty()) {
    std::fprintf(stderr,
                 "funkhausctl: --address picks the client a PIN is for: funkhausctl pair PIN "
                 "--address ADDRESS\n");
    return 2;
  }
  if (*pair || *clients || *unpair) {
    request.kind = ControlRequest::Kind::kForward;
    request.command = *clients ? "clients" : *unpair ? "unpair" : pin.empty() ? "pairing" : "pair";
    request.pin = pin;
    request.address = client_address;
    request.id = client_id;
    // The same checks funkhausd makes, so that a typo gets a message here.
    if (auto checked = parseControlRequest(encodeControlRequest(request)); !checked) {
      std::fprintf(stderr, "funkhausctl: %s\n", checked.error().message.c_str());
      return 2;
    }
  }
  if (*console_password || *metrics_token) {
    request.kind = ControlRequest::Kind::kForward;
    request.command = *metrics_token ? "new-metrics-token" : "set-password";
    if (*console_password) {
      auto password = readConsolePassword(password_stdin);
      if (!password) {
        std::fprintf(stderr, "funkhausctl: %s\n", password.error().message.c_str());
        return 2;
      }
      request.password = std::move(*password);
    }
    if (auto checked = parseControlRequest(encodeControlRequest(request)); !checked) {
      std::fprintf(stderr, "funkhausctl: %s\n", checked.error().message.c_str());
      return 2;
    }
  }
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
