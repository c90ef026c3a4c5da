// runtime_worker: a worker built on the worker runtime for its tests. It answers every
// kKeyframe command with a kKeyframeRequest event carrying the command's arg, counts its steps in
// frames_out, sends one event and one request before ready (both must wait for it), answers every
// request from funkhausd with {"echo":TEXT}, asks funkhausd on kSetBitrate and reports the
// length of the reply it got as a kError event, and fails on request.
//   runtime_worker [--fail-start CODE] [--fail-step CODE] [--standalone]
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include "funkhaus/common/worker_runtime.h"

namespace {

using namespace funkhaus;

std::optional<ErrorCode> codeOf(const char* name) {
  if (std::strcmp(name, "bad-config") == 0) return ErrorCode::kBadConfig;
  if (std::strcmp(name, "attach") == 0) return ErrorCode::kAttachFailed;
  if (std::strcmp(name, "failure") == 0) return ErrorCode::kFailure;
  return std::nullopt;
}

class EchoStage : public WorkerStage {
 public:
  EchoStage(std::optional<ErrorCode> fail_start, std::optional<ErrorCode> fail_step)
      : fail_start_(fail_start), fail_step_(fail_step) {}

  Result<void> start(WorkerContext& context) override {
    context_ = &context;
    if (fail_start_) return makeError(*fail_start_, "asked to fail at start");
    // Sent before ready: the runtime must hold them back until ready is out.
    if (auto sent = context.sendEvent(abi::Event::kModeChanged, 42); !sent) return sent;
    if (!context.supervised()) return {};  // standalone: nobody to ask
    return context.request(R"({"cmd":"early"})", [this](Result<std::string> reply) {
      (void)context_->sendEvent(abi::Event::kError, reply ? reply->size() : 0);
    });
  }
  Result<void> step(int64_t budget_ns) override {
    if (fail_step_ && steps_ == 3) return makeError(*fail_step_, "asked to fail at step 3");
    ++steps_;
    std::this_thread::sleep_for(std::chrono::nanoseconds(budget_ns / 4));
    return {};
  }
  void onCommand(const abi::CommandBody& command) override {
    if (command.command == static_cast<uint32_t>(abi::Command::kKeyframe))
      (void)context_->sendEvent(abi::Event::kKeyframeRequest, command.arg);
    if (command.command == static_cast<uint32_t>(abi::Command::kSetBitrate))
      (void)context_->request(R"({"cmd":"ask","n":)" + std::to_string(command.arg) + "}",
                              [this](Result<std::string> reply) {
                                (void)context_->sendEvent(abi::Event::kError,
                                                          reply ? reply->size() : 0);
                              });
  }
  void onRequest(WorkerContext& context, uint32_t id, const std::string& text) override {
    (void)context.reply(id, R"({"echo":)" + text + "}");
  }
  void publish(abi::WorkerStatusPage& page, uint64_t) override {
    abi::storeRelaxed(page.frames_out, steps_);
  }
  void stop() override { spdlog::info("echo: stopped after {} steps", steps_); }

 private:
  std::optional<ErrorCode> fail_start_, fail_step_;
  WorkerContext* context_ = nullptr;
  uint64_t steps_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::optional<ErrorCode> fail_start, fail_step;
  bool standalone = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--fail-start") == 0 && i + 1 < argc) fail_start = codeOf(argv[++i]);
    if (std::strcmp(argv[i], "--fail-step") == 0 && i + 1 < argc) fail_step = codeOf(argv[++i]);
    if (std::strcmp(argv[i], "--standalone") == 0) standalone = true;
  }
  EchoStage stage(fail_start, fail_step);
  RuntimeOptions options;
  options.kind = abi::WorkerKind::kEncode;  // any kind: the test expects this one
  options.name = "echo";
  options.standalone_ok = standalone;
  return runWorker(stage, options);
}
