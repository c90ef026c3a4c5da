// The shipped /etc/funkhaus/funkhaus.toml (packaging/funkhaus.toml): it parses, and every
// "#key = value" line in it is the key's real built-in default, so uncommenting all of them
// changes nothing. Every key the parser knows is documented in it.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "funkhaus/supervisor/config.h"

namespace funkhaus::supervisor {
namespace {

std::string readShipped() {
  std::ifstream in(FUNKHAUS_DEFAULT_CONFIG);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "#key = value" -> "key = value"; returns the keys uncommented, as "table.key".
std::string uncommentDefaults(const std::string& text, std::set<std::string>* keys) {
  static const std::regex kTable(R"(^\[([a-z_.]+)\]\s*$)");
  static const std::regex kDefault(R"(^#([a-z_]+) = (.+)$)");
  std::istringstream in(text);
  std::ostringstream out;
  std::string line, table;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, kTable)) table = m[1];
    if (std::regex_match(line, m, kDefault)) {
      keys->insert(table.empty() ? m[1].str() : table + "." + m[1].str());
      line = line.substr(1);
    }
    out << line << "\n";
  }
  return out.str();
}

void expectSameConfig(const Config& a, const Config& b) {
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.session.source, b.session.source);
  EXPECT_EQ(a.session.user, b.session.user);
  EXPECT_EQ(a.session.environment, b.session.environment);
  EXPECT_EQ(a.capture.source, b.capture.source);
  EXPECT_EQ(a.capture.width, b.capture.width);
  EXPECT_EQ(a.capture.height, b.capture.height);
  EXPECT_EQ(a.capture.fps, b.capture.fps);
  EXPECT_EQ(a.encode.encoder, b.encode.encoder);
  EXPECT_EQ(a.encode.bitrate_kbps, b.encode.bitrate_kbps);
  EXPECT_EQ(a.encode.preset, b.encode.preset);
  EXPECT_EQ(a.encode.idle_fps, b.encode.idle_fps);
  EXPECT_EQ(a.net.bind, b.net.bind);
  EXPECT_EQ(a.net.port, b.net.port);
  EXPECT_EQ(a.net.rtp_port, b.net.rtp_port);
  EXPECT_EQ(a.net.path, b.net.path);
  EXPECT_EQ(a.net.max_viewers, b.net.max_viewers);
  EXPECT_EQ(a.net.mtu, b.net.mtu);
  EXPECT_EQ(a.net.session_timeout_s, b.net.session_timeout_s);
  EXPECT_EQ(a.net.rtsp_user, b.net.rtsp_user);
  EXPECT_EQ(a.net.rtsp_password, b.net.rtsp_password);
  EXPECT_EQ(a.vdisplay.width, b.vdisplay.width);
  EXPECT_EQ(a.vdisplay.height, b.vdisplay.height);
  EXPECT_EQ(a.vdisplay.refresh_hz, b.vdisplay.refresh_hz);
  EXPECT_EQ(a.vdisplay.hdr, b.vdisplay.hdr);
  EXPECT_EQ(a.vdisplay.fb_width, b.vdisplay.fb_width);
  EXPECT_EQ(a.vdisplay.fb_height, b.vdisplay.fb_height);
  EXPECT_EQ(a.workers_set, b.workers_set);
  EXPECT_EQ(a.rings.frame_slots, b.rings.frame_slots);
  EXPECT_EQ(a.rings.max_width, b.rings.max_width);
  EXPECT_EQ(a.rings.max_height, b.rings.max_height);
  EXPECT_EQ(a.rings.packet_ring_kib, b.rings.packet_ring_kib);
  EXPECT_EQ(a.restart.initial_backoff, b.restart.initial_backoff);
  EXPECT_EQ(a.restart.max_backoff, b.restart.max_backoff);
  EXPECT_EQ(a.restart.stable_after, b.restart.stable_after);
  EXPECT_EQ(a.restart.max_restarts, b.restart.max_restarts);
  EXPECT_EQ(a.restart.window, b.restart.window);
  EXPECT_EQ(a.restart.max_session_restarts, b.restart.max_session_restarts);
  EXPECT_EQ(a.heartbeat_timeout, b.heartbeat_timeout);
  EXPECT_EQ(a.stop_grace, b.stop_grace);
  EXPECT_EQ(a.workers, b.workers);
  EXPECT_EQ(a.gamestream.enabled, b.gamestream.enabled);
  EXPECT_EQ(a.gamestream.base_port, b.gamestream.base_port);
  EXPECT_EQ(a.gamestream.listen_address, b.gamestream.listen_address);
  EXPECT_EQ(a.gamestream.name, b.gamestream.name);
  EXPECT_EQ(a.gamestream.mdns, b.gamestream.mdns);
  EXPECT_EQ(a.gamestream.apps.size(), b.gamestream.apps.size());
  EXPECT_EQ(a.console.enabled, b.console.enabled);
  EXPECT_EQ(a.console.address, b.console.address);
  EXPECT_EQ(a.console.port, b.console.port);
  EXPECT_EQ(a.audio.enabled, b.audio.enabled);
  EXPECT_EQ(a.audio.channels, b.audio.channels);
  EXPECT_EQ(a.audio.bitrate, b.audio.bitrate);
  EXPECT_EQ(a.audio.frame_ms, b.audio.frame_ms);
  EXPECT_EQ(a.audio.source, b.audio.source);
  EXPECT_EQ(a.audio.sync_click_ms, b.audio.sync_click_ms);
  EXPECT_EQ(a.capture.sync_flash_ms, b.capture.sync_flash_ms);
  EXPECT_EQ(a.control_socket, b.control_socket);
  EXPECT_EQ(a.control_group, b.control_group);
}

