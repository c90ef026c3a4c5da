// funkhausd on Windows so far: the session's workers (funkhaus-capture.exe with the synthetic
// source, funkhaus-encode.exe, funkhaus-net.exe serving RTSP/RTP on the endpoints funkhausd keeps)
// on one frame ring and one packet ring, each run by WorkerProcess on the Windows launcher as the
// active console session's user, with the restart policy and heartbeats, and moved when the
// session changes; funkhausctl's status, restart, stop and start over the control pipe. The
// ServiceBody of funkhausd.exe. The full Supervisor (config file, GameStream, audio, input,
// stats) is not built for Windows yet. Runs on the service's thread and loop.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/supervisor/control_protocol.h"
#include "funkhaus/supervisor/control_server.h"
#include "funkhaus/supervisor/net_endpoints.h"
#include "funkhaus/supervisor/process_launcher.h"
#include "funkhaus/supervisor/windows_service.h"
#include "funkhaus/supervisor/worker_process.h"

namespace funkhaus::supervisor {

// The console session the workers run in: its id and the user logged on in it.
struct ConsoleSession {
  uint32_t id = 0;
  std::string user;
  friend bool operator==(const ConsoleSession&, const ConsoleSession&) = default;
};

// Which session is at the console (the service's session-change events say when to ask again).
// A seam: WTS (common/platform/windows/console_session_windows.cpp) and fakes in tests.
class ConsoleSessionSource {
 public:
  virtual ~ConsoleSessionSource() = default;
  // The session attached to the console with a user logged on, or nullopt: nobody is attached,
  // or only the log-on screen is there (no user's token yet).
  virtual std::optional<ConsoleSession> current() = 0;
  // WTSGetActiveConsoleSessionId and the session's user name; `need_token`: a session counts
  // only once WTSQueryUserToken gives its user's token (what the launcher starts workers with).
  static std::unique_ptr<ConsoleSessionSource> createWts(bool need_token);
};

// What a session-change event (`event`: WTS_CONSOLE_CONNECT, WTS_SESSION_LOGON, ...) means for
// workers that run in session `was` (nullopt: none run), the console now being `now`.
enum class SessionMove {
  kStay,  // the same session and user: the workers go on
  kStop,  // nobody at the console: they stop and wait
  kMove,  // another session or user, or a log-on in this one: they start (again) in `now`
};
SessionMove sessionMove(const std::optional<ConsoleSession>& was,
                        const std::optional<ConsoleSession>& now, uint32_t event);

struct WindowsHostOptions {
  std::string worker_dir;  // where funkhaus-capture.exe and funkhaus-encode.exe are
  uint32_t width = 1280;
  uint32_t height = 720;
  uint32_t fps = 60;
  // Workers run as the console session's user (its token); false: as funkhausd's own user.
  bool session_user = true;
  // Where viewers connect (RTSP on net.port, 0: any free port; RTP/RTCP on a free pair unless
  // net.rtp_port) and how the stream is served. No password: only viewers on this host.
  NetConfig net;
  // funkhausctl's pipe, and the local group whose members may use it besides Administrators.
  std::string control_pipe = kWindowsControlPipe;
  std::string control_group = "funkhaus";
};

class WindowsHost final : public ServiceBody,
                          private WorkerProcess::Delegate,
                          private ControlServer::Handler {
 public:
  // Makes the rings and opens the viewers' endpoints. `sessions` nullptr: WTS. Error: a mode
  // the rings cannot hold, a port that cannot be had, or the system's reason.
  static Result<std::unique_ptr<WindowsHost>> create(
      const WindowsHostOptions& options, std::unique_ptr<ConsoleSessionSource> sessions = nullptr);
  ~WindowsHost() override;

  int run(boost::asio::io_context& io, ServiceNotifier& notifier) override;
  void onControl(ServiceControl control, uint32_t event) override;

 private:
  WindowsHost(const WindowsHostOptions& options, std::unique_ptr<ConsoleSessionSource> sessions,
              SharedMemory frames, SharedMemory packets, NetEndpoints net);
  // The workers in start order.
  std::vector<WorkerProcess*> workers() const;
  void tick();
  void stopAll(int exit_code);
  void stopWorkers();

  Result<LaunchSpec> prepareLaunch(WorkerProcess& worker) override;
  std::vector<HandedFd> handOver(WorkerProcess& worker) override;
  void onReady(WorkerProcess& worker) override;
  void onEvent(WorkerProcess& worker, const abi::EventBody& event) override;
  Result<void> onConnection(WorkerProcess& worker, Message& message) override;
  void onRequest(WorkerProcess& worker, uint32_t id, const std::string& text) override;
  void onReaped(WorkerProcess& worker, uint32_t pid) override;
  void onEscalate(WorkerProcess& worker) override;
  void onChanged(WorkerProcess& worker) override;

  std::optional<std::string> status(const ControlServer::Respond& respond) override;
  std::optional<std::string> change(const ControlRequest& request, uint32_t peer_uid,
                                    const ControlServer::Respond& respond) override;

  WindowsHostOptions options_;
  std::unique_ptr<ConsoleSessionSource> sessions_;
  SharedMemory frames_, packets_;
  NetEndpoints net_;
  Config config_;  // what the worker table's rows read: options_.net
  std::unique_ptr<Clock> clock_ = Clock::createSteady();
  boost::asio::io_context* io_ = nullptr;
  ServiceNotifier* notifier_ = nullptr;
  std::unique_ptr<ProcessLauncher> launcher_;
  std::unique_ptr<boost::asio::steady_timer> ticker_;
  // In start order; stopped in reverse.
  std::unique_ptr<WorkerProcess> capture_, encode_, net_worker_;
  std::unique_ptr<ControlServer> control_;
  std::optional<ConsoleSession> session_;  // the console session the workers run in, if any
  bool reported_ready_ = false;
  std::optional<int> stopping_;  // the exit code once a stop began
};

}  // namespace funkhaus::supervisor
