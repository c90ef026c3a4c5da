// The worker table: one row per worker, and the lookups on it.
#include "funkhaus/supervisor/worker_table.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "funkhaus/net/protocol_declarations.h"
#include "funkhaus/net/rtsp_digest.h"
#include "funkhaus/supervisor/config.h"

namespace funkhaus::supervisor {
namespace {

using namespace std::chrono_literals;

// Frames come from the virtual display driver (or may, while the source is still "auto").
bool displaySource(const Config& c) {
  return c.capture.source == "vdisplay" || c.capture.source == "auto";
}

bool onPath(const std::string& program) {
  auto executable = [](const std::string& path) { return access(path.c_str(), X_OK) == 0; };
  if (const char* path = getenv("PATH")) {
    std::string_view rest = path;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      if (executable(std::string(rest.substr(0, colon)) + "/" + program)) return true;
      rest = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
    }
  }
  return executable("/usr/bin/" + program);
}

// The driver joins only when frames may come from it (an explicit synthetic or x11 source would
// leave a virtual display running that nobody watches), its binary is there and Xvfb too.
bool vdisplayAvailable(const Config& c, const std::string& worker_dir) {
  return displaySource(c) && access((worker_dir + "/funkhaus-vdisplay").c_str(), X_OK) == 0 &&
         onPath("Xvfb");
}

std::vector<std::string> noArgs(const Config&) { return {}; }

// Input needs somewhere to go: an X display (any source but the synthetic picture has one) or
// /dev/uinput, which funkhausd opens for it.
bool inputAvailable(const Config& c, const std::string& worker_dir) {
  return access((worker_dir + "/funkhaus-input").c_str(), X_OK) == 0 &&
         (c.capture.source != "synthetic" || access("/dev/uinput", W_OK) == 0);
}

bool audioEnabled(const Config& c) { return c.audio.enabled; }

bool audioAvailable(const Config& c, const std::string& worker_dir) {
  return c.audio.enabled && access((worker_dir + "/funkhaus-audio").c_str(), X_OK) == 0;
}

std::vector<std::string> audioArgs(const Config& c) {
  std::vector<std::string> args = {"--channels", std::to_string(c.audio.channels),
                                   "--bitrate",  std::to_string(audioBitrate(c.audio)),
                                   "--frame-ms", std::to_string(c.audio.frame_ms)};
  if (c.audio.source == "sync")
    args.insert(args.end(),
                {"--source", "sync", "--sync-click-ms", std::to_string(c.audio.sync_click_ms)});
  return args;
}

std::vector<std::string> captureArgs(const Config& c) {
  if (c.capture.source == "vdisplay")
    // The monitor's own size; the ring's capacity bounds it.
    return {"--source", "vdisplay", "--fps", std::to_string(c.capture.fps)};
  std::vector<std::string> args = {"--source", c.capture.source,
                                   "--width",  std::to_string(c.capture.width),
                                   "--height", std::to_string(c.capture.height),
                                   "--fps",    std::to_string(c.capture.fps)};
  if (c.capture.sync_flash_ms != 0)
    args.insert(args.end(), {"--sync-flash-ms", std::to_string(c.capture.sync_flash_ms)});
  return args;
}

std::vector<std::string> encodeArgs(const Config& c) {
  return {"--encoder",  c.encode.encoder,
          "--bitrate",  std::to_string(uint64_t{c.encode.bitrate_kbps} * 1000),
          "--fps",      std::to_string(c.capture.fps),
          "--preset",   c.encode.preset,
          "--idle-fps", std::to_string(c.encode.idle_fps)};
}

std::vector<std::string> netArgs(const Config& c) {
  return {"--path",
          c.net.path,
          "--max-viewers",
          std::to_string(c.net.max_viewers),
          "--mtu",
          std::to_string(c.net.mtu),
          "--session-timeout",
          std::to_string(c.net.session_timeout_s)};
}

// Viewers from other hosts sign in with these; the password itself never leaves funkhausd.
std::vector<std::string> netEnvironment(const Config& c) {
  const std::string credentials = rtspDigestCredentials(c);
  if (credentials.empty()) return {};
  return {std::string(net::kRtspDigestEnvironment) + "=" + credentials};
}

bool gamestreamEnabled(const Config& c) { return c.gamestream.enabled; }

// The apps besides Desktop as ID:TITLE; the state directory comes from funkhausd (per mode).
std::vector<std::string> webArgs(const Config& c) {
  std::vector<std::string> out;
  if (!c.gamestream.name.empty()) out.insert(out.end(), {"--name", c.gamestream.name});
  for (size_t i = 0; i < c.gamestream.apps.size(); ++i)
    out.insert(out.end(),
               {"--app", std::to_string(gamestreamAppId(i)) + ":" + c.gamestream.apps[i].title});
  if (!c.gamestream.mdns) out.emplace_back("--no-mdns");
  return out;
}

bool consoleEnabled(const Config& c) { return c.console.enabled; }

// Where it listens when funkhausd could not hand it its socket (it then tries itself and fails
// visibly in the status).
std::vector<std::string> consoleArgs(const Config& c) {
  return {"--address", c.console.address, "--port", std::to_string(c.console.port)};
}

constexpr EventRoute kLogErrors{abi::Event::kError, EventAction::kLog};

const std::vector<WorkerSpec>& rows() {
  static const std::vector<WorkerSpec> table = {
      {.name = "vdisplay",
       .binary = "funkhaus-vdisplay",
       .kind = abi::WorkerKind::kVdisplay,
       .summary = "virtual monitors (Xvfb), leased by funkhausd per session",
       .args = noArgs,
       .edges = {{EdgeDirection::kOut, abi::RingId::kDisplay, EdgeDelivery::kLease, displaySource}},
       .events = {{abi::Event::kModeChanged, EventAction::kLog}, kLogErrors},
       .commands = {abi::Command::kStop},
       .devices = {Device::kDisplayControl},
       .default_start = DefaultStart::kIfAvailable,
       .available = vdisplayAvailable},
      {.name = "capture",
       .binary = "funkhaus-capture",
       .kind = abi::WorkerKind::kCapture,
       .summary = "display -> I420 frame ring",
       .args = captureArgs,
       .edges = {{EdgeDirection::kIn, abi::RingId::kDisplay, EdgeDelivery::kHandOver,
                  displaySource},
                 {EdgeDirection::kOut, abi::RingId::kFrames}},
       .events = {{abi::Event::kModeChanged, EventAction::kLog}, kLogErrors},
       .commands = {abi::Command::kStop, abi::Command::kSetFps}},
      {.name = "encode",
       .binary = "funkhaus-encode",
       .kind = abi::WorkerKind::kEncode,
       .summary = "frame ring -> access units in the packet ring",
       .args = encodeArgs,
       .edges = {{EdgeDirection::kIn, abi::RingId::kFrames},
                 {EdgeDirection::kOut, abi::RingId::kVideoPackets}},
       .events = {kLogErrors},
       .commands = {abi::Command::kStop, abi::Command::kKeyframe, abi::Command::kSetBitrate,
                    abi::Command::kSetCodec, abi::Command::kSetFps}},
      {.name = "net",
       .binary = "funkhaus-net",
       .kind = abi::WorkerKind::kNet,
       .summary = "packet ring -> viewers (RTSP/RTP, GameStream); their input -> input ring",
       .args = netArgs,
       .environment = netEnvironment,
       .edges = {{EdgeDirection::kIn, abi::RingId::kVideoPackets},
                 {EdgeDirection::kIn, abi::RingId::kAudioPackets},
                 {EdgeDirection::kOut, abi::RingId::kInput}},
       .events = {{abi::Event::kKeyframeRequest, EventAction::kCommandRingConsumer,
                   abi::RingId::kFrames, abi::Command::kKeyframe, 100ms},
                  {abi::Event::kModeRequest, EventAction::kDisplayMode},
                  {abi::Event::kCodecRequest,
                   EventAction::kCommandRingConsumer,
                   abi::RingId::kFrames,
                   abi::Command::kSetCodec,
                   {},
                   true},
                  {abi::Event::kBitrateRequest,
                   EventAction::kCommandRingConsumer,
                   abi::RingId::kFrames,
                   abi::Command::kSetBitrate,
                   {},
                   true},
                  // The frame rate goes to both ends of the frame ring.
                  {abi::Event::kFpsRequest,
                   EventAction::kCommandRingConsumer,
                   abi::RingId::kFrames,
                   abi::Command::kSetFps,
                   {},
                   true},
                  {abi::Event::kFpsRequest,
                   EventAction::kCommandRingProducer,
                   abi::RingId::kFrames,
                   abi::Command::kSetFps,
                   {},
                   true},
                  // Whether anybody listens, and to what; a restarted audio worker hears it again.
                  {abi::Event::kAudioRequest,
                   EventAction::kCommandRingProducer,
                   abi::RingId::kAudioPackets,
                   abi::Command::kSetAudio,
                   {},
                   true},
                  kLogErrors},
       .commands = {abi::Command::kStop},
       .devices = {Device::kNetEndpoints},
       .deposits_connections = true,
       .reports_viewers = true},
      {.name = "input",
       .binary = "funkhaus-input",
       .kind = abi::WorkerKind::kInput,
       .summary = "input ring -> the session (XTEST on its X display, uinput devices)",
       .args = noArgs,
       .edges = {{EdgeDirection::kIn, abi::RingId::kInput}},
       .events = {kLogErrors},
       .commands = {abi::Command::kStop},
       .devices = {Device::kUinput},
       .reports_devices = true,
       .default_start = DefaultStart::kIfAvailable,
       .available = inputAvailable,
       .on_monitor = true},
      {.name = "audio",
       .binary = "funkhaus-audio",
       .kind = abi::WorkerKind::kAudio,
       .summary = "the session's sound server -> Opus packets in the audio ring",
       .args = audioArgs,
       .edges = {{EdgeDirection::kOut, abi::RingId::kAudioPackets}},
       .events = {kLogErrors},
       .commands = {abi::Command::kStop, abi::Command::kSetAudio},
       .default_start = DefaultStart::kIfAvailable,
       .available = audioAvailable,
       .enabled = audioEnabled,
       .sound_server = true},
      {.name = "web",
       .binary = "funkhaus-web",
       .kind = abi::WorkerKind::kWeb,
       .summary = "GameStream HTTP(S): pairing, app list, launch (host-wide, service user)",
       .args = webArgs,
       .events = {kLogErrors},
       .commands = {abi::Command::kStop},
       .devices = {Device::kNetEndpoints},
       .credentials = CredentialPolicy::kServiceUser,
       .scope = Scope::kHost,
       .default_start = DefaultStart::kNever,
       .enabled = gamestreamEnabled,
       .requests = {"launch", "cancel"},
       .serves = {"pairing", "pair", "clients", "unpair", "host-state"},
       .serves_mutating = {"pair", "unpair"},
       .state_dir = true},
      {.name = "console",
       .binary = "funkhaus-console",
       .kind = abi::WorkerKind::kConsole,
       .summary = "web console (HTTPS, host certificate) and /metrics (host-wide, service user)",
       .args = consoleArgs,
       .events = {kLogErrors},
       .commands = {abi::Command::kStop},
       .devices = {Device::kConsoleListener},
       .credentials = CredentialPolicy::kServiceUser,
       .scope = Scope::kHost,
       .default_start = DefaultStart::kNever,
       .enabled = consoleEnabled,
       .requests = {"status", "restart", "stop", "start", "mode", "pairing", "pair", "clients",
                    "unpair", "stats-start", "stats-stop", "stats-list", "stats-show", "stats-rm",
                    "logs"},
       .serves = {"set-password", "new-metrics-token"},
       .serves_mutating = {"set-password", "new-metrics-token"},
       .state_dir = true,
       .control_requests = true},
  };
  return table;
}

const WorkerSpec* withEdge(abi::RingId ring, EdgeDirection direction,
                           std::span<const std::string> names, const Config* config) {
  for (const std::string& name : names) {
    const WorkerSpec* w = findWorker(name);
    if (w == nullptr) continue;
    for (const RingEdge& e : w->edges)
      if (e.ring == ring && e.direction == direction &&
          (config == nullptr || e.when == nullptr || e.when(*config)))
        return w;
  }
  return nullptr;
}

}  // namespace

