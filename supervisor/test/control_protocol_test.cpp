// Control requests: what parses, and what is refused with which reason.
#include "funkhaus/supervisor/control_protocol.h"

#include <gtest/gtest.h>

namespace funkhaus::supervisor {
namespace {

std::string refusal(std::string_view line) {
  auto r = parseControlRequest(line);
  EXPECT_FALSE(r.ok()) << line;
  return r.ok() ? "" : r.error().message;
}

TEST(ControlProtocol, ParsesEveryCommand) {
  auto status = parseControlRequest(R"({"cmd":"status"})");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->kind, ControlRequest::Kind::kStatus);
  auto restart = parseControlRequest(R"({"cmd":"restart","worker":"encode"})");
  ASSERT_TRUE(restart.ok());
  EXPECT_EQ(restart->kind, ControlRequest::Kind::kRestart);
  EXPECT_EQ(restart->worker, "encode");
  EXPECT_TRUE(isMutating(restart->kind));
  EXPECT_FALSE(isMutating(status->kind));
  for (const char* cmd : {"stop", "start"}) {
    ControlRequest r;
    r.kind =
        std::string(cmd) == "stop" ? ControlRequest::Kind::kStop : ControlRequest::Kind::kStart;
    r.worker = "net";
    auto parsed = parseControlRequest(encodeControlRequest(r));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->kind, r.kind);
    EXPECT_EQ(parsed->worker, "net");
  }
}

TEST(ControlProtocol, TheConsolesPasswordAndTokenRequestsAreForwardedChecked) {
  auto set = parseControlRequest(R"({"cmd":"set-password","password":"correct horse"})");
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->kind, ControlRequest::Kind::kForward);
  EXPECT_TRUE(isMutating(*set));
  EXPECT_EQ(forwardedRequestText(*set), R"({"cmd":"set-password","password":"correct horse"})");
  auto token = parseControlRequest(R"({"cmd":"new-metrics-token"})");
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_TRUE(isMutating(*token));
  EXPECT_EQ(forwardedRequestText(*token), R"({"cmd":"new-metrics-token"})");
  const std::string too_short =
      "set-password needs \"password\": 8 to 1024 bytes without control characters";
  EXPECT_EQ(refusal(R"({"cmd":"set-password","password":"short"})"), too_short);
  EXPECT_EQ(refusal(R"({"cmd":"set-password","password":"tab\tinside"})"), too_short);
  EXPECT_EQ(refusal(R"({"cmd":"set-password"})"), too_short);
  EXPECT_EQ(refusal(R"({"cmd":"new-metrics-token","password":"x"})"),
            "new-metrics-token takes no \"password\"");
  EXPECT_EQ(refusal(R"({"cmd":"status","password":"longenough"})"), "status takes no \"password\"");
}

TEST(ControlProtocol, RefusesMalformedRequests) {
  EXPECT_EQ(refusal("not json"), "request is not valid JSON");
  EXPECT_EQ(refusal("[1,2]"), "request must be a JSON object");
  EXPECT_EQ(refusal(R"({"worker":"net"})"), "request needs a string \"cmd\"");
  EXPECT_EQ(refusal(R"({"cmd":"reboot"})"), "unknown command \"reboot\"");
  EXPECT_EQ(refusal(R"({"cmd":"restart"})"), "restart needs a \"worker\"");
  EXPECT_EQ(refusal(R"({"cmd":"restart","worker":"gpu"})"),
            "unknown worker \"gpu\" (vdisplay, capture, encode, net, input, audio, web, console)");
  EXPECT_EQ(refusal(R"({"cmd":"status","extra":1})"), "unknown request field \"extra\"");
  EXPECT_EQ(refusal(R"({"cmd":"status","worker":"net"})"), "status takes no worker");
  EXPECT_NE(refusal(std::string(5000, ' ')).find("exceeds"), std::string::npos);
}

}  // namespace
}  // namespace funkhaus::supervisor

