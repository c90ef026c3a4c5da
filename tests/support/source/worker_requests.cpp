// Requests to and from a worker under a FakeSupervisor (worker_requests.h).
#include "funkhaus/test/worker_requests.h"

#include <variant>

#include "funkhaus/common/channel.h"
#include "funkhaus/common/clock.h"

namespace funkhaus::test {

namespace {

std::string refuse(const std::string&) {
  return R"({"ok":false,"error":"the test's fake funkhausd takes no requests"})";
}

// Answers a request from the worker; true when `m` was one.
bool answer(FakeSupervisor& supervisor, const Message& m,
            const std::function<std::string(const std::string&)>& responder) {
  const auto* request = std::get_if<RequestMessage>(&m);
  if (request == nullptr) return false;
  const std::string text = responder ? responder(request->text) : refuse(request->text);
  (void)sendMessage(supervisor.channel(), ReplyMessage{request->id, text});
  return true;
}

}  // namespace

Result<std::string> askWorker(FakeSupervisor& supervisor, const std::string& text,
                              std::chrono::milliseconds timeout,
                              const std::function<std::string(const std::string&)>& responder) {
  static uint32_t next_id = 0x7000'0000;  // apart from the worker's own request ids
  const uint32_t id = ++next_id;
  if (auto sent = sendMessage(supervisor.channel(), RequestMessage{id, text}); !sent)
    return sent.error();
  const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(timeout.count()) * 1'000'000u;
  while (monotonicNs() < deadline) {
    const auto left = std::chrono::milliseconds((deadline - monotonicNs()) / 1'000'000u + 1);
    auto m = supervisor.receive(left);
    if (!m) break;
    if (const auto* reply = std::get_if<ReplyMessage>(&*m); reply && reply->id == id)
      return reply->text;
    answer(supervisor, *m, responder);
  }
  return makeError("no reply to request {} within {} ms", text.substr(0, 60), timeout.count());
}

int serveWorkerRequests(FakeSupervisor& supervisor,
                        const std::function<std::string(const std::string&)>& responder,
                        std::chrono::milliseconds timeout) {
  int answered = 0;
  const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(timeout.count()) * 1'000'000u;
  while (monotonicNs() < deadline) {
    const auto left = std::chrono::milliseconds((deadline - monotonicNs()) / 1'000'000u + 1);
    auto m = supervisor.receive(left);
    if (!m) break;
    if (answer(supervisor, *m, responder)) ++answered;
  }
  return answered;
}

}  // namespace funkhaus::test
