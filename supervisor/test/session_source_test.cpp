// The logind session -> worker session mapping (credentials and environment), and the fixed
// source, without a logind: the real logind path is in supervisor_logind_test.cpp.
#include "funkhaus/supervisor/session_source.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <set>

namespace funkhaus::supervisor {
namespace {

TEST(SessionFromLogind, X11SessionGetsDisplayCookieAndSessionVariables) {
  LogindSession facts{"c7", "seat0", 0, "x11", "user", "active", ":3"};
  const std::set<std::string> present = {"/run/user/0", "/run/user/0/gdm/Xauthority",
                                         "/run/user/0/bus"};
  auto s = sessionFromLogind(facts, [&](const std::string& p) { return present.contains(p); });
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->id, "c7");
  EXPECT_EQ(s->user, "root");
  EXPECT_EQ(s->uid, 0u);
  EXPECT_EQ(s->klass, "user");
  auto& env = s->environment;
  EXPECT_EQ(env["DISPLAY"], ":3");
  EXPECT_EQ(env["XAUTHORITY"], "/run/user/0/gdm/Xauthority");
  EXPECT_EQ(env["XDG_RUNTIME_DIR"], "/run/user/0");
  EXPECT_EQ(env["XDG_SESSION_ID"], "c7");
  EXPECT_EQ(env["XDG_SESSION_TYPE"], "x11");
  EXPECT_EQ(env["XDG_SEAT"], "seat0");
  EXPECT_EQ(env["DBUS_SESSION_BUS_ADDRESS"], "unix:path=/run/user/0/bus");
  EXPECT_EQ(env["USER"], "root");
  EXPECT_FALSE(env.contains("WAYLAND_DISPLAY"));
}

TEST(SessionFromLogind, WaylandGreeterWithoutRuntimeFiles) {
  LogindSession facts{"c2", "seat0", 0, "wayland", "greeter", "active", ""};
  auto s =
      sessionFromLogind(facts, [](const std::string& p) { return p == "/run/user/0/wayland-0"; });
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->klass, "greeter");
  EXPECT_EQ(s->environment["XDG_SESSION_CLASS"], "greeter");
  EXPECT_EQ(s->environment["WAYLAND_DISPLAY"], "wayland-0");
  EXPECT_FALSE(s->environment.contains("DISPLAY"));
  EXPECT_FALSE(s->environment.contains("DBUS_SESSION_BUS_ADDRESS"));
}

TEST(SessionFromLogind, UnknownUidIsAnErrorNamingTheSessionAndUid) {
  LogindSession facts{"c9", "seat0", 4'000'000'000u, "tty", "user", "active", ""};
  auto s = sessionFromLogind(facts, [](const std::string&) { return false; });
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("c9"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("4000000000"), std::string::npos) << s.error().message;
}

TEST(FixedSessionSource, DefaultsToFunkhausdsOwnUserWithConfiguredEnvironment) {
  setenv("WAYLAND_DISPLAY", "wayland-7", 1);  // funkhausd's own session passes on
  const char* old_pulse = getenv("PULSE_SERVER");
  const std::string saved_pulse = old_pulse != nullptr ? old_pulse : "";
  setenv("PULSE_SERVER", "unix:/tmp/own-pulse/native", 1);  // and so does its sound server
  SessionConfig config;
  config.environment["DISPLAY"] = ":42";
  auto source = SessionSource::createFixed(config);
  ASSERT_TRUE(source.ok()) << source.error().message;
  auto s = (*source)->current();
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ((*s)->uid, geteuid());
  EXPECT_EQ((*s)->id, "fixed");
  EXPECT_EQ((*s)->environment.at("DISPLAY"), ":42") << "the config wins";
  EXPECT_EQ((*s)->environment.at("WAYLAND_DISPLAY"), "wayland-7");
  EXPECT_EQ((*s)->environment.at("PULSE_SERVER"), "unix:/tmp/own-pulse/native");
  unsetenv("WAYLAND_DISPLAY");
  if (old_pulse != nullptr)
    setenv("PULSE_SERVER", saved_pulse.c_str(), 1);
  else
    unsetenv("PULSE_SERVER");
  boost::asio::io_context io;
  bool changed = false;
  (*source)->watch(io, [&] { changed = true; });
  io.poll();
  EXPECT_FALSE(changed) << "a fixed session never changes";
  config.user = "no-such-user-funkhaus";
  auto missing = SessionSource::createFixed(config);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no-such-user-funkhaus"), std::string::npos);
}

}  // namespace
}  // namespace funkhaus::supervisor
