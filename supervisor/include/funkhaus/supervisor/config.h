// funkhausd configuration: the TOML file parsed once into a typed, validated struct.
// Used by funkhausd's main thread at start and on reload (SIGHUP).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/result.h"
#include "funkhaus/supervisor/restart_policy.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {

inline constexpr const char* kDefaultConfigPath = "/etc/funkhaus/funkhaus.toml";

enum class RunMode {
  kSystem,  // workers run as the session's user (funkhausd is root)
  kUser,    // workers run as funkhausd's own user (development, tests, demos)
};

enum class SessionSourceKind {
  kLogind,  // the active session of seat0
  kFixed,   // the user and environment named in [session]
};

struct SessionConfig {
  std::optional<SessionSourceKind> source;  // unset: logind in system mode, fixed in user mode
  std::string user;                         // fixed source: the user (unset: funkhausd's own)
  std::map<std::string, std::string> environment;  // fixed source: extra environment
};

// [capture]: what funkhaus-capture captures and at which mode.
struct CaptureConfig {
  // auto: vdisplay when funkhaus-vdisplay runs, else synthetic; or synthetic, x11, vdisplay.
  std::string source = "auto";
  uint32_t width = 1920;
  uint32_t height = 1080;
  uint32_t fps = 60;
  // The A/V sync pattern (source "synthetic" only): 0 (off), or a white frame among dark ones
  // at each multiple of this many ms on CLOCK_MONOTONIC (see [audio] sync_click_ms).
  uint32_t sync_flash_ms = 0;
};

// [encode]: funkhaus-encode's encoder and rate control.
struct EncodeConfig {
  std::string encoder = "libx264";  // libx264, libx265, h264_nvenc, hevc_nvenc, h264_vaapi,
                                    // h264_qsv (hardware falls back to software if absent)
  uint32_t bitrate_kbps = 8000;
  std::string preset = "superfast";
  // Repeats per second once the picture has been static for a second (0: the full frame rate).
  uint32_t idle_fps = 2;
};

// [net]: where funkhaus-net serves viewers. funkhausd owns these sockets (they survive a net
// restart and a session change).
struct NetConfig {
  std::string bind = "0.0.0.0";  // IPv4 or IPv6 literal
  uint16_t port = 8554;          // RTSP over TCP; 0: any free port
  uint16_t rtp_port = 0;         // RTP (even) and RTCP (+1) over UDP; 0: pick a free pair
  std::string path = "/live";
  uint32_t max_viewers = 16;
  uint32_t mtu = 1400;
  uint32_t session_timeout_s = 60;
  // RTSP viewers from other hosts sign in with these (Digest); an empty password: RTSP answers
  // viewers on this host only.
  std::string rtsp_user = "funkhaus";
  std::string rtsp_password;
};

// [vdisplay]: the virtual monitor funkhausd leases from funkhaus-vdisplay for each session.
struct VdisplayConfig {
  uint32_t width = 1920;
  uint32_t height = 1080;
  uint32_t refresh_hz = 60;
  bool hdr = false;
  // Framebuffer reserved so that mode changes up to this size happen in place (apps survive).
  uint32_t fb_width = 2560;
  uint32_t fb_height = 1600;
};

// [rings]: the shared memory between the workers, created per session by funkhausd.
struct RingsConfig {
  uint32_t frame_slots = 4;
  uint32_t max_width = 3840;  // frame slots hold an I420 frame of at least this size
  uint32_t max_height = 2160;
  uint32_t packet_ring_kib = 8192;
};

// One [[gamestream.apps]] entry: an app Moonlight lists besides Desktop.
struct GamestreamApp {
  std::string title;    // unique, not "Desktop"
  std::string command;  // /bin/sh -c in the session when a client launches it (session_apps.h)
};

// [gamestream]: funkhaus-web, the GameStream HTTP(S) worker Moonlight pairs with (host-scope).
// funkhausd owns its two listening sockets (they survive a web restart).
struct GamestreamConfig {
  bool enabled = true;
  uint16_t base_port = 47989;         // HTTP; HTTPS is base_port - 5; 0: any free ports (tests)
  std::string listen_address = "::";  // IPv4 or IPv6 literal; "::" takes IPv4 too
  std::string name;                   // for clients; empty: the host name
  bool mdns = true;                   // announce _nvstream._tcp through avahi-daemon
  std::vector<GamestreamApp> apps;
};

