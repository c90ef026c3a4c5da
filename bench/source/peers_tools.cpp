// Peers mode: the three tools under test. funkhausd (user mode, [capture] source = "x11" on the
// bench's display, the workers from the build) played through RTSP to the receiver;
// gst-launch-1.0 and ffmpeg sending RTP straight to it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "funkhaus/bench/peers_tools.h"
#include "funkhaus/bench/rtsp_viewer.h"
#include "funkhaus/bench/variant.h"
#include "funkhaus/common/clock.h"

extern char** environ;

namespace funkhaus::bench {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kStartTimeoutMs = 30'000;
constexpr int kRtspTimeoutMs = 10'000;
constexpr int kControlTimeoutMs = 3'000;
constexpr auto kStopGrace = std::chrono::seconds(10);
// A keyframe every 10 s for the peers (funkhaus sends IDRs on demand only): the receiver joins
// at the first one; one more in a 20 s run.
constexpr uint32_t kPeerGopSeconds = 10;

std::string onPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

std::string tail(const fs::path& file, size_t bytes) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return text.size() > bytes ? "..." + text.substr(text.size() - bytes) : text;
}

Result<fs::path> freshDir(const fs::path& root, const char* what) {
  static int counter = 0;
  fs::path dir = root / (std::string("peers-") + what + "-" + std::to_string(getpid()) + "-" +
                         std::to_string(counter++));
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!fs::create_directories(dir, ec) || ec)
    return makeError("cannot create {}: {}", dir.string(), ec.message());
  return dir;
}

// A child with its output in `log`, in our process group (Ctrl-C stops it too), killed if the
// bench dies.
Result<ChildProcess> spawnLogged(const std::vector<std::string>& args, const fs::path& log,
                                 std::optional<std::map<std::string, std::string>> env) {
  UniqueFd out(open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out.valid()) return makeError("{}: {}", log.string(), std::strerror(errno));
  ChildSpec spec;
  spec.program = args.front();
  spec.args.assign(args.begin() + 1, args.end());
  spec.stdout_fd = out.get();
  spec.drop_privileges = false;
  spec.own_process_group = false;
  spec.environment = std::move(env);
  return ChildProcess::spawn(spec);
}

// A tool that is one command line sending RTP to the receiver's port.
class CommandTool : public PeerTool {
 public:
  CommandTool(const PeerSettings& s, const char* name, std::string binary,
              std::vector<std::string> (*args)(const PeerSettings&, uint16_t))
      : settings_(s), name_(name), binary_(std::move(binary)), args_(args) {}
  ~CommandTool() override { (void)stop(); }
  const char* name() const override { return name_; }

  std::string unavailable() const override {
    if (onPath(binary_).empty()) return binary_ + " is not installed";
    return extraCheck();
  }

  Result<void> start(PeerReceiver& receiver) override {
    auto dir = freshDir(settings_.work_root, name_);
    if (!dir) return dir.error();
    dir_ = *dir;
    log_ = dir_ / (std::string(name_) + ".log");
    auto process = spawnLogged(args_(settings_, receiver.rtpPort()), log_, std::nullopt);
    if (!process) return makeError("starting {}: {}", binary_, process.error().message);
    process_.emplace(std::move(*process));
    return {};
  }

  std::optional<uint64_t> cpuNs() const override {
    if (!process_ || !process_->running()) return std::nullopt;
    return processCpuNs(process_->pid());
  }

  Result<void> stop() override {
    if (!process_) return {};
    Result<void> result;
    if (auto exited = process_->poll())
      result =
          makeError("{} had exited ({}):\n{}", binary_, describeExit(*exited), tail(log_, 2000));
    else
      process_->stop(std::chrono::duration_cast<std::chrono::milliseconds>(kStopGrace));
    process_.reset();
    std::error_code ec;
    if (result.ok()) fs::remove_all(dir_, ec);
    return result;
  }

  std::string log() const { return tail(log_, 2000); }

 protected:
  virtual std::string extraCheck() const { return ""; }
  PeerSettings settings_;

 private:
  const char* name_;
  std::string binary_;
  std::vector<std::string> (*args_)(const PeerSettings&, uint16_t);
  fs::path dir_, log_;
  std::optional<ChildProcess> process_;
};