namespace funkhaus::supervisor {
namespace {

TEST(ControlProtocol, ModeRequestRoundTripsAndIsChecked) {
  auto r = parseControlRequest(R"({"cmd":"mode","width":1280,"height":720,"refresh_hz":30})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kind, ControlRequest::Kind::kMode);
  EXPECT_EQ(r->width, 1280u);
  EXPECT_EQ(r->height, 720u);
  EXPECT_EQ(r->refresh_hz, 30u);
  auto again = parseControlRequest(encodeControlRequest(*r));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->width, 1280u);
  EXPECT_TRUE(isMutating(ControlRequest::Kind::kMode));
  for (const char* bad :
       {R"({"cmd":"mode","width":1280})", R"({"cmd":"mode","width":-1,"height":720})",
        R"({"cmd":"mode","width":"1280","height":720})",
        R"({"cmd":"mode","width":1280,"height":720,"worker":"capture"})",
        R"({"cmd":"restart","worker":"capture","width":1280})",
        R"({"cmd":"mode","width":99999,"height":720})"})
    EXPECT_FALSE(parseControlRequest(bad).ok()) << bad;
}

TEST(ControlProtocol, RequestsTheWebWorkerServesAreForwardedWithCheckedFields) {
  auto pairing = parseControlRequest(R"({"cmd":"pairing"})");
  ASSERT_TRUE(pairing.ok());
  EXPECT_EQ(pairing->kind, ControlRequest::Kind::kForward);
  EXPECT_FALSE(isMutating(*pairing)) << "anyone may see who waits";
  auto pair = parseControlRequest(R"({"cmd":"pair","pin":"0123","address":"127.0.0.1"})");
  ASSERT_TRUE(pair.ok());
  EXPECT_TRUE(isMutating(*pair));
  EXPECT_EQ(forwardedRequestText(*pair), R"({"address":"127.0.0.1","cmd":"pair","pin":"0123"})");
  EXPECT_EQ(encodeControlRequest(*pair), forwardedRequestText(*pair));
  auto unpair = parseControlRequest(R"({"cmd":"unpair","id":"0a1B2c3D"})");
  ASSERT_TRUE(unpair.ok());
  EXPECT_TRUE(isMutating(*unpair));
  EXPECT_EQ(forwardedRequestText(*unpair), R"({"cmd":"unpair","id":"0a1B2c3D"})");
  for (const char* cmd : {"clients", "host-state"}) {
    auto r = parseControlRequest(std::string(R"({"cmd":")") + cmd + "\"}");
    ASSERT_TRUE(r.ok()) << cmd;
    EXPECT_FALSE(isMutating(*r)) << cmd;
  }
  EXPECT_EQ(refusal(R"({"cmd":"pair"})"),
            "pair needs \"pin\": the 4 digits Moonlight shows, as a string");
  EXPECT_EQ(refusal(R"({"cmd":"pair","pin":1234})"),
            "pair needs \"pin\": the 4 digits Moonlight shows, as a string");
  EXPECT_EQ(refusal(R"({"cmd":"pair","pin":"12a4"})"),
            "pair needs \"pin\": the 4 digits Moonlight shows, as a string");
  EXPECT_EQ(refusal(R"({"cmd":"pair","pin":"1234","address":"host; rm"})"),
            "pair: \"address\" must be an IPv4 or IPv6 address");
  EXPECT_EQ(refusal(R"({"cmd":"unpair","id":"0a1B"})"),
            "unpair needs \"id\": 8 to 64 hex digits of the client's id");
  EXPECT_EQ(refusal(R"({"cmd":"clients","pin":"1234"})"),
            "clients takes no \"pin\" or \"address\"");
  EXPECT_EQ(refusal(R"({"cmd":"pairing","worker":"web"})"), "pairing takes no \"worker\"");
  EXPECT_EQ(refusal(R"({"cmd":"status","id":"00000000"})"), "status takes no \"id\"");
  EXPECT_EQ(refusal(R"({"cmd":"launch"})"), "unknown command \"launch\"")
      << "what workers ask funkhausd is not a control request";
}

}  // namespace
TEST(ControlProtocol, StatsRecorderAndLogsCommands) {
  using Kind = ControlRequest::Kind;
  auto start = parseControlRequest(R"({"cmd":"stats-start","name":"boss fight"})");
  ASSERT_TRUE(start.ok()) << start.error().message;
  EXPECT_EQ(start->kind, Kind::kStatsStart);
  EXPECT_EQ(start->name, "boss fight");
  EXPECT_TRUE(isMutating(*start));
  auto unnamed = parseControlRequest(R"({"cmd":"stats-start"})");
  ASSERT_TRUE(unnamed.ok());
  EXPECT_EQ(unnamed->name, "");
  auto show = parseControlRequest(R"({"cmd":"stats-show","id":"20261203-141500-a.b_c"})");
  ASSERT_TRUE(show.ok());
  EXPECT_EQ(show->kind, Kind::kStatsShow);
  EXPECT_EQ(show->id, "20261203-141500-a.b_c");
  EXPECT_FALSE(isMutating(*show)) << "anyone who may see the status may see a capture";
  auto page = parseControlRequest(R"({"cmd":"stats-show","id":"x","from":100,"count":50})");
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(page->from, 100u);
  EXPECT_EQ(page->count, 50u);
  auto rm = parseControlRequest(R"({"cmd":"stats-rm","id":"x"})");
  ASSERT_TRUE(rm.ok());
  EXPECT_TRUE(isMutating(*rm));
  auto list = parseControlRequest(R"({"cmd":"stats-list"})");
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE(isMutating(*list));
  auto stop = parseControlRequest(R"({"cmd":"stats-stop"})");
  ASSERT_TRUE(stop.ok());
  EXPECT_TRUE(isMutating(*stop));
  auto logs = parseControlRequest(R"({"cmd":"logs","seconds":60})");
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->kind, Kind::kLogs);
  EXPECT_EQ(logs->seconds, 60u);
  EXPECT_FALSE(isMutating(*logs));
  auto default_logs = parseControlRequest(R"({"cmd":"logs"})");
  ASSERT_TRUE(default_logs.ok());
  EXPECT_EQ(default_logs->seconds, 300u);
  // Each survives its own encoding.
  for (const auto& r : {*start, *unnamed, *show, *page, *rm, *list, *stop, *logs}) {
    auto again = parseControlRequest(encodeControlRequest(r));
    ASSERT_TRUE(again.ok()) << encodeControlRequest(r);
    EXPECT_EQ(again->kind, r.kind);
    EXPECT_EQ(again->id, r.id);
    EXPECT_EQ(again->name, r.name);
    EXPECT_EQ(again->seconds, r.seconds);
    EXPECT_EQ(again->from, r.from);
    EXPECT_EQ(again->count, r.count);
  }
}