std::span<const WorkerSpec> workerTable() { return rows(); }

const WorkerSpec* findWorker(std::string_view name) {
  for (const WorkerSpec& w : rows())
    if (w.name == name) return &w;
  return nullptr;
}

std::string workerNames(std::string_view separator, std::string_view last,
                        std::optional<Scope> scope) {
  std::vector<std::string_view> names;
  for (const WorkerSpec& w : rows())
    if (!scope || w.scope == *scope) names.push_back(w.name);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? last : separator;
    out += names[i];
  }
  return out;
}

std::vector<std::string> workerArgs(std::string_view name, const Config& config) {
  const WorkerSpec* w = findWorker(name);
  return w != nullptr ? w->args(config) : std::vector<std::string>{};
}

std::vector<std::string> workerEnvironment(std::string_view name, const Config& config) {
  const WorkerSpec* w = findWorker(name);
  return w != nullptr && w->environment != nullptr ? w->environment(config)
                                                   : std::vector<std::string>{};
}

std::string rtspDigestCredentials(const Config& config) {
  if (config.net.rtsp_password.empty()) return {};
  return config.net.rtsp_user + ":" +
         net::digestHa1(config.net.rtsp_user, net::kRtspDigestRealm, config.net.rtsp_password);
}

std::vector<std::string> defaultWorkers() {
  std::vector<std::string> out;
  for (const WorkerSpec& w : rows())
    if (w.scope == Scope::kSession && w.default_start == DefaultStart::kAlways)
      out.emplace_back(w.name);
  return out;
}