// [console]: funkhaus-console, the web console (HTTPS with the host certificate) and /metrics
// (host-scope). funkhausd owns its listening socket (it survives a console restart).
struct ConsoleConfig {
  bool enabled = true;
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal; loopback: /metrics needs no token
  uint16_t port = 47990;              // 0: any free port (tests)
};

// [audio]: funkhaus-audio, the session's sound as Opus (and the sound server funkhausd starts for
// a session without one, sound_server.h).
struct AudioConfig {
  bool enabled = true;
  uint32_t channels = 2;  // 2, 6 (5.1) or 8 (7.1)
  uint32_t bitrate = 0;   // bits/s for all channels; 0: audioDefaultBitrate(channels)
  uint32_t frame_ms = 5;  // 5 or 10 (GameStream asks for 5)
  // "pulse": the session's sound server; "sync": the A/V sync click (silence with a 5 ms 1 kHz
  // click at each multiple of sync_click_ms on CLOCK_MONOTONIC), no sound server.
  std::string source = "pulse";
  uint32_t sync_click_ms = 1000;
};

// Opus streams for a channel count (stereo: 1; 5.1: 4; 7.1: 5), and the bitrate bounds and
// default that follow from them (6 to 510 kbit/s per stream; 96 kbit/s stereo, 256 kbit/s 5.1,
// 450 kbit/s 7.1).
inline uint32_t audioStreams(uint32_t channels) {
  switch (channels) {
    case 6:
      return 4;  // 2 coupled + 2 mono
    case 8:
      return 5;  // 3 coupled + 2 mono
    default:
      return 1;
  }
}
inline uint32_t audioMinBitrate(uint32_t channels) { return 6'000 * audioStreams(channels); }
inline uint32_t audioMaxBitrate(uint32_t channels) { return 510'000 * audioStreams(channels); }
inline uint32_t audioDefaultBitrate(uint32_t channels) {
  switch (channels) {
    case 6:
      return 256'000;
    case 8:
      return 450'000;
    default:
      return 96'000;
  }
}
// The bitrate funkhaus-audio gets: the configured one, or the default for the channels.
inline uint32_t audioBitrate(const AudioConfig& a) {
  return a.bitrate != 0 ? a.bitrate : audioDefaultBitrate(a.channels);
}

// The app id funkhaus-web gets for apps[i] (Desktop is 1).
inline uint32_t gamestreamAppId(size_t index) { return static_cast<uint32_t>(index) + 2; }

struct Config {
  std::optional<RunMode> mode;  // unset: system when started as root, user otherwise
  SessionConfig session;
  CaptureConfig capture;
  EncodeConfig encode;
  NetConfig net;
  VdisplayConfig vdisplay;
  RingsConfig rings;
  GamestreamConfig gamestream;
  ConsoleConfig console;
  AudioConfig audio;
  RestartPolicyConfig restart;
  Duration heartbeat_timeout = std::chrono::seconds(1);  // no heartbeat this long: replaced
  Duration stop_grace = std::chrono::seconds(1);         // SIGTERM -> SIGKILL
  std::vector<std::string> workers = defaultWorkers();   // start order (worker_table.h names)
  bool workers_set = false;  // [workers] start given; else resolveDefaults() may add optional ones
  std::string control_socket;              // empty: the mode's default path
  std::string control_group = "funkhaus";  // members may change things
};

// Parses TOML text. Every error names the source, the line and the key, e.g.
// "funkhaus.toml:7: restart.max_restarts: must be an integer from 1 to 1000".
Result<Config> parseConfig(std::string_view text, std::string_view source_name);

// Reads and parses `path`. A missing file is not an error when `required` is false: the
// defaults then apply (funkhausd runs with no config file at all).
Result<Config> loadConfig(const std::filesystem::path& path, bool required);

// The host-scope workers (worker_table.h) this config enables, in table order.
std::vector<std::string> hostWorkers(const Config& config);

// Settles what the config leaves to funkhausd: without [workers] start, the worker table's
// optional rows join when available (vdisplay: `worker_dir` has funkhaus-vdisplay, Xvfb is
// installed, the source may be the display); capture.source "auto" becomes vdisplay when a
// worker of the set produces the display ring, else synthetic.
void resolveDefaults(Config& config, const std::string& worker_dir);

const char* toString(RunMode mode);
const char* toString(SessionSourceKind kind);

}  // namespace funkhaus::supervisor