TEST(ShippedConfig, ParsesAsShippedAndMeansTheDefaults) {
  const std::string text = readShipped();
  ASSERT_FALSE(text.empty()) << "cannot read " << FUNKHAUS_DEFAULT_CONFIG;
  auto config = parseConfig(text, "funkhaus.toml");
  ASSERT_TRUE(config) << config.error().message;
  expectSameConfig(*config, Config{});
}

TEST(ShippedConfig, EveryCommentedValueIsTheBuiltInDefault) {
  std::set<std::string> keys;
  const std::string uncommented = uncommentDefaults(readShipped(), &keys);
  auto config = parseConfig(uncommented, "funkhaus.toml (uncommented)");
  ASSERT_TRUE(config) << config.error().message << "\n" << uncommented;
  expectSameConfig(*config, Config{});

  // Every key with a fixed default appears as "#key = default" in its table.
  const std::set<std::string> expected = {"capture.source",
                                          "capture.width",
                                          "capture.height",
                                          "capture.fps",
                                          "encode.encoder",
                                          "encode.bitrate_kbps",
                                          "encode.preset",
                                          "encode.idle_fps",
                                          "net.bind",
                                          "net.port",
                                          "net.rtp_port",
                                          "net.path",
                                          "net.max_viewers",
                                          "net.mtu",
                                          "net.session_timeout_s",
                                          "net.rtsp_user",
                                          "net.rtsp_password",
                                          "gamestream.enabled",
                                          "gamestream.base_port",
                                          "gamestream.listen_address",
                                          "gamestream.mdns",
                                          "console.enabled",
                                          "console.address",
                                          "console.port",
                                          "audio.enabled",
                                          "audio.channels",
                                          "audio.frame_ms",
                                          "audio.source",
                                          "vdisplay.width",
                                          "vdisplay.height",
                                          "vdisplay.refresh_hz",
                                          "vdisplay.hdr",
                                          "vdisplay.fb_width",
                                          "vdisplay.fb_height",
                                          "rings.frame_slots",
                                          "rings.max_width",
                                          "rings.max_height",
                                          "rings.packet_ring_kib",
                                          "workers.heartbeat_timeout_ms",
                                          "workers.stop_grace_ms",
                                          "restart.initial_backoff_ms",
                                          "restart.max_backoff_ms",
                                          "restart.stable_after_ms",
                                          "restart.max_restarts",
                                          "restart.window_s",
                                          "restart.max_session_restarts",
                                          "control.group"};
  EXPECT_EQ(keys, expected);
}

TEST(ShippedConfig, KeysWithoutAFixedDefaultAreDescribed) {
  const std::string text = readShipped();
  // These depend on the mode or name something of the machine: described in prose, with the
  // value they take when unset.
  for (const char* phrase :
       {"# mode:", "[session]", "source = \"fixed\"", "user = \"NAME\"", "[session.environment]",
        "[control]", "socket = \"/", "name = \"living room\"", "# [[gamestream.apps]]",
        "# title = \"Steam Big Picture\"", "# command = \"steam -bigpicture\"", "bitrate = 128000",
        "PULSE_SERVER=unix:", "sync_flash_ms = 1000", "sync_click_ms = 500"})
    EXPECT_NE(text.find(phrase), std::string::npos) << phrase;
  // And the prose examples are valid when taken literally.
  auto example = parseConfig(
      "mode = \"user\"\n[session]\nsource = \"fixed\"\nuser = \"NAME\"\n"
      "[session.environment]\nDISPLAY = \":0\"\n[control]\nsocket = \"/ABSOLUTE/PATH\"\n"
      "[gamestream]\nname = \"living room\"\n[[gamestream.apps]]\ntitle = \"Steam Big "
      "Picture\"\ncommand = \"steam -bigpicture\"\n[audio]\nbitrate = 128000\n",
      "example.toml");
  ASSERT_TRUE(example) << example.error().message;
  EXPECT_EQ(example->session.environment.at("DISPLAY"), ":0");
  EXPECT_EQ(example->gamestream.apps.at(0).title, "Steam Big Picture");
}

}  // namespace
}  // namespace funkhaus::supervisor
