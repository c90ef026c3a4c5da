// funkhausd's answers to funkhaus-web's requests and its checks of what web replies: launch is
// answered from the session's state, anything malformed is refused by name, and what web writes
// reaches funkhausctl only as checked JSON.
#include "funkhaus/supervisor/worker_requests.h"

#include <gtest/gtest.h>

namespace funkhaus::supervisor {
namespace {

using nlohmann::json;

json launch() {
  return {{"cmd", "launch"},
          {"resume", false},
          {"app", {{"id", 2}, {"title", "Steam"}}},
          {"width", 1920},
          {"height", 1080},
          {"fps", 60},
          {"rikey", "00112233445566778899aabbccddeeff"},
          {"rikeyid", -5},
          {"surround_info", 196610},
          {"client", {{"id", "ABCDEF0123"}, {"name", "roth"}}}};
}

StreamView ready() {
  StreamView v;
  v.session = true;
  v.net_state = "running";
  v.net_ready = true;
  v.rtsp_port = 48010;
  return v;
}

json answer(const json& request, const StreamView& view) {
  const RequestAnswer a = answerWorkerRequest(*findWorker("web"), request.dump(), view);
  json j = json::parse(a.reply, nullptr, false);
  EXPECT_TRUE(j.is_object()) << a.reply;
  return j;
}

TEST(WorkerRequests, LaunchGetsTheRtspPortWhenTheSessionStreams) {
  const json ok = answer(launch(), ready());
  EXPECT_EQ(ok, json({{"ok", true}, {"rtsp_port", 48010}}));
  const RequestAnswer a = answerWorkerRequest(*findWorker("web"), launch().dump(), ready());
  EXPECT_EQ(a.log.find("00112233"), std::string::npos) << "the stream key is never logged";
  EXPECT_NE(a.log.find("'roth' asks to launch 'Steam'"), std::string::npos) << a.log;
  EXPECT_EQ(a.launch_app, 2u) << "funkhausd starts app 2's command";
  EXPECT_FALSE(a.resume);
  const RequestAnswer refused = answerWorkerRequest(*findWorker("web"), launch().dump(), {});
  EXPECT_EQ(refused.launch_app, 0u) << "nothing starts without a session";
  const RequestAnswer cancel =
      answerWorkerRequest(*findWorker("web"), R"({"cmd":"cancel","client":{"id":"AB"}})", ready());
  EXPECT_TRUE(cancel.cancel);
}

TEST(WorkerRequests, LaunchIsRefusedClearlyWithoutAStreamingSession) {
  EXPECT_EQ(answer(launch(), StreamView{})["error"],
            "no graphical session: nobody is logged in at this host");
  StreamView greeter = ready();
  greeter.greeter = true;
  EXPECT_EQ(answer(launch(), greeter)["error"],
            "the login screen is showing: log in at the host first");
  StreamView starting = ready();
  starting.net_ready = false;
  starting.net_state = "backoff";
  EXPECT_EQ(answer(launch(), starting)["error"],
            "the stream is not ready (funkhaus-net is backoff)");
  StreamView no_net = ready();
  no_net.net_ready = false;
  no_net.net_state.clear();
  EXPECT_EQ(answer(launch(), no_net)["ok"], false);
}

// What funkhausd publishes to net: the key (decoded from hex), the mode and who launched; a
// cancel publishes the end of the stream; a resume may come without a mode.
TEST(WorkerRequests, LaunchPublishesTheStreamKeyAndCancelItsEnd) {
  const RequestAnswer a = answerWorkerRequest(*findWorker("web"), launch().dump(), ready());
  ASSERT_TRUE(a.publish.has_value());
  EXPECT_EQ(a.publish->active, 1u);
  EXPECT_EQ(a.publish->rikeyid, -5);
  EXPECT_EQ(a.publish->rikey[0], 0x00);
  EXPECT_EQ(a.publish->rikey[1], 0x11);
  EXPECT_EQ(a.publish->rikey[15], 0xff);
  EXPECT_EQ(a.publish->width, 1920u);
  EXPECT_EQ(a.publish->fps, 60u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(a.publish->client_id)), "ABCDEF0123");
  const RequestAnswer cancel =
      answerWorkerRequest(*findWorker("web"), R"({"cmd":"cancel","client":{"id":"AB"}})", ready());
  ASSERT_TRUE(cancel.publish.has_value());
  EXPECT_EQ(cancel.publish->active, 0u);
  json resume = launch();
  resume["resume"] = true;
  resume["width"] = 0;
  resume["height"] = 0;
  resume["fps"] = 0;
  EXPECT_EQ(answer(resume, ready())["ok"], true) << "a resume keeps the mode";
  const RequestAnswer refused = answerWorkerRequest(*findWorker("web"), launch().dump(), {});
  EXPECT_FALSE(refused.publish.has_value()) << "nothing published when refused";
}

// One stream at a time: while another client streams, a launch is refused with a reason; the
// client that streams may launch again (it reconnects).
TEST(WorkerRequests, ASecondClientIsRefusedWhileOneStreams) {
  StreamView busy = ready();
  busy.streaming_client = "0123456789";
  const json refused = answer(launch(), busy);
  EXPECT_EQ(refused["ok"], false);
  EXPECT_NE(refused["error"].get<std::string>().find("another client is streaming"),
            std::string::npos)
      << refused.dump();
  const json quit = {{"cmd", "cancel"}, {"client", {{"id", "ABCDEF0123"}}}};
  EXPECT_EQ(answer(quit, busy)["ok"], false) << "only the streaming client quits its stream";
  busy.streaming_client = "ABCDEF0123";
  EXPECT_EQ(answer(launch(), busy)["ok"], true);
  EXPECT_EQ(answer(quit, busy)["ok"], true);
}

TEST(WorkerRequests, MalformedRequestsAreRefusedByField) {
  json bad = launch();
  bad["rikey"] = "xyz";
  EXPECT_EQ(answer(bad, ready())["error"],
            "launch: \"rikey\" must be 32 to 32 characters of [0123456789abcdefABCDEF]");
  bad = launch();
  bad["app"]["id"] = "2";
  EXPECT_EQ(answer(bad, ready())["error"],
            "launch: \"id\" must be an integer from 1 to 2147483647");
  bad = launch();
  bad.erase("client");
  EXPECT_EQ(answer(bad, ready())["error"], "launch: \"client\" must be an object");
  bad = launch();
  bad["app"]["title"] = std::string(300, 'a');
  EXPECT_EQ(answer(bad, ready())["ok"], false);
  EXPECT_EQ(answer(json::array(), ready())["error"],
            "a request is a JSON object with a \"cmd\" string");
  const RequestAnswer garbage = answerWorkerRequest(*findWorker("web"), "{\"cmd\":", ready());
  EXPECT_NE(garbage.reply.find("\"ok\":false"), std::string::npos);
  EXPECT_EQ(answer({{"cmd", "pairing"}}, ready())["error"],
            "funkhausd takes no request 'pairing' from web")
      << "only what the row lists";
  EXPECT_EQ(answer({{"cmd", "cancel"}, {"client", {{"id", "ABCD"}}}}, ready()),
            json({{"ok", true}}));
  EXPECT_EQ(answer({{"cmd", "cancel"}, {"client", {{"id", "not hex"}}}}, ready())["ok"], false);
}

TEST(WorkerRequests, ForwardedRepliesReachTheClientOnlyAsCheckedJson) {
  EXPECT_EQ(checkedForwardReply("funkhaus-web", std::string(R"({"ok":true,"clients":[]})")),
            R"({"clients":[],"ok":true})");
  EXPECT_EQ(json::parse(checkedForwardReply("funkhaus-web", std::string("[1]")))["error"],
            "funkhaus-web sent an unreadable reply");
  EXPECT_EQ(
      json::parse(checkedForwardReply("funkhaus-web", std::string(R"({"ok":"yes"})")))["error"],
      "funkhaus-web sent an unreadable reply");
  EXPECT_EQ(json::parse(checkedForwardReply(
                "funkhaus-web", std::string(R"({"ok":false,"error":"wrong PIN"})")))["error"],
            "wrong PIN");
  EXPECT_EQ(
      json::parse(checkedForwardReply("funkhaus-web", std::string(R"({"ok":false})")))["error"],
      "funkhaus-web refused");
  EXPECT_EQ(json::parse(checkedForwardReply("funkhaus-web",
                                            Result<std::string>(makeError("gone"))))["error"],
            "gone");
}

TEST(WorkerRequests, HostStateKeepsOnlyKnownFieldsOfTheRightType) {
  const json s = hostStateStatus(std::string(
      R"({"ok":true,"name":"box","unique_id":"u","http_port":47989,"https_port":99999,)"
      R"("paired_clients":2,"pending_pairings":"many","running_app":0,"mdns":true,"evil":{"x":1}})"));
  EXPECT_EQ(s, json({{"name", "box"},
                     {"unique_id", "u"},
                     {"http_port", 47989},
                     {"paired_clients", 2},
                     {"running_app", 0},
                     {"mdns", true}}));
  EXPECT_TRUE(hostStateStatus(std::string("nonsense")).contains("error"));
  EXPECT_TRUE(hostStateStatus(Result<std::string>(makeError("timeout"))).contains("error"));
}

}  // namespace
}  // namespace funkhaus::supervisor
