// Worker requests: funkhaus-web's launch and cancel answered, forwarded replies checked.
#include "funkhaus/supervisor/worker_requests.h"

#include <algorithm>
#include <optional>

namespace funkhaus::supervisor {
namespace {

using nlohmann::json;

constexpr size_t kMaxText = 256;

std::string dumpSafe(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string failure(const std::string& message) {
  return dumpSafe({{"ok", false}, {"error", message}});
}

// The checks of one request body; the first failure is kept.
class Fields {
 public:
  explicit Fields(std::string what) : what_(std::move(what)) {}

  std::optional<int64_t> integer(const json& in, const char* key, int64_t min, int64_t max) {
    const auto it = in.find(key);
    if (it == in.end() || !it->is_number_integer() || it->get<int64_t>() < min ||
        it->get<int64_t>() > max)
      return fail(fmt::format("\"{}\" must be an integer from {} to {}", key, min, max));
    return it->get<int64_t>();
  }

  // A string of at most `max` bytes whose characters are all in `allowed` (nullptr: any
  // printable text).
  std::optional<std::string> text(const json& in, const char* key, size_t min, size_t max,
                                  const char* allowed = nullptr) {
    const auto it = in.find(key);
    if (it == in.end() || !it->is_string())
      return fail(fmt::format("\"{}\" must be a string", key));
    const std::string v = it->get<std::string>();
    const bool chars_ok = allowed != nullptr ? v.find_first_not_of(allowed) == std::string::npos
                                             : std::none_of(v.begin(), v.end(), [](char c) {
                                                 return static_cast<unsigned char>(c) < 0x20;
                                               });
    if (v.size() < min || v.size() > max || !chars_ok)
      return fail(fmt::format("\"{}\" must be {} to {} {}", key, min, max,
                              allowed != nullptr ? "characters of [" + std::string(allowed) + "]"
                                                 : std::string("printable characters")));
    return v;
  }

  const json* object(const json& in, const char* key) {
    const auto it = in.find(key);
    if (it == in.end() || !it->is_object()) {
      fail(fmt::format("\"{}\" must be an object", key));
      return nullptr;
    }
    return &*it;
  }

  bool boolean(const json& in, const char* key) {
    const auto it = in.find(key);
    if (it == in.end() || !it->is_boolean()) {
      fail(fmt::format("\"{}\" must be true or false", key));
      return false;
    }
    return it->get<bool>();
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  std::nullopt_t fail(const std::string& why) {
    if (error_.empty()) error_ = what_ + ": " + why;
    return std::nullopt;
  }

  std::string what_;
  std::string error_;
};

constexpr const char* kHexDigits = "0123456789abcdefABCDEF";

RequestAnswer answerLaunch(const WorkerSpec& from, const json& j, const StreamView& view) {
  Fields f("launch");
  const bool resume = f.boolean(j, "resume");
  std::optional<std::string> title, client_name;
  std::optional<int64_t> app_id;
  if (const json* app = f.object(j, "app")) {
    app_id = f.integer(*app, "id", 1, INT32_MAX);
    title = f.text(*app, "title", 1, kMaxText);
  }
  const auto width = f.integer(j, "width", 0, 16384);  // 0: a resume keeps the mode
  const auto height = f.integer(j, "height", 0, 16384);
  const auto fps = f.integer(j, "fps", 0, 1000);
  const auto rikey = f.text(j, "rikey", 32, 32, kHexDigits);  // a stream key: never logged
  const auto rikeyid = f.integer(j, "rikeyid", INT32_MIN, INT32_MAX);
  f.integer(j, "surround_info", 0, INT32_MAX);
  std::optional<std::string> client_id;
  if (const json* client = f.object(j, "client")) {
    client_id = f.text(*client, "id", 1, sizeof(abi::GamestreamLaunch::client_id), kHexDigits);
    client_name = f.text(*client, "name", 0, kMaxText);
  }
  if (!f.ok()) return {failure(f.error()), fmt::format("{}: refused: {}", from.name, f.error())};
  const std::string who =
      fmt::format("'{}' asks to {} '{}'", *client_name, resume ? "resume" : "launch", *title);
  auto refuse = [&](const std::string& why) {
    return RequestAnswer{failure(why), fmt::format("{}: {}: {}", from.name, who, why)};
  };
  if (!view.session) return refuse("no graphical session: nobody is logged in at this host");
  if (view.greeter) return refuse("the login screen is showing: log in at the host first");
  if (!view.net_ready || view.rtsp_port == 0)
    return refuse(view.net_state.empty()
                      ? "the session streams nothing (no net worker in [workers] start)"
                      : "the stream is not ready (funkhaus-net is " + view.net_state + ")");
  if (!view.streaming_client.empty() && view.streaming_client != *client_id)
    return refuse(
        "another client is streaming from this host: one stream at a time (it must "
        "quit, or its stream must end, first)");
  RequestAnswer ok{dumpSafe({{"ok", true}, {"rtsp_port", view.rtsp_port}}),
                   fmt::format("{}: {}: stream on RTSP port {}", from.name, who, view.rtsp_port)};
  ok.launch_app = static_cast<uint32_t>(*app_id);
  ok.resume = resume;
  abi::GamestreamLaunch launch{};
  launch.active = 1;
  launch.rikeyid = static_cast<int32_t>(*rikeyid);
  for (size_t i = 0; i < sizeof launch.rikey; ++i)
    launch.rikey[i] = static_cast<uint8_t>(std::stoi(rikey->substr(2 * i, 2), nullptr, 16));
  launch.app_id = ok.launch_app;
  launch.width = static_cast<uint32_t>(*width);
  launch.height = static_cast<uint32_t>(*height);
  launch.fps = static_cast<uint32_t>(*fps);
  std::copy(client_id->begin(), client_id->end(), launch.client_id);
  ok.publish = launch;
  return ok;
}

}  // namespace

RequestAnswer answerWorkerRequest(const WorkerSpec& from, std::string_view text,
                                  const StreamView& view) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("cmd") || !j["cmd"].is_string())
    return {failure("a request is a JSON object with a \"cmd\" string"),
            fmt::format("{}: sent a request that is not a JSON object with a \"cmd\"", from.name)};
  const std::string cmd = j["cmd"].get<std::string>();
  if (!maySend(from, cmd))
    return {failure("funkhausd takes no request '" + cmd.substr(0, 40) + "' from " +
                    std::string(from.name)),
            fmt::format("{}: sent request '{}', which its row does not allow", from.name,
                        cmd.substr(0, 40))};
  if (cmd == "launch") return answerLaunch(from, j, view);
  if (cmd == "cancel") {
    Fields f("cancel");
    std::optional<std::string> id;
    if (const json* client = f.object(j, "client")) id = f.text(*client, "id", 1, 64, kHexDigits);
    if (!f.ok()) return {failure(f.error()), fmt::format("{}: {}", from.name, f.error())};
    if (!view.streaming_client.empty() && view.streaming_client != *id)
      return {failure("another client is streaming from this host: only it can quit"),
              fmt::format("{}: a client that does not stream asked to quit: refused", from.name)};
    // The app stops; the stream stays up for RTSP viewers.
    RequestAnswer ok{dumpSafe({{"ok", true}}),
                     fmt::format("{}: a client cancelled its stream", from.name)};
    ok.cancel = true;
    ok.publish = abi::GamestreamLaunch{};  // active 0: the stream ends
    return ok;
  }
  return {failure("funkhausd does not know request '" + cmd.substr(0, 40) + "'"), ""};
}

std::string checkedForwardReply(std::string_view worker, const Result<std::string>& reply) {
  if (!reply) return failure(reply.error().message);
  const json j = json::parse(*reply, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean())
    return failure(fmt::format("{} sent an unreadable reply", worker));
  if (!j["ok"].get<bool>()) {
    const auto it = j.find("error");
    return failure(it != j.end() && it->is_string() ? it->get<std::string>().substr(0, 1024)
                                                    : fmt::format("{} refused", worker));
  }
  return dumpSafe(j);
}

nlohmann::json hostStateStatus(const Result<std::string>& reply) {
  if (!reply) return {{"error", reply.error().message}};
  const json j = json::parse(*reply, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("ok", false) != true)
    return {{"error", "funkhaus-web sent an unusable host-state"}};
  json out = json::object();
  auto number = [&](const char* key, uint64_t max) {
    const auto it = j.find(key);
    if (it != j.end() && it->is_number_unsigned() && it->get<uint64_t>() <= max)
      out[key] = it->get<uint64_t>();
  };
  auto text = [&](const char* key) {
    const auto it = j.find(key);
    if (it != j.end() && it->is_string()) out[key] = it->get<std::string>().substr(0, kMaxText);
  };
  text("name");
  text("unique_id");
  number("http_port", 65535);
  number("https_port", 65535);
  number("paired_clients", 1u << 20);
  number("pending_pairings", 1u << 20);
  if (const auto it = j.find("running_app"); it != j.end()) {
    if (it->is_string())
      out["running_app"] = it->get<std::string>().substr(0, kMaxText);
    else if (it->is_number_unsigned() || it->is_null())
      out["running_app"] = *it;
  }
  if (const auto it = j.find("mdns"); it != j.end() && it->is_boolean()) out["mdns"] = *it;
  return out;
}

nlohmann::json gamestreamStatus(const GamestreamFacts& f, nlohmann::json state) {
  json out = {{"worker", f.worker},
              {"worker_state", f.worker_state},
              {"listen_address", f.config.listen_address},
              {"http_port", f.http_port},
              {"https_port", f.https_port},
              {"state_dir", f.state_dir}};
  for (auto& [key, value] : state.items())
    if (!out.contains(key)) out[key] = value;
  if (const auto app = state.find("running_app"); app != state.end() && app->is_number()) {
    const uint64_t id = app->get<uint64_t>();
    if (id == 1) out["running_app_title"] = "Desktop";
    for (size_t i = 0; i < f.config.apps.size(); ++i)
      if (id == gamestreamAppId(i)) out["running_app_title"] = f.config.apps[i].title;
  }
  if (!f.app_process.empty()) out["app_process"] = f.app_process;
  return out;
}

}  // namespace funkhaus::supervisor
