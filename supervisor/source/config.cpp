// Config parsing with toml++; every key is checked against what is known.
#include "funkhaus/supervisor/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include <arpa/inet.h>

#include <toml++/toml.h>

#include "funkhaus/abi/message.h"
#include "funkhaus/abi/vdisplay.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {
namespace {

// Walks one table: typed getters that record errors, and a final check for unknown keys.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, std::string_view source,
              std::vector<std::string>& errors)
      : table_(table), prefix_(std::move(prefix)), source_(source), errors_(errors) {}

  template <class Fn>
  void string(const char* key, Fn&& apply) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    if (const auto* s = n->as_string()) {
      if (auto err = apply(s->get()); !err.empty()) fail(*n, key, err);
    } else {
      fail(*n, key, "must be a string");
    }
  }

  void integer(const char* key, int64_t min, int64_t max, auto&& apply) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    const auto* i = n->as_integer();
    if (i == nullptr || i->get() < min || i->get() > max) {
      fail(*n, key,
           "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return;
    }
    apply(i->get());
  }

  void boolean(const char* key, auto&& apply) {
    const toml::node* n = find(key);
    if (n == nullptr) return;
    if (const auto* b = n->as_boolean())
      apply(b->get());
    else
      fail(*n, key, "must be true or false");
  }

  void seen(const char* key) { seen_.insert(key); }

  const toml::table* table(const char* key) {
    const toml::node* n = find(key);
    if (n == nullptr) return nullptr;
    if (const auto* t = n->as_table()) return t;
    fail(*n, key, "must be a table");
    return nullptr;
  }

  const toml::array* array(const char* key) {
    const toml::node* n = find(key);
    if (n == nullptr) return nullptr;
    if (const auto* a = n->as_array()) return a;
    fail(*n, key, "must be an array");
    return nullptr;
  }

  // Every key not asked for is an error: a typo must not silently fall back to a default.
  void rejectUnknown() {
    for (const auto& [key, node] : table_)
      if (!seen_.contains(std::string(key.str())))
        fail(node, std::string(key.str()).c_str(), "unknown key");
  }

  void fail(const toml::node& node, const std::string& key, const std::string& what) {
    std::ostringstream out;
    out << source_ << ":" << node.source().begin.line << ": " << prefix_ << key << ": " << what;
    errors_.push_back(out.str());
  }

 private:
  const toml::node* find(const char* key) {
    seen_.insert(key);
    return table_.get(key);
  }

  const toml::table& table_;
  std::string prefix_;
  std::string_view source_;
  std::vector<std::string>& errors_;
  std::set<std::string, std::less<>> seen_;
};

std::chrono::milliseconds ms(int64_t v) { return std::chrono::milliseconds(v); }

bool validEnvName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

void readSession(TableReader& top, Config& config, std::string_view source,
                 std::vector<std::string>& errors) {
  const toml::table* t = top.table("session");
  if (t == nullptr) return;
  TableReader r(*t, "session.", source, errors);
  r.string("source", [&](const std::string& v) -> std::string {
    if (v == "logind")
      config.session.source = SessionSourceKind::kLogind;
    else if (v == "fixed")
      config.session.source = SessionSourceKind::kFixed;
    else
      return "must be \"logind\" or \"fixed\", not \"" + v + "\"";
    return {};
  });
  r.string("user", [&](const std::string& v) -> std::string {
    if (v.empty()) return "must not be empty";
    config.session.user = v;
    return {};
  });
  if (const toml::table* env = r.table("environment")) {
    for (const auto& [key, node] : *env) {
      const std::string name(key.str());
      if (!validEnvName(name)) {
        r.fail(node, "environment." + name, "is not a valid environment variable name");
      } else if (const auto* s = node.as_string()) {
        if (s->get().find('\0') != std::string::npos)
          r.fail(node, "environment." + name, "must not contain a NUL byte");
        else
          config.session.environment[name] = s->get();
      } else {
        r.fail(node, "environment." + name, "must be a string");
      }
    }
  }
  r.rejectUnknown();
}

