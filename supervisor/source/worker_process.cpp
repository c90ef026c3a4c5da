// WorkerProcess: one worker's lives, on injected time.
#include "funkhaus/supervisor/worker_process.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "funkhaus/abi/abi.h"

namespace funkhaus::supervisor {

const char* toString(WorkerState state) {
  switch (state) {
    case WorkerState::kStarting:
      return "starting";
    case WorkerState::kRunning:
      return "running";
    case WorkerState::kBackoff:
      return "backoff";
    case WorkerState::kStopping:
      return "stopping";
    case WorkerState::kStopped:
      return "stopped";
    case WorkerState::kFailed:
      return "failed";
  }
  return "?";
}

WorkerProcess::WorkerProcess(const WorkerSpec& spec, const RestartPolicyConfig& policy,
                             const WorkerTimings& timings, ProcessLauncher& launcher,
                             const Clock& clock, Delegate& delegate)
    : spec_(spec),
      name_(spec.name),
      timings_(timings),
      launcher_(launcher),
      clock_(clock),
      delegate_(delegate),
      policy_(policy) {}

WorkerProcess::~WorkerProcess() = default;

std::optional<uint32_t> WorkerProcess::pid() const {
  if (!process_) return std::nullopt;
  return process_->id();
}

const abi::WorkerStatusPage* WorkerProcess::statusPage() const {
  return status_page_ ? reinterpret_cast<const abi::WorkerStatusPage*>(status_page_->data())
                      : nullptr;
}

void WorkerProcess::start() {
  if (process_) return;
  policy_.reset();
  launch();
}

void WorkerProcess::restart() {
  if (!process_) return start();
  after_exit_ = AfterExit::kRestartNow;
  terminate();
}

void WorkerProcess::stop() {
  if (!process_) {
    if (state_ != WorkerState::kFailed) state_ = WorkerState::kStopped;
    return;
  }
  after_exit_ = AfterExit::kStayStopped;
  terminate();
}

void WorkerProcess::kill(const std::string& why) {
  if (!process_) return;
  spdlog::warn("{}: {}: killing pid {}", name_, why, process_->id());
  process_->kill();
}

Result<void> WorkerProcess::command(abi::Command command, uint64_t arg) {
  if (!process_ || !ready_) return makeError("{} is not ready", name_);
  if (!acceptsCommand(spec_, command))
    return makeError("{} takes no command {}", name_, static_cast<uint32_t>(command));
  return process_->send(CommandMessage{{static_cast<uint32_t>(command), 0, arg}});
}

Result<void> WorkerProcess::request(std::string text, Duration timeout, ReplyHandler done) {
  if (!process_ || !ready_) return makeError("{} is not ready", name_);
  const uint32_t id = next_request_++;
  if (next_request_ == 0) next_request_ = 1;  // 0 is not an id
  if (auto sent = process_->send(RequestMessage{id, std::move(text)}); !sent) return sent;
  replies_[id] = {clock_.now() + timeout, std::move(done)};
  return {};
}

Result<void> WorkerProcess::reply(uint32_t id, std::string text) {
  if (!process_) return makeError("{} is gone", name_);
  // Too large for one message (a long stats capture, many log lines): the worker gets an error
  // it can show instead of no reply at all.
  if (text.size() > abi::kMaxMessageText)
    text = nlohmann::json(
               {{"ok", false},
                {"error", fmt::format("the reply of {} bytes is larger than a worker channel's {}: "
                                      "ask for less (stats-show from/count, logs seconds)",
                                      text.size(), abi::kMaxMessageText)}})
               .dump();
  return process_->send(ReplyMessage{id, std::move(text)});
}

// Every request still waiting gets `why` (the handlers may do anything: take them out first).
void WorkerProcess::failRequests(const std::string& why) {
  auto pending = std::move(replies_);
  replies_.clear();
  for (auto& [id, p] : pending) p.done(makeError("{}: {}", name_, why));
}

void WorkerProcess::launch() {
  auto spec = delegate_.prepareLaunch(*this);
  if (!spec) return fail(spec.error().message);
  if (!status_page_) {
    auto page = SharedMemory::create("funkhaus-status-" + name_, sizeof(abi::WorkerStatusPage));
    if (!page) return fail(page.error().message);
    auto* s = reinterpret_cast<abi::WorkerStatusPage*>(page->data());
    s->magic = abi::kStatusPageMagic;
    s->abi_version = abi::kAbiVersion;
    s->header_size = sizeof(abi::WorkerStatusPage);
    s->kind = static_cast<uint32_t>(spec_.kind);
    status_page_.emplace(std::move(*page));
  }
  auto process = launcher_.launch(*spec, *this);
  if (!process) return fail(process.error().message);
  process_ = std::move(*process);
  ++spawns_;
  state_ = WorkerState::kStarting;
  started_at_ = clock_.now();
  heartbeat_seen_ = started_at_;
  last_heartbeat_ = abi::atomicLoad(statusPage()->heartbeat);
  hello_ = ready_ = hung_up_ = false;
  after_exit_ = AfterExit::kPolicy;
  policy_.onStarted(started_at_);
  spdlog::info("{}: started pid {}", name_, process_->id());
}

void WorkerProcess::fail(std::string why) {
  spdlog::error("{}: failed: {}", name_, why);
  state_ = WorkerState::kFailed;
  failure_ = std::move(why);  // the owner sees it in its next status update
}

// The stop command only once the worker has its fds (before that it expects ring fds), then
// SIGTERM; SIGKILL when the grace period is over (tick).
void WorkerProcess::terminate() {
  if (!process_) return;
  if (ready_)
    (void)process_->send(CommandMessage{{static_cast<uint32_t>(abi::Command::kStop), 0, 0}});
  process_->terminate();
  state_ = WorkerState::kStopping;
  kill_at_ = clock_.now() + timings_.stop_grace;
}

void WorkerProcess::tick() {
  const TimePoint now = clock_.now();
  for (auto it = replies_.begin(); it != replies_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    ReplyHandler done = std::move(it->second.done);
    it = replies_.erase(it);
    done(makeError("{} did not answer in time", name_));
  }
  if (state_ == WorkerState::kBackoff && !process_ && now >= restart_at_) launch();
  if (!process_) return;
  if (state_ == WorkerState::kStopping) {
    if (now >= kill_at_) kill("did not stop within the grace period");
    return;
  }
  if (hung_up_) {
    if (now >= kill_at_) {
      kill("hung up its channel and did not exit within the grace period");
      kill_at_ = now + timings_.stop_grace;  // one kill per grace period, not per tick
    }
    return;  // its channel is gone: nothing else it does matters
  }
  if (!hello_ && now - started_at_ > timings_.hello_timeout) return kill("no hello");
  const uint64_t beat = abi::atomicLoad(statusPage()->heartbeat);
  if (beat != last_heartbeat_) {
    last_heartbeat_ = beat;
    heartbeat_seen_ = now;
  } else if (ready_ && now - heartbeat_seen_ > timings_.heartbeat_timeout) {
    kill("heartbeat stopped");
    heartbeat_seen_ = now;  // one kill per timeout, not per tick
  }
}

// After hello: the status page and what the owner hands over, at most kMaxMessageFds per
// message, the last one flagged.
Result<void> WorkerProcess::sendHandOver() {
  std::vector<HandedFd> fds = {{abi::FdRole::kStatusPage, 0, status_page_->handle()}};
  for (const HandedFd& f : delegate_.handOver(*this)) fds.push_back(f);
  for (size_t first = 0; first < fds.size(); first += abi::kMaxMessageFds) {
    RingFdsMessage m;
    const size_t end = std::min(fds.size(), first + abi::kMaxMessageFds);
    for (size_t i = first; i < end; ++i) {
      auto copy = platform::duplicateHandle(fds[i].fd);
      if (!copy) return makeError("dup for hand-over: {}", copy.error().message);
      m.roles.push_back(fds[i].role);
      m.tags.push_back(fds[i].tag);
      m.fds.push_back(std::move(*copy));
    }
    m.last = end == fds.size();
    if (auto sent = process_->send(Message(std::move(m))); !sent) return sent;
  }
  return {};
}

void WorkerProcess::onMessage(Message message) {
  if (!process_) return;
  if (auto* hello = std::get_if<HelloMessage>(&message)) {
    if (hello_) return kill("second hello");
    if (hello->body.abi_version != abi::kAbiVersion) {
      after_exit_ = AfterExit::kStayStopped;
      kill("ABI version mismatch");
      return fail(fmt::format("speaks ABI version {}, funkhausd {}", hello->body.abi_version,
                              abi::kAbiVersion));
    }
    if (hello->body.kind != static_cast<uint32_t>(spec_.kind))
      return kill("hello names another worker kind");
    hello_ = true;
    if (auto sent = sendHandOver(); !sent) return kill(sent.error().message);
  } else if (std::holds_alternative<ReadyMessage>(message)) {
    if (!hello_ || ready_) return kill("ready out of order");
    ready_ = true;
    if (state_ == WorkerState::kStopping) return;  // too late: it is being stopped
    state_ = WorkerState::kRunning;
    spdlog::info("{}: ready", name_);
    delegate_.onReady(*this);
    Delegate& delegate = delegate_;
    delegate.onChanged(*this);
  } else if (auto* event = std::get_if<EventMessage>(&message)) {
    if (!ready_) return kill("event before ready");
    delegate_.onEvent(*this, event->body);
  } else if (auto* request = std::get_if<RequestMessage>(&message)) {
    if (spec_.requests.empty()) return kill("sent a request it may not send");
    if (!ready_) return kill("request before ready");
    delegate_.onRequest(*this, request->id, request->text);
  } else if (auto* reply = std::get_if<ReplyMessage>(&message)) {
    auto it = replies_.find(reply->id);
    if (it == replies_.end()) {
      // Late (its request timed out) or made up: nothing waits for it.
      spdlog::warn("{}: reply {} that nobody waits for: ignored", name_, reply->id);
      return;
    }
    ReplyHandler done = std::move(it->second.done);
    replies_.erase(it);
    done(std::move(reply->text));
  } else if (std::holds_alternative<ConnectionDepositMessage>(message) ||
             std::holds_alternative<ConnectionReleaseMessage>(message)) {
    if (!spec_.deposits_connections || !hello_)
      return kill("deposited or released a connection it may not keep");
    if (auto kept = delegate_.onConnection(*this, message); !kept)
      return kill(kept.error().message);
  } else {
    kill("sent a supervisor-only message");
  }
}

void WorkerProcess::onBadMessage(const std::string& why) {
  kill(fmt::format("malformed channel message ({})", why));
}

// Closed or reset: what every worker's exit does to the channel, so no kill of its own. Its exit
// is reaped as any other and the restart policy decides; one that stays gets the grace period.
void WorkerProcess::onHangUp() {
  if (!process_ || hung_up_) return;
  hung_up_ = true;
  if (state_ == WorkerState::kStopping) return;  // asked to stop: the stop's grace period runs
  spdlog::info("{}: pid {} hung up its channel", name_, process_->id());
  kill_at_ = clock_.now() + timings_.stop_grace;
}

void WorkerProcess::onOutputLine(const std::string& line) { spdlog::info("[{}] {}", name_, line); }

void WorkerProcess::onExit(uint32_t id, const ExitStatus& status) {
  last_exit_ = status;
  hello_ = ready_ = false;
  failRequests("exited before answering");
  delegate_.onReaped(*this, id);
  process_.reset();  // the launched process is done (we are called from it: nothing follows)
  const TimePoint now = clock_.now();
  bool escalate = false;
  switch (after_exit_) {
    case AfterExit::kStayStopped:
      spdlog::info("{}: stopped ({})", name_, describeExit(status));
      if (state_ != WorkerState::kFailed) state_ = WorkerState::kStopped;
      break;
    case AfterExit::kRestartNow:
      spdlog::info("{}: restarting on request ({})", name_, describeExit(status));
      launch();
      break;
    case AfterExit::kPolicy: {
      auto decision = policy_.onUnexpectedExit(status, now);
      switch (decision.action) {
        case RestartPolicy::Action::kRestart:
          spdlog::warn("{}: {}", name_, decision.reason);
          state_ = WorkerState::kBackoff;
          restart_at_ = now + decision.delay;
          break;
        case RestartPolicy::Action::kLeaveFailed:
          spdlog::error("{}: failed: {}", name_, decision.reason);
          state_ = WorkerState::kFailed;
          failure_ = decision.reason;
          break;
        case RestartPolicy::Action::kRestartSession:
          spdlog::error("{}: {}", name_, decision.reason);
          state_ = WorkerState::kStopped;
          escalate = true;
          break;
      }
      break;
    }
  }
  // Last: the owner may restart the set or drop this worker.
  Delegate& delegate = delegate_;
  if (escalate) delegate.onEscalate(*this);
  delegate.onChanged(*this);
}

}  // namespace funkhaus::supervisor