bool anyUsesSoundServer(std::span<const std::string> names) {
  for (const auto& name : names)
    if (const WorkerSpec* w = findWorker(name); w != nullptr && w->sound_server) return true;
  return false;
}

std::vector<RingEdge> activeEdges(const WorkerSpec& worker, const Config& config) {
  std::vector<RingEdge> out;
  for (const RingEdge& e : worker.edges)
    if (e.when == nullptr || e.when(config)) out.push_back(e);
  return out;
}

bool hasDevice(const WorkerSpec& worker, Device device) {
  return std::find(worker.devices.begin(), worker.devices.end(), device) != worker.devices.end();
}

bool anyHasDevice(Device device, std::span<const std::string> names) {
  for (const auto& name : names)
    if (const WorkerSpec* w = findWorker(name); w != nullptr && hasDevice(*w, device)) return true;
  return false;
}

Result<void> checkWorkerBinaries(std::span<const std::string> names,
                                 const std::string& worker_dir) {
  for (const auto& name : names) {
    const WorkerSpec* w = findWorker(name);
    if (w == nullptr) return makeError("no worker \"{}\" in the worker table", name);
    const std::string path = worker_dir + "/" + std::string(w->binary);
    if (access(path.c_str(), X_OK) != 0)
      return makeError(
          "worker binary {} (worker {}) is missing or not executable: {}; install it or set "
          "--worker-dir",
          path, name, std::strerror(errno));
  }
  return {};
}

const EventRoute* routeOf(const WorkerSpec& worker, abi::Event event) {
  for (const EventRoute& r : worker.events)
    if (r.event == event) return &r;
  return nullptr;
}

bool maySend(const WorkerSpec& worker, std::string_view cmd) {
  return std::find(worker.requests.begin(), worker.requests.end(), cmd) != worker.requests.end();
}

const WorkerSpec* servingWorker(std::string_view cmd) {
  for (const WorkerSpec& w : rows())
    if (std::find(w.serves.begin(), w.serves.end(), cmd) != w.serves.end()) return &w;
  return nullptr;
}

bool servedMutating(std::string_view cmd) {
  for (const WorkerSpec& w : rows())
    if (std::find(w.serves_mutating.begin(), w.serves_mutating.end(), cmd) !=
        w.serves_mutating.end())
      return true;
  return false;
}

const WorkerSpec* consumerOf(abi::RingId ring, std::span<const std::string> names,
                             const Config* config) {
  return withEdge(ring, EdgeDirection::kIn, names, config);
}

const WorkerSpec* producerOf(abi::RingId ring, std::span<const std::string> names,
                             const Config* config) {
  return withEdge(ring, EdgeDirection::kOut, names, config);
}

}  // namespace funkhaus::supervisor