void readRestart(TableReader& top, Config& config, std::string_view source,
                 std::vector<std::string>& errors) {
  const toml::table* t = top.table("restart");
  if (t == nullptr) return;
  TableReader r(*t, "restart.", source, errors);
  RestartPolicyConfig& c = config.restart;
  r.integer("initial_backoff_ms", 1, 60'000, [&](int64_t v) { c.initial_backoff = ms(v); });
  r.integer("max_backoff_ms", 1, 3'600'000, [&](int64_t v) { c.max_backoff = ms(v); });
  r.integer("stable_after_ms", 0, 3'600'000, [&](int64_t v) { c.stable_after = ms(v); });
  r.integer("max_restarts", 1, 1000, [&](int64_t v) { c.max_restarts = static_cast<int>(v); });
  r.integer("window_s", 1, 3600, [&](int64_t v) { c.window = std::chrono::seconds(v); });
  r.integer("max_session_restarts", 0, 100,
            [&](int64_t v) { c.max_session_restarts = static_cast<int>(v); });
  r.rejectUnknown();
  if (c.max_backoff < c.initial_backoff)
    r.fail(*t, "max_backoff_ms", "must not be smaller than restart.initial_backoff_ms");
}

void readWorkers(TableReader& top, Config& config, std::string_view source,
                 std::vector<std::string>& errors) {
  const toml::table* t = top.table("workers");
  if (t == nullptr) return;
  TableReader r(*t, "workers.", source, errors);
  r.integer("heartbeat_timeout_ms", 100, 60'000,
            [&](int64_t v) { config.heartbeat_timeout = ms(v); });
  r.integer("stop_grace_ms", 0, 60'000, [&](int64_t v) { config.stop_grace = ms(v); });
  if (const toml::array* a = r.array("start")) {
    std::vector<std::string> names;
    for (const toml::node& n : *a) {
      const auto* s = n.as_string();
      const WorkerSpec* w = s != nullptr ? findWorker(s->get()) : nullptr;
      if (w == nullptr || w->scope != Scope::kSession) {
        r.fail(n, "start",
               "entries must be \"" + workerNames("\", \"", "\" or \"", Scope::kSession) + "\"" +
                   (w != nullptr ? " (" + s->get() + " is a host worker: its own section starts it)"
                                 : std::string()));
      } else if (std::find(names.begin(), names.end(), s->get()) != names.end()) {
        r.fail(n, "start", "names \"" + s->get() + "\" twice");
      } else {
        names.push_back(s->get());
      }
    }
    config.workers = std::move(names);
    config.workers_set = true;
  }
  r.rejectUnknown();
}

void readControl(TableReader& top, Config& config, std::string_view source,
                 std::vector<std::string>& errors) {
  const toml::table* t = top.table("control");
  if (t == nullptr) return;
  TableReader r(*t, "control.", source, errors);
  r.string("socket", [&](const std::string& v) -> std::string {
    if (v.empty() || v[0] != '/') return "must be an absolute path";
    if (v.size() >= 108) return "is longer than a unix socket path may be (107 bytes)";
    config.control_socket = v;
    return {};
  });
  r.string("group", [&](const std::string& v) -> std::string {
    if (v.empty()) return "must not be empty";
    config.control_group = v;
    return {};
  });
  r.rejectUnknown();
}

void readCapture(TableReader& top, Config& config, std::string_view source,
                 std::vector<std::string>& errors) {
  const toml::table* t = top.table("capture");
  if (t == nullptr) return;
  TableReader r(*t, "capture.", source, errors);
  CaptureConfig& c = config.capture;
  r.string("source", [&](const std::string& v) -> std::string {
    if (v != "auto" && v != "synthetic" && v != "x11" && v != "vdisplay")
      return "must be \"auto\", \"synthetic\", \"x11\" or \"vdisplay\", not \"" + v + "\"";
    c.source = v;
    return {};
  });
  r.integer("width", 16, 8192, [&](int64_t v) { c.width = static_cast<uint32_t>(v); });
  r.integer("height", 16, 8192, [&](int64_t v) { c.height = static_cast<uint32_t>(v); });
  r.integer("fps", 1, 240, [&](int64_t v) { c.fps = static_cast<uint32_t>(v); });
  r.integer("sync_flash_ms", 10, 3'600'000,
            [&](int64_t v) { c.sync_flash_ms = static_cast<uint32_t>(v); });
  r.rejectUnknown();
  if (c.sync_flash_ms != 0 && c.source != "synthetic")
    r.fail(*t->get("sync_flash_ms"), "sync_flash_ms",
           "needs source = \"synthetic\" (the flash is drawn by the synthetic picture)");
  if (c.width % 2 != 0) r.fail(*t, "width", "must be even (4:2:0 chroma)");
  if (c.height % 2 != 0) r.fail(*t, "height", "must be even (4:2:0 chroma)");
}

void readEncode(TableReader& top, Config& config, std::string_view source,
                std::vector<std::string>& errors) {
  const toml::table* t = top.table("encode");
  if (t == nullptr) return;
  TableReader r(*t, "encode.", source, errors);
  EncodeConfig& c = config.encode;
  static const std::set<std::string, std::less<>> kEncoders = {
      "libx264", "libx265", "h264_nvenc", "hevc_nvenc", "h264_vaapi", "h264_qsv"};
  r.string("encoder", [&](const std::string& v) -> std::string {
    if (!kEncoders.contains(v))
      return "must be one of libx264, libx265, h264_nvenc, hevc_nvenc, h264_vaapi, h264_qsv, "
             "not \"" +
             v + "\"";
    c.encoder = v;
    return {};
  });
  r.integer("bitrate_kbps", 100, 500'000,
            [&](int64_t v) { c.bitrate_kbps = static_cast<uint32_t>(v); });
  r.string("preset", [&](const std::string& v) -> std::string {
    if (v.empty() || v.size() > 32 || !std::all_of(v.begin(), v.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch));
        }))
      return "must be an encoder preset name such as \"superfast\"";
    c.preset = v;
    return {};
  });
  r.integer("idle_fps", 0, 240, [&](int64_t v) { c.idle_fps = static_cast<uint32_t>(v); });
  r.rejectUnknown();
}

