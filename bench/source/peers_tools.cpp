// Peers mode: the three tools under test. funkhausd (user mode, [capture] source = "x11" on the
// bench's display, the workers from the build) played through RTSP to the receiver;
// gst-launch-1.0 and ffmpeg sending RTP straight to it.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>

#include "funkhaus/bench/funkhausd_host.h"
#include "funkhaus/bench/peers_tools.h"
#include "funkhaus/bench/rtsp_viewer.h"
#include "funkhaus/bench/run_dir.h"
#include "funkhaus/bench/variant.h"

extern char** environ;

namespace funkhaus::bench {

namespace {

namespace fs = std::filesystem;

constexpr int kRtspTimeoutMs = 10'000;
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
    auto dir = freshRunDir(settings_.work_root, std::string("peers-") + name_);
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
      result = makeError("{} had exited ({}):\n{}", binary_, describeExit(*exited),
                         fileTail(log_, 2000));
    else
      process_->stop(std::chrono::duration_cast<std::chrono::milliseconds>(kStopGrace));
    process_.reset();
    std::error_code ec;
    if (result.ok()) fs::remove_all(dir_, ec);
    return result;
  }

  std::string log() const { return fileTail(log_, 2000); }

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
    if (const std::string missing = FunkhausdHost::missingBinary(settings_.bin_dir);
        !missing.empty())
      return missing + " is missing: build it first";
    return "";
  }

  Result<void> start(PeerReceiver& receiver) override {
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
    FunkhausdLaunch launch;
    launch.bin_dir = settings_.bin_dir;
    launch.work_root = settings_.work_root;
    launch.dir_name = "peers-funkhaus";
    launch.config = [this](const std::string& socket) {
      return fmt::format(
          "# funkhaus_pipeline_bench --peers: X11 capture of the bench's display; the encoder is\n"
          "# funkhausd's default (libx264 superfast, zerolatency) at the peers' bitrate.\n"
          "[capture]\nsource = \"x11\"\nwidth = {}\nheight = {}\nfps = {}\n"
          "[encode]\nbitrate_kbps = {}\n"
          "[net]\nbind = \"127.0.0.1\"\nport = 0\n"
          "[gamestream]\nenabled = false\n"  // their fixed ports: no clash with another host
          "[console]\nenabled = false\n"
          "[workers]\nstart = [\"capture\", \"encode\", \"net\"]\n"
          "[control]\nsocket = '{}'\n",
          settings_.width, settings_.height, settings_.fps, settings_.bitrate_kbps, socket);
    };
    launch.environment = std::move(env);
    auto host = FunkhausdHost::start(launch);
    if (!host) return host.error();
    host_ = std::move(*host);
    auto viewer = RtspViewer::play(
        host_->rtspPort(), host_->rtspPath(), receiver.rtpPort(), receiver.rtcpPort(),
        [&](uint32_t ssrc) { receiver.expectSsrc(ssrc); }, kRtspTimeoutMs);
    if (!viewer)
      return makeError("viewer: {}\nfunkhausd log:\n{}", viewer.error().message, host_->logTail());
    viewer_.emplace(std::move(*viewer));
    return {};
  }

  std::optional<uint64_t> cpuNs() const override {
    if (!host_ || !host_->running()) return std::nullopt;
    auto total = processCpuNs(host_->pid());
    for (const FunkhausdHost::Worker& w : host_->workers()) {
      const auto worker = processCpuNs(w.pid);
      if (!total || !worker) return std::nullopt;
      *total += *worker;
    }
    return total;
  }

  Result<void> keepAlive() override {
    if (!viewer_) return makeError("no viewer");
    return viewer_->keepAlive();
  }

  Result<void> stop() override {
    if (viewer_ && host_ && host_->running()) (void)viewer_->teardown();
    viewer_.reset();
    Result<void> result;
    if (host_) result = host_->stop();
    host_.reset();
    return result;
  }

 private:
  PeerSettings settings_;
  std::unique_ptr<FunkhausdHost> host_;
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