class GstreamerTool : public CommandTool {
 public:
  explicit GstreamerTool(const PeerSettings& s)
      : CommandTool(s, "gstreamer", "gst-launch-1.0", gstreamerArgs) {}

 private:
  std::string extraCheck() const override {
    const std::string inspect = onPath("gst-inspect-1.0");
    if (inspect.empty()) return "gst-inspect-1.0 is not installed";
    for (const char* element : {"ximagesrc", "videoconvert", "x264enc", "rtph264pay", "udpsink"}) {
      ChildSpec spec;
      spec.program = inspect;
      spec.args = {"--exists", element};
      spec.drop_privileges = false;
      auto p = ChildProcess::spawn(spec);
      if (!p) return "gst-inspect-1.0: " + p.error().message;
      const auto exited = p->wait(std::chrono::seconds(20));
      if (!exited || *exited != ExitStatus{false, 0})
        return std::string("the GStreamer element ") + element +
               " is missing (x264enc: apt package gstreamer1.0-plugins-ugly)";
    }
    return "";
  }
};

class FfmpegTool : public CommandTool {
 public:
  explicit FfmpegTool(const PeerSettings& s) : CommandTool(s, "ffmpeg", "ffmpeg", ffmpegArgs) {}
};

// funkhausd in user mode with the X11 source on the bench's display.
class FunkhausTool : public PeerTool {
 public:
  explicit FunkhausTool(const PeerSettings& s) : settings_(s) {}
  ~FunkhausTool() override { (void)stop(); }
  const char* name() const override { return "funkhaus"; }

  std::string unavailable() const override {
    for (const char* w : {"funkhausd", "funkhaus-capture", "funkhaus-encode", "funkhaus-net"})
      if (access((settings_.bin_dir / w).c_str(), X_OK) != 0)
        return (settings_.bin_dir / w).string() + " is missing: build it first";
    return "";
  }

