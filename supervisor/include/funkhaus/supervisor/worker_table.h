// The worker table: the session's topology as data. One row per worker — binary, arguments from
// the config, ring edges in and out, events it may send and where each goes, commands it takes,
// device fds funkhausd opens for it, credentials, scope. Read-only; any thread.
// Adding a worker is one row here plus its own folder; no worker name is compared elsewhere.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/result.h"

namespace funkhaus::supervisor {

struct Config;

enum class EdgeDirection { kIn, kOut };

// How the worker gets the ring: in its hand-over after hello, or through its device's control
// plane (the driver gets its ring with each monitor lease).
enum class EdgeDelivery { kHandOver, kLease };

struct RingEdge {
  EdgeDirection direction;
  abi::RingId ring;
  EdgeDelivery delivery = EdgeDelivery::kHandOver;
  // The edge exists only when this says so for the config (nullptr: always).
  bool (*when)(const Config&) = nullptr;
};

// What funkhausd does with an event a worker sends.
enum class EventAction {
  kLog,                  // logged, nothing else
  kCommandRingConsumer,  // `command` to the worker that consumes ring `ring` (route by edge)
  kCommandRingProducer,  // `command` to the worker that produces ring `ring`
  kDisplayMode,          // a viewer's mode request for the session's virtual monitor
};

struct EventRoute {
  abi::Event event;
  EventAction action = EventAction::kLog;
  abi::RingId ring{};       // kCommandRing*
  abi::Command command{};   // kCommandRing*
  Duration min_interval{};  // forwarded at most this often (a flood cannot make every frame an IDR)
  // kCommandRing*: the event's arg goes with the command, and the latest one is sent
  // again whenever the target (re)starts (a setting of the stream, not a one-off request).
  bool sticky = false;
};

// fds funkhausd opens and keeps for a worker (they outlive its processes).
enum class Device {
  kDisplayControl,  // a control socket to the virtual display driver (display leases)
  kNetEndpoints,    // the endpoints the enabled protocols declare for this worker's kind
  // /dev/uinput, opened kUinputDevices times (one per virtual device the worker may create).
  // Handed over and closed at once: a copy kept here would keep the worker's devices alive.
  kUinput,
  kConsoleListener,  // the web console's HTTPS listening socket ([console] address and port)
};

// 16 pads, keyboard, mouse, absolute mouse, touch screen, pen tablet.
inline constexpr uint32_t kUinputDevices = 21;

enum class CredentialPolicy {
  kSessionUser,  // the session's user (system mode); funkhausd's own in user mode
  // The unprivileged service user kServiceUser (system mode; never root: absent, the worker
  // fails); funkhausd's own in user mode.
  kServiceUser,
};

inline constexpr const char* kServiceUser = "funkhaus";

enum class Scope {
  kSession,  // one per session, moved with it
  kHost,     // as long as funkhausd runs
};

enum class DefaultStart {
  kAlways,       // in [workers] start unless the config names the workers
  kIfAvailable,  // joins when `available` says so for the config and the worker directory
  kNever,        // only when named
};

struct WorkerSpec {
  std::string_view name{};    // in the config, the control protocol and funkhausctl
  std::string_view binary{};  // in the worker directory
  abi::WorkerKind kind{};     // its hello must name this kind
  std::string_view summary{};
  std::vector<std::string> (*args)(const Config&) = nullptr;
  // Environment it gets on top of the session's ("NAME=value"; secrets go here, never in args).
  std::vector<std::string> (*environment)(const Config&) = nullptr;
  std::vector<RingEdge> edges{};
  std::vector<EventRoute> events{};      // events it may send; any other is ignored
  std::vector<abi::Command> commands{};  // commands it accepts (kStop: every worker)
  std::vector<Device> devices{};
  bool deposits_connections = false;  // may deposit accepted connections for safe keeping
  bool reports_viewers = false;       // its status page's viewer count is shown
  bool reports_devices = false;       // its status page's device count is shown
  CredentialPolicy credentials = CredentialPolicy::kSessionUser;
  Scope scope = Scope::kSession;
  DefaultStart default_start = DefaultStart::kAlways;  // session rows
  bool (*available)(const Config&, const std::string& worker_dir) = nullptr;
  // Runs when this says so for the config (nullptr: always): a host row starts only then; a
  // session row joins no default set otherwise, and [workers] start may not name it.
  bool (*enabled)(const Config&) = nullptr;
  // Requests it may send funkhausd ("cmd" of its kRequest JSON); any other is refused.
  std::vector<std::string_view> requests{};
  // Control requests funkhausd forwards to it as kRequest (funkhausctl's "cmd"), and which of
  // those change something (they need the control group).
  std::vector<std::string_view> serves{};
  std::vector<std::string_view> serves_mutating{};
  bool state_dir = false;  // gets --state-dir (funkhausd's state directory for the mode)
  // Its `requests` are control requests (control_protocol.h), answered as the control socket
  // answers funkhausctl's, by a peer with the control group's rights (the web console).
  bool control_requests = false;
  // Works on the session's virtual monitor: gets its DISPLAY and XAUTHORITY, and is restarted
  // when the session gets another monitor.
  bool on_monitor = false;
  // Talks to the session's sound server: with it in the set, funkhausd starts one for a session
  // that has none (sound_server.h), and the worker gets its PULSE_SERVER.
  bool sound_server = false;
};

// Every worker funkhausd knows, in default start order.
std::span<const WorkerSpec> workerTable();

// The row of `name`, or nullptr.
const WorkerSpec* findWorker(std::string_view name);
// "vdisplay, capture, encode, net, web" (for error messages and help); only rows of `scope` if
// given.
std::string workerNames(std::string_view separator = ", ", std::string_view last = ", ",
                        std::optional<Scope> scope = std::nullopt);

// The command-line arguments funkhausd gives worker `name` (a row of the table), or none.
std::vector<std::string> workerArgs(std::string_view name, const Config& config);

// The environment funkhausd adds for worker `name` ("NAME=value" entries), or none.
std::vector<std::string> workerEnvironment(std::string_view name, const Config& config);
// The RTSP Digest credentials funkhaus-net gets ("USER:HA1"), or "" without a password.
std::string rtspDigestCredentials(const Config& config);

// The session workers that start when the config names none (ignoring kIfAvailable rows).
std::vector<std::string> defaultWorkers();
// Any of the workers `names` talks to the session's sound server.
bool anyUsesSoundServer(std::span<const std::string> names);

// The edges of a worker that exist for this config.
std::vector<RingEdge> activeEdges(const WorkerSpec& worker, const Config& config);
bool hasDevice(const WorkerSpec& worker, Device device);
// Any of the workers `names` has `device`.
bool anyHasDevice(Device device, std::span<const std::string> names);
// Every worker of `names` is in the table and has its binary, executable, in `worker_dir`; the
// error names the first that does not.
Result<void> checkWorkerBinaries(std::span<const std::string> names, const std::string& worker_dir);
// Inline: WorkerProcess needs it where the table itself is not built (Windows, so far).
inline bool acceptsCommand(const WorkerSpec& worker, abi::Command command) {
  return std::find(worker.commands.begin(), worker.commands.end(), command) !=
         worker.commands.end();
}
// The route of `event` from this worker, or nullptr when it may not send it.
const EventRoute* routeOf(const WorkerSpec& worker, abi::Event event);
// It may send request `cmd` to funkhausd.
bool maySend(const WorkerSpec& worker, std::string_view cmd);
// The row that serves control request `cmd`, or nullptr.
const WorkerSpec* servingWorker(std::string_view cmd);
// Control request `cmd` (served by a row) changes something.
bool servedMutating(std::string_view cmd);
// Among `names` (a session's workers), the one with `ring` as an input (output) edge for
// `config`; with no config, edges count whatever their condition.
const WorkerSpec* consumerOf(abi::RingId ring, std::span<const std::string> names,
                             const Config* config);
const WorkerSpec* producerOf(abi::RingId ring, std::span<const std::string> names,
                             const Config* config);

}  // namespace funkhaus::supervisor
