// funkhausd.exe: installs, removes or runs the funkhaus service (windows_service.h), whose body
// is WindowsHost (windows_host.h). Logs to a file: a service has no console.
#include <utility>
// Asio before windows.h (winsock2.h first).
#include <boost/asio.hpp>
// Then windows.h.
#include <windows.h>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <tuple>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/supervisor/windows_host.h"
#include "funkhaus/supervisor/windows_service.h"

namespace {

using namespace funkhaus::supervisor;

std::string programDirectory() {
  char path[MAX_PATH];
  const std::string self(path, GetModuleFileNameA(nullptr, path, MAX_PATH));
  return self.substr(0, self.find_last_of('\\'));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"funkhausd: the funkhaus host, as a Windows service"};
  bool install = false, uninstall = false, service = false;
  std::string name = "funkhaus";
  std::string log_file;
  WindowsHostOptions host;
  host.worker_dir = programDirectory();
  auto* install_flag =
      app.add_flag("--install-service", install, "create the service (started at boot) and exit");
  auto* uninstall_flag =
      app.add_flag("--uninstall-service", uninstall, "stop and delete the service, and exit");
  app.add_flag("--service", service, "run as the service (the service manager starts this)");
  install_flag->excludes(uninstall_flag);
  app.add_option("--service-name", name, "the service's name (default funkhaus)");
  app.add_option("--log", log_file,
                 "log file of the service (default: funkhausd.log beside funkhausd.exe)");
  app.add_option("--worker-dir", host.worker_dir,
                 "where the workers' .exe files are (default: beside funkhausd.exe)");
  app.add_option("--width", host.width, "capture width (default 1280)")
      ->check(CLI::Range(64, 7680));
  app.add_option("--height", host.height, "capture height (default 720)")
      ->check(CLI::Range(64, 4320));
  app.add_option("--fps", host.fps, "frames per second (default 60)")->check(CLI::Range(1, 240));
  app.add_option("--control-pipe", host.control_pipe,
                 std::string("funkhausctl's named pipe (default ") + kWindowsControlPipe + ")")
      ->check(
          [](const std::string& pipe) -> std::string {
            const std::string prefix = R"(\\.\pipe\)";
            if (pipe.rfind(prefix, 0) != 0 || pipe.size() == prefix.size() || pipe.size() > 256)
              return "a pipe name: \\\\.\\pipe\\NAME, at most 256 characters";
            return "";
          },
          "PIPE");
  app.add_option("--bind", host.net.bind, "address viewers connect to (default 0.0.0.0)");
  app.add_option("--rtsp-port", host.net.port, "RTSP port (default 8554; 0: any free port)");
  app.add_option("--rtp-port", host.net.rtp_port,
                 "RTP port, even; RTCP is the next one (default 0: a free pair)");
  app.add_option("--control-group", host.control_group,
                 "local group whose members may use funkhausctl besides Administrators (default "
                 "funkhaus)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? funkhaus::abi::kExitStopped : funkhaus::abi::kExitBadConfig;
  }

  if (install) {
    // Display names are unique too: another service's name goes into its own.
    const std::string display =
        name == "funkhaus" ? "funkhaus streaming host" : "funkhaus streaming host (" + name + ")";
    ServiceInstall what{name,
                        display,
                        programDirectory() + "\\funkhausd.exe",
                        {"--service", "--service-name", name}};
    if (!log_file.empty()) what.args.insert(what.args.end(), {"--log", log_file});
    if (host.worker_dir != programDirectory())
      what.args.insert(what.args.end(), {"--worker-dir", host.worker_dir});
    const WindowsHostOptions defaults;
    if (host.control_pipe != defaults.control_pipe)
      what.args.insert(what.args.end(), {"--control-pipe", host.control_pipe});
    if (host.control_group != defaults.control_group)
      what.args.insert(what.args.end(), {"--control-group", host.control_group});
    if (host.net.bind != defaults.net.bind)
      what.args.insert(what.args.end(), {"--bind", host.net.bind});
    for (auto [flag, value, fallback] :
         {std::tuple{"--rtsp-port", host.net.port, defaults.net.port},
          std::tuple{"--rtp-port", host.net.rtp_port, defaults.net.rtp_port}})
      if (value != fallback) what.args.insert(what.args.end(), {flag, std::to_string(value)});
    for (auto [flag, value] : {std::pair{"--width", host.width}, std::pair{"--height", host.height},
                               std::pair{"--fps", host.fps}})
      what.args.insert(what.args.end(), {flag, std::to_string(value)});
    if (auto done = installService(what); !done) {
      std::fprintf(stderr, "funkhausd: %s\n", done.error().message.c_str());
      return 1;
    }
    std::printf("funkhausd: service %s installed; start it with `sc start %s`\n", name.c_str(),
                name.c_str());
    return 0;
  }
  if (uninstall) {
    if (auto done = uninstallService(name); !done) {
      std::fprintf(stderr, "funkhausd: %s\n", done.error().message.c_str());
      return 1;
    }
    std::printf("funkhausd: service %s removed\n", name.c_str());
    return 0;
  }
  if (!service) {
    std::fprintf(stderr,
                 "funkhausd: nothing to do: --install-service, then `sc start %s` (which runs "
                 "--service); --uninstall-service removes it\n",
                 name.c_str());
    return funkhaus::abi::kExitBadConfig;
  }

  if (log_file.empty()) log_file = programDirectory() + "\\funkhausd.log";
  try {
    spdlog::set_default_logger(spdlog::basic_logger_mt("funkhausd", log_file));
    spdlog::flush_on(spdlog::level::info);
  } catch (const spdlog::spdlog_ex& e) {
    std::fprintf(stderr, "funkhausd: log file %s: %s\n", log_file.c_str(), e.what());
    return funkhaus::abi::kExitBadConfig;
  }
  auto body = WindowsHost::create(host);
  if (!body) {
    spdlog::error("funkhausd: {}", body.error().message);
    return funkhaus::abi::kExitBadConfig;
  }
  auto ran = runService(name, **body);
  if (!ran) {
    spdlog::error("funkhausd: {}", ran.error().message);
    std::fprintf(stderr, "funkhausd: %s\n", ran.error().message.c_str());
    return funkhaus::abi::kExitBadConfig;
  }
  return *ran;
}