void readNet(TableReader& top, Config& config, std::string_view source,
             std::vector<std::string>& errors) {
  const toml::table* t = top.table("net");
  if (t == nullptr) return;
  TableReader r(*t, "net.", source, errors);
  NetConfig& c = config.net;
  r.string("bind", [&](const std::string& v) -> std::string {
    in6_addr a6{};
    in_addr a4{};
    if (inet_pton(AF_INET, v.c_str(), &a4) != 1 && inet_pton(AF_INET6, v.c_str(), &a6) != 1)
      return "must be an IPv4 or IPv6 address such as \"0.0.0.0\" or \"::\", not \"" + v + "\"";
    c.bind = v;
    return {};
  });
  // 0: any free port (tests); funkhausctl status shows the one taken.
  r.integer("port", 0, 65535, [&](int64_t v) { c.port = static_cast<uint16_t>(v); });
  r.integer("rtp_port", 0, 65534, [&](int64_t v) { c.rtp_port = static_cast<uint16_t>(v); });
  r.string("path", [&](const std::string& v) -> std::string {
    if (v.size() < 2 || v[0] != '/' || v.size() > 64 ||
        !std::all_of(v.begin() + 1, v.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
                 ch == '/' || ch == '.';
        }))
      return "must look like \"/live\" (letters, digits, - _ . /; at most 64 bytes)";
    c.path = v;
    return {};
  });
  r.integer("max_viewers", 1, abi::kMaxConnections,
            [&](int64_t v) { c.max_viewers = static_cast<uint32_t>(v); });
  r.integer("mtu", 576, 9000, [&](int64_t v) { c.mtu = static_cast<uint32_t>(v); });
  r.integer("session_timeout_s", 5, 3600,
            [&](int64_t v) { c.session_timeout_s = static_cast<uint32_t>(v); });
  // Viewers from other hosts sign in with these (RTSP Digest); no password: this host only.
  r.string("rtsp_user", [&](const std::string& v) -> std::string {
    if (v.empty() || v.size() > 64 || v.find_first_of(":\"\\ \t\r\n") != std::string::npos)
      return "must be 1 to 64 characters without ':', quotes, backslashes or spaces";
    c.rtsp_user = v;
    return {};
  });
  r.string("rtsp_password", [&](const std::string& v) -> std::string {
    if (v.size() > 128 || v.find_first_of("\r\n") != std::string::npos)
      return "must be at most 128 characters on one line";
    c.rtsp_password = v;
    return {};
  });
  r.rejectUnknown();
  if (c.rtp_port % 2 != 0)
    r.fail(*t, "rtp_port", "must be even (RTCP takes the odd port above it)");
}

bool ipAddress(const std::string& v) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, v.c_str(), &a4) == 1 || inet_pton(AF_INET6, v.c_str(), &a6) == 1;
}

