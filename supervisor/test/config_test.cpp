// Config parsing: defaults with no file, every section read, and errors that name the file,
// the line and the key.
#include "funkhaus/supervisor/config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace funkhaus::supervisor {
namespace {

using namespace std::chrono_literals;

std::string errorOf(std::string_view text) {
  auto config = parseConfig(text, "funkhaus.toml");
  EXPECT_FALSE(config.ok()) << text;
  return config.ok() ? std::string() : config.error().message;
}

TEST(Config, EmptyTextGivesDefaults) {
  auto c = parseConfig("", "funkhaus.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->mode.has_value());
  EXPECT_FALSE(c->session.source.has_value());
  EXPECT_EQ(c->restart.initial_backoff, 100ms);
  EXPECT_EQ(c->heartbeat_timeout, 1s);
  EXPECT_EQ(c->workers, (std::vector<std::string>{"capture", "encode", "net"}));
  EXPECT_EQ(c->control_group, "funkhaus");
}

TEST(Config, MissingFileGivesDefaultsUnlessRequired) {
  const auto path = std::filesystem::temp_directory_path() / "funkhaus-no-such-config.toml";
  std::filesystem::remove(path);
  auto optional = loadConfig(path, false);
  ASSERT_TRUE(optional.ok());
  EXPECT_EQ(optional->restart.max_restarts, RestartPolicyConfig{}.max_restarts);
  auto required = loadConfig(path, true);
  ASSERT_FALSE(required.ok());
  EXPECT_NE(required.error().message.find("cannot read config"), std::string::npos);
  EXPECT_NE(required.error().message.find("No such file"), std::string::npos);
}

TEST(Config, EverySectionIsRead) {
  auto c = parseConfig(R"(mode = "system"
[session]
source = "fixed"
user = "alice"
[session.environment]
DISPLAY = ":1"
[restart]
initial_backoff_ms = 50
max_backoff_ms = 800
stable_after_ms = 2000
max_restarts = 3
window_s = 10
max_session_restarts = 1
[workers]
start = ["vdisplay", "capture", "encode", "net"]
heartbeat_timeout_ms = 500
stop_grace_ms = 250
[control]
socket = "/tmp/f.sock"
group = "video"
)",
                       "funkhaus.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->mode, RunMode::kSystem);
  EXPECT_EQ(c->session.source, SessionSourceKind::kFixed);
  EXPECT_EQ(c->session.user, "alice");
  EXPECT_EQ(c->session.environment.at("DISPLAY"), ":1");
  EXPECT_EQ(c->restart.initial_backoff, 50ms);
  EXPECT_EQ(c->restart.max_backoff, 800ms);
  EXPECT_EQ(c->restart.stable_after, 2s);
  EXPECT_EQ(c->restart.max_restarts, 3);
  EXPECT_EQ(c->restart.window, 10s);
  EXPECT_EQ(c->restart.max_session_restarts, 1);
  EXPECT_EQ(c->workers.front(), "vdisplay");
  EXPECT_EQ(c->heartbeat_timeout, 500ms);
  EXPECT_EQ(c->stop_grace, 250ms);
  EXPECT_EQ(c->control_socket, "/tmp/f.sock");
  EXPECT_EQ(c->control_group, "video");
}

TEST(Config, UnknownKeysAreNamedWithTheirLine) {
  EXPECT_EQ(errorOf("mode = \"user\"\nmodee = 1\n"), "funkhaus.toml:2: modee: unknown key");
  EXPECT_EQ(errorOf("[restart]\n\nmax_restart = 4\n"),
            "funkhaus.toml:3: restart.max_restart: unknown key");
  EXPECT_EQ(errorOf("[sesion]\nuser = \"a\"\n"), "funkhaus.toml:1: sesion: unknown key");
}

TEST(Config, BadValuesAreNamedWithTheirLine) {
  EXPECT_EQ(errorOf("mode = \"root\"\n"),
            "funkhaus.toml:1: mode: must be \"system\" or \"user\", not \"root\"");
  EXPECT_EQ(errorOf("[restart]\nmax_restarts = \"five\"\n"),
            "funkhaus.toml:2: restart.max_restarts: must be an integer from 1 to 1000");
  EXPECT_EQ(errorOf("[restart]\nmax_restarts = 0\n"),
            "funkhaus.toml:2: restart.max_restarts: must be an integer from 1 to 1000");
  EXPECT_NE(errorOf("[restart]\ninitial_backoff_ms = 500\nmax_backoff_ms = 100\n")
                .find("restart.max_backoff_ms: must not be smaller"),
            std::string::npos);
  EXPECT_EQ(errorOf("[session]\nsource = \"ldap\"\n"),
            "funkhaus.toml:2: session.source: must be \"logind\" or \"fixed\", not \"ldap\"");
  EXPECT_EQ(errorOf("[session.environment]\n1BAD = \"x\"\n"),
            "funkhaus.toml:2: session.environment.1BAD: is not a valid environment variable name");
  EXPECT_EQ(errorOf("[workers]\nstart = [\"capture\", \"gpu\"]\n"),
            "funkhaus.toml:2: workers.start: entries must be \"vdisplay\", \"capture\", "
            "\"encode\", \"net\", \"input\" or \"audio\"");
  EXPECT_EQ(errorOf("[workers]\nstart = [\"net\", \"net\"]\n"),
            "funkhaus.toml:2: workers.start: names \"net\" twice");
  EXPECT_EQ(errorOf("[control]\nsocket = \"relative.sock\"\n"),
            "funkhaus.toml:2: control.socket: must be an absolute path");
  EXPECT_EQ(errorOf("session = 3\n"), "funkhaus.toml:1: session: must be a table");
}

TEST(Config, EveryErrorIsReportedNotJustTheFirst) {
  const std::string e = errorOf("bogus = 1\n[restart]\nwindow_s = -1\n");
  EXPECT_NE(e.find("funkhaus.toml:1: bogus: unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("funkhaus.toml:3: restart.window_s"), std::string::npos) << e;
}

TEST(Config, SyntaxErrorsNameTheLine) {
  const std::string e = errorOf("mode = \"user\"\n[restart\n");
  EXPECT_EQ(e.rfind("funkhaus.toml:2: ", 0), 0u) << e;
}

TEST(Config, LoadsAFile) {
  const auto path = std::filesystem::temp_directory_path() / "funkhaus-config-test.toml";
  {
    std::ofstream out(path);
    out << "[workers]\nheartbeat_timeout_ms = 2000\n";
  }
  auto c = loadConfig(path, true);
  std::filesystem::remove(path);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->heartbeat_timeout, 2s);
}

}  // namespace
}  // namespace funkhaus::supervisor

namespace funkhaus::supervisor {
namespace {

TEST(Config, PipelineSectionsAreRead) {
  auto c = parseConfig(R"([capture]
source = "x11"
width = 1280
height = 720
fps = 30
[encode]
encoder = "h264_vaapi"
bitrate_kbps = 4000
preset = "ultrafast"
idle_fps = 0
[net]
bind = "::"
port = 0
rtp_port = 50000
path = "/desk"
max_viewers = 4
mtu = 1200
session_timeout_s = 30
[rings]
frame_slots = 5
max_width = 1920
max_height = 1080
packet_ring_kib = 4096
)",
                       "funkhaus.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->capture.source, "x11");
  EXPECT_EQ(c->capture.width, 1280u);
  EXPECT_EQ(c->capture.fps, 30u);
  EXPECT_EQ(c->encode.encoder, "h264_vaapi");
  EXPECT_EQ(c->encode.bitrate_kbps, 4000u);
  EXPECT_EQ(c->encode.preset, "ultrafast");
  EXPECT_EQ(c->encode.idle_fps, 0u);
  EXPECT_EQ(workerArgs("encode", *c),
            (std::vector<std::string>{"--encoder", "h264_vaapi", "--bitrate", "4000000", "--fps",
                                      "30", "--preset", "ultrafast", "--idle-fps", "0"}));
  EXPECT_EQ(c->net.bind, "::");
  EXPECT_EQ(c->net.port, 0);
  EXPECT_EQ(c->net.rtp_port, 50000);
  EXPECT_EQ(c->net.path, "/desk");
  EXPECT_EQ(c->net.max_viewers, 4u);
  EXPECT_EQ(c->rings.frame_slots, 5u);
  EXPECT_EQ(c->rings.packet_ring_kib, 4096u);
}

TEST(Config, PipelineDefaultsServeRtspOn8554At1080p60) {
  auto c = parseConfig("", "funkhaus.toml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->capture.source, "auto");
  EXPECT_FALSE(c->workers_set);
  EXPECT_EQ(c->vdisplay.width, 1920u);
  EXPECT_EQ(c->vdisplay.refresh_hz, 60u);
  EXPECT_EQ(c->capture.width, 1920u);
  EXPECT_EQ(c->capture.height, 1080u);
  EXPECT_EQ(c->capture.fps, 60u);
  EXPECT_EQ(c->encode.encoder, "libx264");
  EXPECT_EQ(c->encode.idle_fps, 2u);
  EXPECT_EQ(c->net.port, 8554);
  EXPECT_EQ(c->net.path, "/live");
}

TEST(Config, BadPipelineValuesNameTheKeyAndLine) {
  EXPECT_EQ(errorOf("[capture]\nwidth = 1281\n"),
            "funkhaus.toml:1: capture.width: must be even "
            "(4:2:0 chroma)");
  EXPECT_NE(errorOf("[capture]\nsource = \"webcam\"\n").find("funkhaus.toml:2: capture.source"),
            std::string::npos);
  EXPECT_NE(errorOf("[encode]\nencoder = \"h264_amf\"\n").find("funkhaus.toml:2: encode.encoder"),
            std::string::npos);
  EXPECT_NE(errorOf("[net]\nbind = \"localhost\"\n").find("funkhaus.toml:2: net.bind: must be"),
            std::string::npos);
  EXPECT_NE(errorOf("[net]\npath = \"live\"\n").find("net.path"), std::string::npos);
  EXPECT_NE(errorOf("[net]\nrtp_port = 5001\n").find("net.rtp_port: must be even"),
            std::string::npos);
  EXPECT_NE(
      errorOf("[net]\nmax_viewers = 17\n").find("net.max_viewers: must be an integer from 1 to 16"),
      std::string::npos);
  EXPECT_NE(errorOf("[rings]\nframe_slots = 2\n").find("rings.frame_slots"), std::string::npos);
  EXPECT_NE(errorOf("[encode]\npreset = \"fast; rm\"\n").find("encode.preset"), std::string::npos);
  EXPECT_EQ(errorOf("[encode]\nidle_fps = 241\n"),
            "funkhaus.toml:2: encode.idle_fps: must be an integer from 0 to 240");
  EXPECT_EQ(errorOf("[encode]\nidle_fps = -1\n"),
            "funkhaus.toml:2: encode.idle_fps: must be an integer from 0 to 240");
  EXPECT_NE(errorOf("[encode]\nidle_fps = \"low\"\n").find("encode.idle_fps: must be an integer"),
            std::string::npos);
  EXPECT_NE(errorOf("[net]\nprot = 1\n").find("net.prot: unknown key"), std::string::npos);
}

TEST(Config, GamestreamSectionIsReadAndItsTitlesGoToTheWebWorker) {
  auto d = parseConfig("", "funkhaus.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->gamestream.enabled) << "on with the embedded defaults too";
  EXPECT_EQ(d->gamestream.base_port, 47989);
  EXPECT_EQ(hostWorkers(*d), (std::vector<std::string>{"web", "console"}));
  auto c = parseConfig(R"(
[gamestream]
enabled = true
base_port = 48989
listen_address = "127.0.0.1"
name = "living room"
mdns = false
[[gamestream.apps]]
title = "Steam Big Picture"
command = "steam -bigpicture"
[[gamestream.apps]]
title = "Tom & Jerry <2>"
command = "/usr/games/tomandjerry --fullscreen"
)",
                       "funkhaus.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->gamestream.base_port, 48989);
  EXPECT_EQ(c->gamestream.listen_address, "127.0.0.1");
  ASSERT_EQ(c->gamestream.apps.size(), 2u);
  EXPECT_EQ(c->gamestream.apps[1].command, "/usr/games/tomandjerry --fullscreen");
  EXPECT_EQ(workerArgs("web", *c),
            (std::vector<std::string>{"--name", "living room", "--app", "2:Steam Big Picture",
                                      "--app", "3:Tom & Jerry <2>", "--no-mdns"}));
  auto off = parseConfig("[gamestream]\nenabled = false\n", "funkhaus.toml");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(hostWorkers(*off), std::vector<std::string>{"console"});
}

TEST(Config, ConsoleSectionIsReadWithLoopbackDefaults) {
  auto d = parseConfig("", "funkhaus.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->console.enabled);
  EXPECT_EQ(d->console.address, "127.0.0.1");
  EXPECT_EQ(d->console.port, 47990);
  auto c = parseConfig("[console]\naddress = \"::\"\nport = 48990\n", "funkhaus.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->console.address, "::");
  EXPECT_EQ(c->console.port, 48990);
  auto off = parseConfig("[console]\nenabled = false\n[gamestream]\nenabled = false\n", "f.toml");
  ASSERT_TRUE(off.ok());
  EXPECT_TRUE(hostWorkers(*off).empty());
}

TEST(Config, BadConsoleValuesNameTheKeyAndLine) {
  EXPECT_EQ(errorOf("[console]\nenabled = \"yes\"\n"),
            "funkhaus.toml:2: console.enabled: must be true or false");
  EXPECT_EQ(errorOf("[console]\naddress = \"localhost\"\n"),
            "funkhaus.toml:2: console.address: must be an IPv4 or IPv6 address such as "
            "\"127.0.0.1\" or \"::\", not \"localhost\"");
  EXPECT_EQ(errorOf("[console]\nport = 80\n"),
            "funkhaus.toml:2: console.port: must be 0 or from 1024 (not a privileged port)");
  EXPECT_EQ(errorOf("[console]\nport = 70000\n"),
            "funkhaus.toml:2: console.port: must be an integer from 0 to 65535");
  EXPECT_EQ(errorOf("[console]\nbind = \"x\"\n"), "funkhaus.toml:2: console.bind: unknown key");
}

TEST(Config, BadGamestreamValuesNameTheKeyAndLine) {
  EXPECT_EQ(errorOf("[gamestream]\nenabled = 1\n"),
            "funkhaus.toml:2: gamestream.enabled: must be true or false");
  EXPECT_EQ(errorOf("[gamestream]\nbase_port = 1000\n"),
            "funkhaus.toml:1: gamestream.base_port: must be 0 or from 1029 (HTTPS takes "
            "base_port - 5, above 1023)");
  EXPECT_EQ(errorOf("[gamestream]\nbase_port = 70000\n"),
            "funkhaus.toml:2: gamestream.base_port: must be an integer from 0 to 65535");
  EXPECT_NE(errorOf("[gamestream]\nlisten_address = \"example.org\"\n")
                .find("funkhaus.toml:2: gamestream.listen_address: must be an IPv4 or IPv6"),
            std::string::npos);
  EXPECT_EQ(errorOf("[gamestream]\nname = \"\"\n"),
            "funkhaus.toml:2: gamestream.name: must be 1 to 63 characters without control "
            "characters");
  EXPECT_EQ(errorOf("[[gamestream.apps]]\ntitle = \"Desktop\"\ncommand = \"x\"\n"),
            "funkhaus.toml:2: gamestream.apps[0].title: \"Desktop\" is always there (app 1); "
            "choose another title");
  EXPECT_EQ(errorOf("[[gamestream.apps]]\ntitle = \"A\"\ncommand = \"a\"\n"
                    "[[gamestream.apps]]\ntitle = \"A\"\ncommand = \"b\"\n"),
            "funkhaus.toml:5: gamestream.apps[1].title: \"A\" is the title of an earlier app");
  EXPECT_EQ(errorOf("[[gamestream.apps]]\ntitle = \"A\"\n"),
            "funkhaus.toml:1: gamestream.apps[0].command: is missing");
  EXPECT_EQ(errorOf("[[gamestream.apps]]\ntitle = \"A\"\ncommand = \"a\"\nicon = 1\n"),
            "funkhaus.toml:4: gamestream.apps[0].icon: unknown key");
  EXPECT_EQ(errorOf("[gamestream]\napps = [1]\n"),
            "funkhaus.toml:2: gamestream.apps[0]: must be a table {title, command}");
  EXPECT_NE(errorOf("[workers]\nstart = [\"capture\", \"web\"]\n")
                .find("web is a host worker: its own section starts it"),
            std::string::npos);
}

}  // namespace
}  // namespace funkhaus::supervisor

namespace funkhaus::supervisor {
namespace {

TEST(Config, AutoSourceIsVdisplayWhenTheDriverRunsElseSynthetic) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("funkhaus-resolve-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto c = parseConfig("", "funkhaus.toml");
  ASSERT_TRUE(c.ok());
  Config without = *c;
  resolveDefaults(without, dir.string());  // no driver binary there
  EXPECT_EQ(without.capture.source, "synthetic");
  EXPECT_EQ(without.workers, (std::vector<std::string>{"capture", "encode", "net"}));
  auto explicit_start = parseConfig("[workers]\nstart = [\"vdisplay\", \"capture\"]\n", "f.toml");
  ASSERT_TRUE(explicit_start.ok());
  resolveDefaults(*explicit_start, dir.string());
  EXPECT_EQ(explicit_start->capture.source, "vdisplay");
  auto fixed = parseConfig("[capture]\nsource = \"x11\"\n", "f.toml");
  ASSERT_TRUE(fixed.ok());
  resolveDefaults(*fixed, dir.string());
  EXPECT_EQ(fixed->capture.source, "x11") << "an explicit source stays";
  std::filesystem::remove_all(dir);
}

TEST(Config, DriverJoinsOnlyWhenTheSourceMayUseIt) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("funkhaus-driver-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  for (const char* name : {"funkhaus-vdisplay", "Xvfb", "funkhaus-input"}) {
    std::ofstream(dir / name) << "#!/bin/sh\n";
    std::filesystem::permissions(dir / name, std::filesystem::perms::owner_all);
  }
  const std::string old_path = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", (dir.string() + ":" + old_path).c_str(), 1);
  auto resolved = [&](const char* text) {
    auto c = parseConfig(text, "f.toml");
    EXPECT_TRUE(c.ok());
    resolveDefaults(*c, dir.string());
    return *c;
  };
  const Config automatic = resolved("");
  EXPECT_EQ(automatic.capture.source, "vdisplay");
  EXPECT_EQ(automatic.workers,
            (std::vector<std::string>{"vdisplay", "capture", "encode", "net", "input"}));
  // With the synthetic picture there is no X display: input joins only if it can have uinput.
  const bool uinput = access("/dev/uinput", W_OK) == 0;
  std::vector<std::string> three = {"capture", "encode", "net"};
  std::vector<std::string> with_input = {"capture", "encode", "net", "input"};
  const Config synthetic = resolved("[capture]\nsource = \"synthetic\"\n");
  EXPECT_EQ(synthetic.workers, uinput ? with_input : three)
      << "no virtual display that nobody watches, no input worker with nowhere to put input";
  const Config x11 = resolved("[capture]\nsource = \"x11\"\n");
  EXPECT_EQ(x11.workers, with_input);
  // "auto" without the driver's binary is the synthetic picture: the same rule, decided after
  // the source is known.
  std::filesystem::remove(dir / "funkhaus-vdisplay");
  const Config automatic_synthetic = resolved("");
  EXPECT_EQ(automatic_synthetic.capture.source, "synthetic");
  EXPECT_EQ(automatic_synthetic.workers, uinput ? with_input : three);
  setenv("PATH", old_path.c_str(), 1);
  std::filesystem::remove_all(dir);
}

TEST(Config, AudioSectionIsReadAndGoesToTheWorkersArguments) {
  auto defaults = parseConfig("", "f.toml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->audio.enabled);
  EXPECT_EQ(defaults->audio.channels, 2u);
  EXPECT_EQ(defaults->audio.frame_ms, 5u);
  EXPECT_EQ(workerArgs("audio", *defaults),
            (std::vector<std::string>{"--channels", "2", "--bitrate", "96000", "--frame-ms", "5"}));
  // Unset, the bitrate follows the channels (Opus streams: 1, 4, 5).
  auto surround = parseConfig("[audio]\nchannels = 6\n", "f.toml");
  ASSERT_TRUE(surround.ok()) << surround.error().message;
  EXPECT_EQ(
      workerArgs("audio", *surround),
      (std::vector<std::string>{"--channels", "6", "--bitrate", "256000", "--frame-ms", "5"}));
  auto c = parseConfig("[audio]\nenabled = true\nchannels = 8\nbitrate = 2550000\nframe_ms = 10\n",
                       "f.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(workerArgs("audio", *c), (std::vector<std::string>{"--channels", "8", "--bitrate",
                                                               "2550000", "--frame-ms", "10"}));
  auto low = parseConfig("[audio]\nbitrate = 6000\n", "f.toml");
  ASSERT_TRUE(low.ok()) << low.error().message;
  EXPECT_EQ(audioBitrate(low->audio), 6000u);
  auto sync = parseConfig("[audio]\nsource = \"sync\"\nsync_click_ms = 500\n", "f.toml");
  ASSERT_TRUE(sync.ok()) << sync.error().message;
  EXPECT_EQ(workerArgs("audio", *sync),
            (std::vector<std::string>{"--channels", "2", "--bitrate", "96000", "--frame-ms", "5",
                                      "--source", "sync", "--sync-click-ms", "500"}));
  auto off = parseConfig("[audio]\nenabled = false\n", "f.toml");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->audio.enabled);
}

TEST(Config, TheSyncFlashNeedsTheSyntheticSourceAndGoesToCapture) {
  auto c = parseConfig("[capture]\nsource = \"synthetic\"\nsync_flash_ms = 1000\n", "f.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->capture.sync_flash_ms, 1000u);
  const std::vector<std::string> args = workerArgs("capture", *c);
  ASSERT_GE(args.size(), 2u);
  EXPECT_EQ(std::vector<std::string>(args.end() - 2, args.end()),
            (std::vector<std::string>{"--sync-flash-ms", "1000"}));
  auto off = parseConfig("[capture]\nsource = \"synthetic\"\n", "f.toml");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->capture.sync_flash_ms, 0u);
  for (const std::string& a : workerArgs("capture", *off)) EXPECT_NE(a, "--sync-flash-ms");
  EXPECT_EQ(errorOf("[capture]\nsync_flash_ms = 1000\n"),
            "funkhaus.toml:2: capture.sync_flash_ms: needs source = \"synthetic\" (the flash is "
            "drawn by the synthetic picture)");
  EXPECT_EQ(errorOf("[capture]\nsource = \"synthetic\"\nsync_flash_ms = 0\n"),
            "funkhaus.toml:3: capture.sync_flash_ms: must be an integer from 10 to 3600000");
}

TEST(Config, BadAudioValuesNameTheKeyAndLine) {
  EXPECT_EQ(errorOf("[audio]\nchannels = 4\n"),
            "funkhaus.toml:2: audio.channels: must be 2 (stereo), 6 (5.1) or 8 (7.1)");
  EXPECT_EQ(errorOf("[audio]\nchannels = \"2\"\n"),
            "funkhaus.toml:2: audio.channels: must be 2 (stereo), 6 (5.1) or 8 (7.1)");
  EXPECT_EQ(errorOf("[audio]\nbitrate = 5999\n"),
            "funkhaus.toml:2: audio.bitrate: must be from 6000 to 510000 bits/s for 2 channels "
            "(1 Opus streams of 6 to 510 kbit/s)");
  EXPECT_EQ(errorOf("[audio]\nchannels = 6\nbitrate = 2040001\n"),
            "funkhaus.toml:3: audio.bitrate: must be from 24000 to 2040000 bits/s for 6 channels "
            "(4 Opus streams of 6 to 510 kbit/s)");
  EXPECT_EQ(errorOf("[audio]\nbitrate = 96000\nchannels = 8\nbitrate_kbps = 96\n"),
            "funkhaus.toml:4: audio.bitrate_kbps: unknown key");
  EXPECT_EQ(errorOf("[audio]\nbitrate = -1\n"),
            "funkhaus.toml:2: audio.bitrate: must be an integer from 1 to 100000000");
  EXPECT_EQ(errorOf("[audio]\nframe_ms = 20\n"),
            "funkhaus.toml:2: audio.frame_ms: must be 5 or 10 (milliseconds of sound per Opus "
            "packet)");
  EXPECT_EQ(errorOf("[audio]\nenabled = \"yes\"\n"),
            "funkhaus.toml:2: audio.enabled: must be true or false");
  EXPECT_EQ(errorOf("audio = 1\n"), "funkhaus.toml:1: audio: must be a table");
  EXPECT_EQ(errorOf("[audio]\nsource = \"jack\"\n"),
            "funkhaus.toml:2: audio.source: must be \"pulse\" or \"sync\", not \"jack\"");
  EXPECT_EQ(errorOf("[audio]\nsync_click_ms = 1000\n"),
            "funkhaus.toml:2: audio.sync_click_ms: needs source = \"sync\"");
  EXPECT_EQ(errorOf("[audio]\nsource = \"sync\"\nsync_click_ms = 5\n"),
            "funkhaus.toml:3: audio.sync_click_ms: must be an integer from 10 to 3600000");
  EXPECT_EQ(errorOf("[workers]\nstart = [\"capture\", \"encode\", \"net\", \"audio\"]\n"
                    "[audio]\nenabled = false\n"),
            "funkhaus.toml:1: workers.start: names \"audio\", which its own section disables "
            "(enabled = false)");
  // Several at once, each on its line.
  const std::string both = errorOf("[audio]\nchannels = 3\nframe_ms = 7\n");
  EXPECT_NE(both.find("funkhaus.toml:2: audio.channels"), std::string::npos) << both;
  EXPECT_NE(both.find("funkhaus.toml:3: audio.frame_ms"), std::string::npos) << both;
}

TEST(Config, AudioJoinsTheDefaultSetWhenItsBinaryIsThereAndItIsEnabled) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("funkhaus-audio-row-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto resolved = [&](const char* text) {
    auto c = parseConfig(text, "f.toml");
    EXPECT_TRUE(c.ok());
    resolveDefaults(*c, dir.string());
    return *c;
  };
  const char* synthetic = "[capture]\nsource = \"synthetic\"\n";
  auto has_audio = [](const Config& c) {
    return std::find(c.workers.begin(), c.workers.end(), "audio") != c.workers.end();
  };
  EXPECT_FALSE(has_audio(resolved(synthetic))) << "no binary, no row";
  std::ofstream(dir / "funkhaus-audio") << "#!/bin/sh\n";
  std::filesystem::permissions(dir / "funkhaus-audio", std::filesystem::perms::owner_all);
  const Config with = resolved(synthetic);
  EXPECT_TRUE(has_audio(with));
  EXPECT_EQ(with.workers.back(), "audio") << "after net, whose ring it fills";
  EXPECT_FALSE(
      has_audio(resolved("[capture]\nsource = \"synthetic\"\n[audio]\nenabled = false\n")));
  std::filesystem::remove_all(dir);
}

TEST(Config, VdisplaySectionIsReadAndChecked) {
  auto c = parseConfig("[vdisplay]\nwidth = 1280\nheight = 720\nrefresh_hz = 30\nhdr = true\n",
                       "f.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->vdisplay.width, 1280u);
  EXPECT_EQ(c->vdisplay.refresh_hz, 30u);
  EXPECT_TRUE(c->vdisplay.hdr);
  EXPECT_NE(errorOf("[vdisplay]\nwidth = 1281\n").find("vdisplay.width: must be a multiple of 8"),
            std::string::npos);
  EXPECT_NE(errorOf("[vdisplay]\nhdr = 1\n").find("vdisplay.hdr: must be true or false"),
            std::string::npos);
  EXPECT_NE(errorOf("[vdisplay]\nrefresh_hz = 500\n").find("vdisplay.refresh_hz"),
            std::string::npos);
}

}  // namespace
TEST(Config, RtspCredentialsAreReadAndChecked) {
  auto c = parseConfig("[net]\nrtsp_user = \"tv\"\nrtsp_password = \"correct horse\"\n",
                       "funkhaus.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->net.rtsp_user, "tv");
  EXPECT_EQ(c->net.rtsp_password, "correct horse");
  auto d = parseConfig("", "funkhaus.toml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->net.rtsp_user, "funkhaus");
  EXPECT_TRUE(d->net.rtsp_password.empty());  // no password: RTSP serves this host only
  EXPECT_EQ(errorOf("[net]\nrtsp_user = \"a:b\"\n"),
            "funkhaus.toml:2: net.rtsp_user: must be 1 to 64 characters without ':', quotes, "
            "backslashes or spaces");
  EXPECT_EQ(errorOf("[net]\nrtsp_password = \"a\\nb\"\n"),
            "funkhaus.toml:2: net.rtsp_password: must be at most 128 characters on one line");
}

}  // namespace funkhaus::supervisor