  Result<void> start(PeerReceiver& receiver) override {
    auto dir = freshDir(settings_.work_root, "funkhaus");
    if (!dir) return dir.error();
    dir_ = *dir;
    socket_ = (dir_ / "control.sock").string();
    if (socket_.size() >= sizeof(sockaddr_un::sun_path))
      return makeError("control socket path {} is too long for a unix socket", socket_);
    for (char c : socket_)
      if (c == '\'' || static_cast<unsigned char>(c) < 0x20)
        return makeError("the work directory {} holds a quote or control character", dir_.string());
    const fs::path config = dir_ / "funkhaus.toml";
    {
      std::ofstream file(config);
      file << fmt::format(
          "# funkhaus_pipeline_bench --peers: X11 capture of the bench's display; the encoder is\n"
          "# funkhausd's default (libx264 superfast, zerolatency) at the peers' bitrate.\n"
          "[capture]\nsource = \"x11\"\nwidth = {}\nheight = {}\nfps = {}\n"
          "[encode]\nbitrate_kbps = {}\n"
          "[net]\nbind = \"127.0.0.1\"\nport = 0\n"
          "[workers]\nstart = [\"capture\", \"encode\", \"net\"]\n"
          "[control]\nsocket = '{}'\n",
          settings_.width, settings_.height, settings_.fps, settings_.bitrate_kbps, socket_);
      if (!file) return makeError("cannot write {}", config.string());
    }
    // The fixed session of user mode hands funkhausd's DISPLAY to its workers.
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const size_t eq = entry.find('=');
      if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    env["DISPLAY"] = settings_.display;
    env.erase("XAUTHORITY");
    env.erase("WAYLAND_DISPLAY");
    log_ = dir_ / "funkhausd.log";
    auto process =
        spawnLogged({(settings_.bin_dir / "funkhausd").string(), "--mode", "user", "--config",
                     config.string(), "--worker-dir", settings_.bin_dir.string()},
                    log_, env);
    if (!process) return makeError("starting funkhausd: {}", process.error().message);
    process_.emplace(std::move(*process));

    const uint64_t deadline = monotonicNs() + uint64_t{kStartTimeoutMs} * 1'000'000;
    json status;
    for (;;) {
      if (auto exited = process_->poll())
        return makeError("funkhausd exited at start ({}):\n{}", describeExit(*exited),
                         tail(log_, 3000));
      auto s = call(R"({"cmd":"status"})");
      if (s && allRunning(*s)) {
        status = std::move(*s);
        break;
      }
      if (monotonicNs() > deadline)
        return makeError("funkhausd's workers were not all running after {} s:\n{}",
                         kStartTimeoutMs / 1000, tail(log_, 3000));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pids_.clear();
    for (const json& w : workers(status))
      if (auto pid = w.find("pid"); pid != w.end() && pid->is_number_integer())
        pids_.push_back(static_cast<pid_t>(pid->get<int64_t>()));
    const auto net = status.find("net");
    if (net == status.end() || !net->is_object() || !(*net)["rtsp_port"].is_number_unsigned() ||
        !(*net)["path"].is_string())
      return makeError("funkhausd's status has no net.rtsp_port / net.path: {}", status.dump());
    const auto port = (*net)["rtsp_port"].get<uint64_t>();
    if (port == 0 || port > 65535) return makeError("funkhausd reports RTSP port {}", port);
    auto viewer = RtspViewer::play(
        static_cast<uint16_t>(port), (*net)["path"].get<std::string>(), receiver.rtpPort(),
        receiver.rtcpPort(), [&](uint32_t ssrc) { receiver.expectSsrc(ssrc); }, kRtspTimeoutMs);
    if (!viewer)
      return makeError("viewer: {}\nfunkhausd log:\n{}", viewer.error().message, tail(log_, 3000));
    viewer_.emplace(std::move(*viewer));
    return {};
  }

  std::optional<uint64_t> cpuNs() const override {
    if (!process_ || !process_->running()) return std::nullopt;
    auto total = processCpuNs(process_->pid());
    for (pid_t pid : pids_) {
      const auto w = processCpuNs(pid);
      if (!total || !w) return std::nullopt;
      *total += *w;
    }
    return total;
  }

  Result<void> keepAlive() override {
    if (!viewer_) return makeError("no viewer");
    return viewer_->keepAlive();
  }

  Result<void> stop() override {
    Result<void> result;
    if (viewer_ && process_ && process_->running()) (void)viewer_->teardown();
    viewer_.reset();
    if (process_ && process_->running()) {
      process_->signal(SIGTERM);
      const auto exited = process_->wait(kStopGrace);
      if (!exited) {
        process_->stop(std::chrono::milliseconds(0));
        result = makeError("funkhausd did not stop within 10 s of SIGTERM: killed");
      } else if (*exited != ExitStatus{false, 0}) {
        result = makeError("funkhausd exited ({}):\n{}", describeExit(*exited), tail(log_, 3000));
      }
    }
    process_.reset();
    if (!dir_.empty() && result.ok()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
    dir_.clear();
    return result;
  }

 private:
  static std::vector<json> workers(const json& status) {
    std::vector<json> out;
    if (!status.is_object()) return out;
    const auto sessions = status.find("sessions");
    if (sessions == status.end() || !sessions->is_array() || sessions->empty()) return out;
    const json& session = (*sessions)[0];
    if (!session.is_object()) return out;
    const auto ws = session.find("workers");
    if (ws == session.end() || !ws->is_array()) return out;
    for (const json& w : *ws)
      if (w.is_object()) out.push_back(w);
    return out;
  }

  static bool allRunning(const json& status) {
    const auto ws = workers(status);
    if (ws.size() < 3) return false;
    for (const json& w : ws) {
      const auto state = w.find("state");
      if (state == w.end() || !state->is_string() || state->get<std::string>() != "running")
        return false;
    }
    return true;
  }

  // One control request, one JSON reply (the connection closes after it).
  Result<json> call(const std::string& request) const {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_.c_str(), socket_.size() + 1);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return makeError("control socket {}: {}", socket_, std::strerror(errno));
    const std::string line = request + "\n";
    if (send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
      return makeError("control socket: send: {}", std::strerror(errno));
    std::string reply;
    char buf[4096];
    const uint64_t deadline = monotonicNs() + uint64_t{kControlTimeoutMs} * 1'000'000;
    for (;;) {
      const uint64_t now = monotonicNs();
      if (now > deadline) return makeError("control socket: no reply in time");
      pollfd p{fd.get(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000) + 1) <= 0) continue;
      const ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return makeError("control socket: recv: {}", std::strerror(errno));
      if (n == 0) break;
      reply.append(buf, static_cast<size_t>(n));
      if (reply.size() > (1u << 20)) return makeError("control socket: reply larger than 1 MiB");
    }
    json j = json::parse(reply, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return makeError("control socket: reply is not JSON");
    return j;
  }

  PeerSettings settings_;
  fs::path dir_, log_;
  std::string socket_;
  std::optional<ChildProcess> process_;
  std::vector<pid_t> pids_;
  std::optional<RtspViewer> viewer_;
};

}  // namespace

std::vector<std::string> gstreamerArgs(const PeerSettings& s, uint16_t port) {
  // One-frame VBV as funkhaus-encode (vbv-buf-capacity is in ms); sliced threads, as
  // tune=zerolatency sets them in x264, stated because x264enc has a sliced-threads property of
  // its own (default false); udpsink sync=false: send as soon as a buffer is ready.
  const uint32_t vbv_ms = std::max(1u, (1000 + s.fps - 1) / s.fps);
  return {"gst-launch-1.0",
          "-q",
          "ximagesrc",
          "display-name=" + s.display,
          "use-damage=false",
          "show-pointer=false",
          "!",
          fmt::format("video/x-raw,framerate={}/1", s.fps),
          "!",
          "videoconvert",
          "!",
          "video/x-raw,format=I420",
          "!",
          "x264enc",
          "tune=zerolatency",
          "speed-preset=superfast",
          "sliced-threads=true",
          fmt::format("bitrate={}", s.bitrate_kbps),
          fmt::format("vbv-buf-capacity={}", vbv_ms),
          fmt::format("key-int-max={}", s.fps * kPeerGopSeconds),
          "!",
          "rtph264pay",
          "config-interval=-1",
          "pt=96",
          "mtu=1400",
          "!",
          "udpsink",
          "host=127.0.0.1",
          fmt::format("port={}", port),
          "sync=false",
          "async=false"};
}

std::vector<std::string> ffmpegArgs(const PeerSettings& s, uint16_t port) {
  // dump_extra: SPS and PPS in band before every keyframe (the RTP muxer puts them in the SDP
  // only). One-frame VBV as funkhaus-encode. -fps_mode passthrough: every grabbed frame as it
  // is (the default for RTP, cfr, duplicates frames whenever a grab is late, and codes them).
  const uint64_t bits = uint64_t{s.bitrate_kbps} * 1000;
  return {"ffmpeg",
          "-hide_banner",
          "-loglevel",
          "error",
          "-nostdin",
          "-f",
          "x11grab",
          "-draw_mouse",
          "0",
          "-framerate",
          std::to_string(s.fps),
          "-video_size",
          fmt::format("{}x{}", s.width, s.height),
          "-i",
          s.display + ".0+0,0",
          "-c:v",
          "libx264",
          "-tune",
          "zerolatency",
          "-preset",
          "superfast",
          "-b:v",
          std::to_string(bits),
          "-maxrate",
          std::to_string(bits),
          "-bufsize",
          std::to_string(bits / s.fps),
          "-g",
          std::to_string(s.fps * kPeerGopSeconds),
          "-fps_mode",
          "passthrough",
          "-pix_fmt",
          "yuv420p",
          "-bsf:v",
          "dump_extra",
          "-f",
          "rtp",
          "-payload_type",
          "96",
          fmt::format("rtp://127.0.0.1:{}?pkt_size=1412", port)};
}

std::unique_ptr<PeerTool> makeFunkhausTool(const PeerSettings& s) {
  return std::make_unique<FunkhausTool>(s);
}
std::unique_ptr<PeerTool> makeGstreamerTool(const PeerSettings& s) {
  return std::make_unique<GstreamerTool>(s);
}
std::unique_ptr<PeerTool> makeFfmpegTool(const PeerSettings& s) {
  return std::make_unique<FfmpegTool>(s);
}

}  // namespace funkhaus::bench