TEST(ControlProtocol, StatsRecorderRefusals) {
  for (const char* id : {"", ".", "..", "../etc/passwd", "a/b", "a b", "caf\u00e9",
                         "0123456789012345678901234567890123456789012345678901234567890123X"})
    EXPECT_NE(refusal(std::string(R"({"cmd":"stats-show","id":")") + id + "\"}")
                  .find("stats-show needs \"id\""),
              std::string::npos)
        << id;
  EXPECT_NE(refusal(R"({"cmd":"stats-rm"})").find("stats-rm needs \"id\""), std::string::npos);
  EXPECT_NE(refusal(R"({"cmd":"stats-rm","id":7})").find("needs \"id\""), std::string::npos);
  EXPECT_EQ(refusal(R"({"cmd":"stats-start","name":""})"),
            "stats-start: \"name\" must be 1 to 64 bytes without control characters");
  EXPECT_EQ(refusal(R"({"cmd":"stats-start","name":"a\nb"})"),
            "stats-start: \"name\" must be 1 to 64 bytes without control characters");
  EXPECT_EQ(refusal(R"({"cmd":"stats-start","id":"x"})"), "stats-start takes no \"id\"");
  EXPECT_EQ(refusal(R"({"cmd":"stats-stop","worker":"encode"})"), "stats-stop takes no \"worker\"");
  EXPECT_EQ(refusal(R"({"cmd":"stats-list","seconds":3})"), "stats-list takes no \"seconds\"");
  EXPECT_EQ(refusal(R"({"cmd":"stats-show","id":"x","name":"y"})"), "stats-show takes no \"name\"");
  for (const char* s : {"0", "3601", "-1", "1.5", "\"60\""})
    EXPECT_EQ(refusal(std::string(R"({"cmd":"logs","seconds":)") + s + "}"),
              "logs: \"seconds\" must be an integer from 1 to 3600")
        << s;
  EXPECT_EQ(refusal(R"({"cmd":"status","name":"x"})"), "status takes no \"name\"");
  EXPECT_EQ(refusal(R"({"cmd":"stats-show","id":"x","from":-1})"),
            "stats-show: \"from\" must be an integer from 0 to 10800");
  EXPECT_EQ(refusal(R"({"cmd":"stats-show","id":"x","count":10801})"),
            "stats-show: \"count\" must be an integer from 0 to 10800");
  EXPECT_EQ(refusal(R"({"cmd":"stats-rm","id":"x","from":1})"), "stats-rm takes no \"from\"");
  EXPECT_EQ(refusal(R"({"cmd":"logs","count":1})"), "logs takes no \"count\"");
  EXPECT_EQ(refusal(R"({"cmd":"status","from":1})"), "status takes no \"from\"");
  EXPECT_EQ(refusal(R"({"cmd":"restart","worker":"encode","seconds":1})"),
            "restart takes no \"seconds\"");
}

}  // namespace funkhaus::supervisor
