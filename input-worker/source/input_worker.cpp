// The input worker: options, the choice of sinks, and the stage on the one worker runtime that
// reads the input ring into them.
#include "funkhaus/input/input_worker.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/input_ring.h"
#include "funkhaus/common/worker_runtime.h"
#include "funkhaus/input/dispatcher.h"
#include "funkhaus/input/input_pump.h"
#include "funkhaus/input/xtest_sink.h"

namespace funkhaus::input {

namespace {

// Events handled before the sinks are flushed and the runtime gets a turn.
constexpr uint32_t kMaxBatch = 512;

void setupLogging() {
  auto logger = spdlog::stderr_logger_mt("funkhaus-input");
  logger->set_pattern("%l: %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
}

// funkhaus-input on the worker runtime: start() attaches the input ring, opens the sinks and
// releases what a predecessor left pressed; a step waits for events (at most its budget),
// dispatches them, flushes the sinks and writes `applied`.
class InputStage final : public WorkerStage {
 public:
  explicit InputStage(InputOptions options) : options_(std::move(options)) {}

  Result<void> start(WorkerContext& context) override {
    context_ = &context;
    auto ring = context.ring(abi::FdRole::kRingIn, abi::RingId::kInput);
    if (!ring) return ring.error();
    auto consumer = InputConsumer::attach(std::move(*ring));
    if (!consumer)
      return makeError(ErrorCode::kAttachFailed, "input ring: {}", consumer.error().message);
    consumer_.emplace(std::move(*consumer));

    std::vector<UniqueFd> uinput;
    for (auto& [tag, fd] : context.takeAll(abi::FdRole::kDevice))
      if (tag == static_cast<uint32_t>(abi::DeviceId::kUinput) && fd.valid())
        uinput.push_back(std::move(fd));
    auto sinks = openSinks(std::move(uinput));
    if (!sinks) return sinks.error();
    dispatcher_.emplace(std::move(*sinks));

    pump_.emplace(*consumer_, *dispatcher_);
    return pump_->start();
  }

  Result<void> step(int64_t budget_ns) override {
    if (!running_) {
      context_->setState(abi::WorkerState::kRunning);
      running_ = true;
    }
    consumer_->heartbeat();
    return pump_->runBatch(budget_ns, kMaxBatch);
  }

  void publish(abi::WorkerStatusPage& page, uint64_t now_ns) override {
    const DispatchCounters& c = dispatcher_->counters();
    abi::storeRelaxed(page.frames_in, consumer_->consumed());
    abi::storeRelaxed(page.frames_out, c.applied);
    abi::storeRelaxed(page.drops, consumer_->overrun() + consumer_->outOfRange() + c.unrouted);
    abi::storeRelaxed(page.errors, c.sink_errors + context_->channelErrors());
    abi::storeRelaxed(page.devices, dispatcher_->devices());  // a gauge
    pump_->stats().publish(page, now_ns);
  }

  void stop() override {
    if (!pump_) return;
    pump_->stop();
    const DispatchCounters& c = dispatcher_->counters();
    spdlog::info(
        "stopping: {} events in, {} applied, {} lost to overruns, {} out of range, {} without "
        "a sink, {} refused by sinks",
        c.events_in, c.applied, consumer_->overrun(), consumer_->outOfRange(), c.unrouted,
        c.sink_errors);
  }

 private:
  Result<std::vector<std::unique_ptr<InputSink>>> openSinks(std::vector<UniqueFd> uinput) {
    std::vector<std::unique_ptr<InputSink>> sinks;
    XtestOptions xtest_options;
    xtest_options.display = options_.display;
    xtest_options.keyboard_mouse = options_.keyboard_mouse != KeyboardMouse::kUinput;
    auto xtest = XtestSink::create(xtest_options);
    if (!xtest) {
      if (options_.keyboard_mouse == KeyboardMouse::kXtest) return xtest.error();
      spdlog::info("no XTEST: {}", xtest.error().message);
    }
    const bool keyboard_mouse_to_uinput = !xtest || !xtest_options.keyboard_mouse;
    if (xtest) sinks.push_back(std::move(*xtest));
    const size_t uinput_fds = uinput.size();
    if (uinput_fds != 0) {
      UinputOptions uinput_options;
      uinput_options.keyboard_mouse = keyboard_mouse_to_uinput;
      auto sink = createUinputSink(std::move(uinput), uinput_options,
                                   [this](uint32_t pad, uint16_t low, uint16_t high) {
                                     if (pad < abi::kMaxPads)
                                       consumer_->setRumble(static_cast<uint8_t>(pad), low, high);
                                   });
      if (sink)
        sinks.push_back(std::move(*sink));
      else
        spdlog::warn("no uinput devices: {}", sink.error().message);
    }
    if (sinks.empty())
      return makeError(ErrorCode::kUnsupported,
                       "nowhere to put input: no X display with XTEST and {} uinput fds",
                       uinput_fds);
    // Who takes what, for the log.
    std::string routes;
    for (uint16_t kind = 1; kind <= abi::kMaxInputKind; ++kind) {
      const char* to = "-";
      for (const auto& sink : sinks)
        if (sink->takes(static_cast<abi::InputKind>(kind))) {
          to = sink->name();
          break;
        }
      routes += fmt::format("{}{}", kind == 1 ? "" : " ", to);
    }
    spdlog::info("sinks by kind 1..{}: {}", abi::kMaxInputKind, routes);
    return sinks;
  }

  InputOptions options_;
  WorkerContext* context_ = nullptr;
  std::optional<InputConsumer> consumer_;
  std::optional<Dispatcher> dispatcher_;
  std::optional<InputPump> pump_;
  bool running_ = false;
};

}  // namespace

Result<InputOptions> parseInputOptions(int argc, const char* const* argv, bool* help) {
  if (help != nullptr) *help = false;
  InputOptions options;
  CLI::App app{
      "funkhaus-input: applies the client's input from the input ring funkhausd hands over on "
      "fd 3 to the session: keys, pointer and text through XTEST on $DISPLAY, pads, touch and "
      "pen (and keys and pointer without a display) through the uinput fds it hands over."};
  std::string keyboard_mouse = "auto";
  app.add_option("--keyboard-mouse", keyboard_mouse,
                 "where keys, pointer, buttons and wheel go: auto (default: XTEST when the X "
                 "display opens, else uinput), xtest or uinput")
      ->check(CLI::IsMember({"auto", "xtest", "uinput"}));
  app.add_option("--display", options.display, "the X display (default: $DISPLAY)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    if (help != nullptr) *help = true;
    return makeError("{}", app.help());
  } catch (const CLI::ParseError& e) {
    return makeError("{} (see --help)", e.what());
  }
  options.keyboard_mouse = keyboard_mouse == "xtest"    ? KeyboardMouse::kXtest
                           : keyboard_mouse == "uinput" ? KeyboardMouse::kUinput
                                                        : KeyboardMouse::kAuto;
  return options;
}

int runInputWorker(int argc, const char* const* argv) {
  bool help = false;
  auto options = parseInputOptions(argc, argv, &help);
  if (!options) {
    std::fprintf(help ? stdout : stderr, "%s%s\n",
                 help ? "" : "funkhaus-input: ", options.error().message.c_str());
    return help ? abi::kExitStopped : abi::kExitBadConfig;
  }
  setupLogging();
  InputStage stage(std::move(*options));
  RuntimeOptions runtime;
  runtime.kind = abi::WorkerKind::kInput;
  runtime.name = "input";
  return runWorker(stage, runtime);
}

}  // namespace funkhaus::input