// No control characters (they end up in logs, XML and a terminal).
bool printable(const std::string& v) {
  return std::none_of(v.begin(), v.end(),
                      [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
}

void readGamestreamApps(TableReader& r, const toml::array& apps, Config& config,
                        std::string_view source, std::vector<std::string>& errors) {
  for (size_t i = 0; i < apps.size(); ++i) {
    const std::string prefix = "gamestream.apps[" + std::to_string(i) + "].";
    const toml::table* t = apps[i].as_table();
    if (t == nullptr) {
      r.fail(apps[i], "apps[" + std::to_string(i) + "]", "must be a table {title, command}");
      continue;
    }
    TableReader a(*t, prefix, source, errors);
    GamestreamApp app;
    a.string("title", [&](const std::string& v) -> std::string {
      if (v.empty() || v.size() > 64 || !printable(v))
        return "must be 1 to 64 characters without control characters";
      if (v == "Desktop") return "\"Desktop\" is always there (app 1); choose another title";
      for (const GamestreamApp& known : config.gamestream.apps)
        if (known.title == v) return "\"" + v + "\" is the title of an earlier app";
      app.title = v;
      return {};
    });
    a.string("command", [&](const std::string& v) -> std::string {
      if (v.empty() || v.size() > 4096 || !printable(v))
        return "must be 1 to 4096 characters on one line";
      app.command = v;
      return {};
    });
    a.rejectUnknown();
    if (!t->contains("title")) a.fail(*t, "title", "is missing");
    if (!t->contains("command")) a.fail(*t, "command", "is missing");
    if (!app.title.empty() && !app.command.empty()) config.gamestream.apps.push_back(app);
  }
}

void readGamestream(TableReader& top, Config& config, std::string_view source,
                    std::vector<std::string>& errors) {
  const toml::table* t = top.table("gamestream");
  if (t == nullptr) return;
  TableReader r(*t, "gamestream.", source, errors);
  GamestreamConfig& c = config.gamestream;
  r.boolean("enabled", [&](bool v) { c.enabled = v; });
  // HTTPS is base_port - 5 (GameStream's layout); 0: any free ports (tests).
  r.integer("base_port", 0, 65535, [&](int64_t v) { c.base_port = static_cast<uint16_t>(v); });
  r.string("listen_address", [&](const std::string& v) -> std::string {
    if (!ipAddress(v))
      return "must be an IPv4 or IPv6 address such as \"::\" or \"127.0.0.1\", not \"" + v + "\"";
    c.listen_address = v;
    return {};
  });
  r.string("name", [&](const std::string& v) -> std::string {
    if (v.empty() || v.size() > 63 || !printable(v))
      return "must be 1 to 63 characters without control characters";
    c.name = v;
    return {};
  });
  r.boolean("mdns", [&](bool v) { c.mdns = v; });
  if (const toml::array* apps = r.array("apps"))
    readGamestreamApps(r, *apps, config, source, errors);
  r.rejectUnknown();
  if (c.base_port != 0 && c.base_port < 1029)
    r.fail(*t, "base_port", "must be 0 or from 1029 (HTTPS takes base_port - 5, above 1023)");
}

void readConsole(TableReader& top, Config& config, std::string_view source,
                 std::vector<std::string>& errors) {
  const toml::table* t = top.table("console");
  if (t == nullptr) return;
  TableReader r(*t, "console.", source, errors);
  ConsoleConfig& c = config.console;
  r.boolean("enabled", [&](bool v) { c.enabled = v; });
  r.string("address", [&](const std::string& v) -> std::string {
    if (!ipAddress(v))
      return "must be an IPv4 or IPv6 address such as \"127.0.0.1\" or \"::\", not \"" + v + "\"";
    c.address = v;
    return {};
  });
  r.integer("port", 0, 65535, [&](int64_t v) { c.port = static_cast<uint16_t>(v); });
  r.rejectUnknown();
  if (c.port != 0 && c.port < 1024)
    r.fail(*t->get("port"), "port", "must be 0 or from 1024 (not a privileged port)");
}

void readVdisplay(TableReader& top, Config& config, std::string_view source,
                  std::vector<std::string>& errors) {
  const toml::table* t = top.table("vdisplay");
  if (t == nullptr) return;
  TableReader r(*t, "vdisplay.", source, errors);
  VdisplayConfig& c = config.vdisplay;
  // The driver checks the exact bounds (CVT, EDID); these, the protocol's, catch what can never
  // work.
  constexpr int64_t kMin = abi::kVdisplayMinDimension;
  constexpr int64_t kMaxW = abi::kVdisplayMaxWidth, kMaxH = abi::kVdisplayMaxHeight;
  r.integer("width", kMin, kMaxW, [&](int64_t v) { c.width = static_cast<uint32_t>(v); });
  r.integer("height", kMin, kMaxH, [&](int64_t v) { c.height = static_cast<uint32_t>(v); });
  r.integer("refresh_hz", abi::kVdisplayMinRefreshMilliHz / 1000,
            abi::kVdisplayMaxRefreshMilliHz / 1000,
            [&](int64_t v) { c.refresh_hz = static_cast<uint32_t>(v); });
  r.integer("fb_width", kMin, kMaxW, [&](int64_t v) { c.fb_width = static_cast<uint32_t>(v); });
  r.integer("fb_height", kMin, kMaxH, [&](int64_t v) { c.fb_height = static_cast<uint32_t>(v); });
  if (const toml::node* n = t->get("hdr")) {
    if (const auto* b = n->as_boolean())
      c.hdr = b->get();
    else
      r.fail(*n, "hdr", "must be true or false");
  }
  r.seen("hdr");
  r.rejectUnknown();
  static_assert(abi::kVdisplayWidthAlign == 8 && abi::kVdisplayHeightAlign == 2,
                "the messages below name the alignment");
  if (c.width % abi::kVdisplayWidthAlign != 0)
    r.fail(*t, "width", "must be a multiple of 8 (the CVT character cell)");
  if (c.height % abi::kVdisplayHeightAlign != 0) r.fail(*t, "height", "must be even");
}

void readRings(TableReader& top, Config& config, std::string_view source,
               std::vector<std::string>& errors) {
  const toml::table* t = top.table("rings");
  if (t == nullptr) return;
  TableReader r(*t, "rings.", source, errors);
  RingsConfig& c = config.rings;
  r.integer("frame_slots", 3, 16, [&](int64_t v) { c.frame_slots = static_cast<uint32_t>(v); });
  r.integer("max_width", 16, 8192, [&](int64_t v) { c.max_width = static_cast<uint32_t>(v); });
  r.integer("max_height", 16, 8192, [&](int64_t v) { c.max_height = static_cast<uint32_t>(v); });
  r.integer("packet_ring_kib", 256, 262'144,
            [&](int64_t v) { c.packet_ring_kib = static_cast<uint32_t>(v); });
  r.rejectUnknown();
}

void readAudio(TableReader& top, Config& config, std::string_view source,
               std::vector<std::string>& errors) {
  const toml::table* t = top.table("audio");
  if (t == nullptr) return;
  TableReader r(*t, "audio.", source, errors);
  AudioConfig& c = config.audio;
  r.boolean("enabled", [&](bool v) { c.enabled = v; });
  bool channels_ok = true;
  if (const toml::node* n = t->get("channels")) {
    const auto* i = n->as_integer();
    if (i != nullptr && (i->get() == 2 || i->get() == 6 || i->get() == 8)) {
      c.channels = static_cast<uint32_t>(i->get());
    } else {
      r.fail(*n, "channels", "must be 2 (stereo), 6 (5.1) or 8 (7.1)");
      channels_ok = false;
    }
  }
  r.seen("channels");
  // Bounds per channel count below, once the count is known.
  r.integer("bitrate", 1, 100'000'000, [&](int64_t v) { c.bitrate = static_cast<uint32_t>(v); });
  if (const toml::node* n = t->get("frame_ms")) {
    const auto* i = n->as_integer();
    if (i != nullptr && (i->get() == 5 || i->get() == 10))
      c.frame_ms = static_cast<uint32_t>(i->get());
    else
      r.fail(*n, "frame_ms", "must be 5 or 10 (milliseconds of sound per Opus packet)");
  }
  r.seen("frame_ms");
  r.string("source", [&](const std::string& v) -> std::string {
    if (v != "pulse" && v != "sync") return "must be \"pulse\" or \"sync\", not \"" + v + "\"";
    c.source = v;
    return {};
  });
  r.integer("sync_click_ms", 10, 3'600'000,
            [&](int64_t v) { c.sync_click_ms = static_cast<uint32_t>(v); });
  r.rejectUnknown();
  if (const toml::node* n = t->get("sync_click_ms"); n != nullptr && c.source != "sync")
    r.fail(*n, "sync_click_ms", "needs source = \"sync\"");
  if (channels_ok && c.bitrate != 0 &&
      (c.bitrate < audioMinBitrate(c.channels) || c.bitrate > audioMaxBitrate(c.channels)))
    r.fail(*t->get("bitrate"), "bitrate",
           "must be from " + std::to_string(audioMinBitrate(c.channels)) + " to " +
               std::to_string(audioMaxBitrate(c.channels)) + " bits/s for " +
               std::to_string(c.channels) + " channels (" +
               std::to_string(audioStreams(c.channels)) + " Opus streams of 6 to 510 kbit/s)");
}

// A session worker named in [workers] start whose own section turns it off.
void checkNamedWorkersEnabled(TableReader& top, const Config& config, const toml::table& root) {
  if (!config.workers_set) return;
  const toml::node* workers = root.get("workers");
  for (const std::string& name : config.workers)
    if (const WorkerSpec* w = findWorker(name);
        w != nullptr && w->enabled != nullptr && !w->enabled(config) && workers != nullptr)
      top.fail(*workers, "workers.start",
               "names \"" + name + "\", which its own section disables (enabled = false)");
}

}  // namespace

void resolveDefaults(Config& config, const std::string& worker_dir) {
  auto pickWorkers = [&] {
    // The table's order; a worker that is only there when available joins if it is.
    config.workers.clear();
    for (const WorkerSpec& w : workerTable())
      if (w.scope == Scope::kSession &&
          (w.default_start == DefaultStart::kAlways ||
           (w.default_start == DefaultStart::kIfAvailable && w.available != nullptr &&
            w.available(config, worker_dir))))
        config.workers.emplace_back(w.name);
  };
  if (!config.workers_set) pickWorkers();
  if (config.capture.source == "auto") {
    // Frames from the virtual display when a worker in the set produces the display ring.
    config.capture.source =
        producerOf(abi::RingId::kDisplay, config.workers, nullptr) ? "vdisplay" : "synthetic";
    // Availability may depend on the source now known (input has no display to go to with the
    // synthetic picture).
    if (!config.workers_set) pickWorkers();
  }
}

std::vector<std::string> hostWorkers(const Config& config) {
  std::vector<std::string> out;
  for (const WorkerSpec& w : workerTable())
    if (w.scope == Scope::kHost && (w.enabled == nullptr || w.enabled(config)))
      out.emplace_back(w.name);
  return out;
}

const char* toString(RunMode mode) { return mode == RunMode::kSystem ? "system" : "user"; }

const char* toString(SessionSourceKind kind) {
  return kind == SessionSourceKind::kLogind ? "logind" : "fixed";
}

Result<Config> parseConfig(std::string_view text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return makeError("{}:{}: {}", source_name, e.source().begin.line, e.description());
  }
  Config config;
  std::vector<std::string> errors;
  TableReader top(root, "", source_name, errors);
  top.string("mode", [&](const std::string& v) -> std::string {
    if (v == "system")
      config.mode = RunMode::kSystem;
    else if (v == "user")
      config.mode = RunMode::kUser;
    else
      return "must be \"system\" or \"user\", not \"" + v + "\"";
    return {};
  });
  readSession(top, config, source_name, errors);
  readRestart(top, config, source_name, errors);
  readWorkers(top, config, source_name, errors);
  readControl(top, config, source_name, errors);
  readCapture(top, config, source_name, errors);
  readEncode(top, config, source_name, errors);
  readNet(top, config, source_name, errors);
  readVdisplay(top, config, source_name, errors);
  readRings(top, config, source_name, errors);
  readGamestream(top, config, source_name, errors);
  readConsole(top, config, source_name, errors);
  readAudio(top, config, source_name, errors);
  top.rejectUnknown();
  checkNamedWorkersEnabled(top, config, root);
  if (!errors.empty()) {
    std::string all = errors.front();
    for (size_t i = 1; i < errors.size(); ++i) all += "\n" + errors[i];
    return Error{all};
  }
  return config;
}

Result<Config> loadConfig(const std::filesystem::path& path, bool required) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT && !required) return Config{};
    return makeError("cannot read config {}: {}", path.string(), std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parseConfig(text.str(), path.string());
}

}  // namespace funkhaus::supervisor
