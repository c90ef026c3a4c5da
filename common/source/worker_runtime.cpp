// The worker runtime: channel, signals, heartbeat, commands, status page, and the turn loop.
#include "funkhaus/common/worker_runtime.h"

#include <spdlog/spdlog.h>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/platform/process.h"
#include "funkhaus/platform/worker_side.h"

namespace funkhaus {
namespace {

std::atomic<bool> g_stop{false};
void onStopRequest() { g_stop.store(true, std::memory_order_relaxed); }

const char* ringName(abi::RingId ring) {
  switch (ring) {
    case abi::RingId::kDisplay:
      return "display ring";
    case abi::RingId::kFrames:
      return "frame ring";
    case abi::RingId::kVideoPackets:
      return "video packet ring";
    case abi::RingId::kInput:
      return "input ring";
    case abi::RingId::kAudioPackets:
      return "audio packet ring";
  }
  return "ring";
}

}  // namespace

bool stopSignalled() { return g_stop.load(std::memory_order_relaxed); }

void WorkerStage::onCommand(const abi::CommandBody& command) {
  spdlog::debug("ignoring command {}", command.command);
}

void WorkerStage::onRequest(WorkerContext& context, uint32_t id, const std::string&) {
  (void)context.reply(id, R"({"ok":false,"error":"this worker serves no requests"})");
}

UniqueFd WorkerContext::take(abi::FdRole role, uint32_t tag) {
  return channel_ ? channel_->takeFd(role, tag) : UniqueFd();
}

std::vector<std::pair<uint32_t, UniqueFd>> WorkerContext::takeAll(abi::FdRole role) {
  if (!channel_) return {};
  return channel_->takeTaggedFds(role);
}

Result<SharedMemory> WorkerContext::ring(abi::FdRole direction, abi::RingId ring) {
  UniqueFd fd = take(direction, static_cast<uint32_t>(ring));
  if (!fd.valid())
    return makeError(ErrorCode::kBadConfig, "funkhausd handed over no {} ({} {})", ringName(ring),
                     direction == abi::FdRole::kRingIn ? "in" : "out", static_cast<uint32_t>(ring));
  auto shm = SharedMemory::attach(std::move(fd));
  if (!shm)
    return makeError(ErrorCode::kAttachFailed, "{}: {}", ringName(ring), shm.error().message);
  return shm;
}

Result<void> WorkerContext::send(Message message) {
  if (!channel_) return {};  // standalone: nobody to tell
  auto sent = sendMessage(channel_->handle(), message);
  if (!sent) {
    ++channel_errors_;
    return makeError(ErrorCode::kPeerLost, "{}", sent.error().message);
  }
  return {};
}

Result<void> WorkerContext::sendEvent(abi::Event event, uint64_t arg) {
  const abi::EventBody body{static_cast<uint32_t>(event), 0, arg};
  if (!ready_) {
    // funkhausd takes events only after ready (e.g. a keyframe request made while adopting the
    // viewers of the previous net): they go out right after it.
    pending_messages_.emplace_back(EventMessage{body});
    return {};
  }
  return send(EventMessage{body});
}

Result<void> WorkerContext::request(std::string text, ReplyHandler on_reply) {
  if (!channel_) return makeError(ErrorCode::kPeerLost, "no funkhausd to ask (standalone)");
  if (text.size() > abi::kMaxMessageText)
    return makeError("request of {} bytes (at most {})", text.size(), abi::kMaxMessageText);
  const uint32_t id = next_request_++;
  if (next_request_ == 0) next_request_ = 1;
  waiting_replies_[id] = std::move(on_reply);
  if (!ready_) {
    pending_messages_.emplace_back(RequestMessage{id, std::move(text)});
    return {};
  }
  if (auto sent = send(RequestMessage{id, std::move(text)}); !sent) {
    waiting_replies_.erase(id);
    return sent;
  }
  return {};
}

Result<void> WorkerContext::reply(uint32_t id, std::string text) {
  if (text.size() > abi::kMaxMessageText) text = R"({"ok":false,"error":"the reply is too large"})";
  return send(ReplyMessage{id, std::move(text)});
}

bool WorkerContext::deliverReply(const ReplyMessage& reply) {
  auto it = waiting_replies_.find(reply.id);
  if (it == waiting_replies_.end()) return false;
  ReplyHandler handler = std::move(it->second);
  waiting_replies_.erase(it);
  handler(reply.text);
  return true;
}

void WorkerContext::failPendingRequests(const std::string& why) {
  auto waiting = std::move(waiting_replies_);
  waiting_replies_.clear();
  for (auto& [id, handler] : waiting) handler(makeError(ErrorCode::kPeerLost, "{}", why));
}

Result<void> WorkerContext::depositConnection(uint32_t slot, platform::NativeHandle fd) {
  if (!channel_) return {};
  ConnectionDepositMessage m;
  m.slot = slot;
  auto copy = platform::duplicateHandle(fd);
  if (!copy) return makeError("connection {}: {}", slot, copy.error().message);
  m.fd = std::move(*copy);
  return send(Message(std::move(m)));
}

Result<void> WorkerContext::releaseConnection(uint32_t slot) {
  return send(ConnectionReleaseMessage{slot});
}

abi::WorkerStatusPage& WorkerContext::status() {
  if (channel_) return channel_->status();
  return *reinterpret_cast<abi::WorkerStatusPage*>(private_status_->data());
}

void WorkerContext::heartbeat() {
  abi::atomicRef(status().heartbeat).fetch_add(1, std::memory_order_release);
}

void WorkerContext::setState(abi::WorkerState state) {
  abi::atomicRef(status().state).store(static_cast<uint32_t>(state), std::memory_order_release);
}

void WorkerContext::markReady() {
  ready_ = true;
  for (Message& m : pending_messages_) (void)send(std::move(m));
  pending_messages_.clear();
}

int runWorker(WorkerStage& stage, const RuntimeOptions& options) {
  platform::onStopRequests(onStopRequest);

  WorkerContext context;
  auto supervised = platform::supervisorChannel();
  if (!supervised) {
    spdlog::error("{}: channel: {}", options.name, supervised.error().message);
    return abi::kExitPeerLost;
  }
  if (*supervised) {
    auto channel =
        WorkerChannel::connect((**supervised).release(), options.kind, options.connect_timeout_ms);
    if (!channel) {
      spdlog::error("{}: channel: {}", options.name, channel.error().message);
      return abi::kExitPeerLost;
    }
    context.channel_.emplace(std::move(*channel));
  } else if (options.standalone_ok) {
    auto page = SharedMemory::create("funkhaus-status-private", sizeof(abi::WorkerStatusPage));
    if (!page) {
      spdlog::error("{}: status page: {}", options.name, page.error().message);
      return abi::kExitFailure;
    }
    context.private_status_.emplace(std::move(*page));
  } else {
    spdlog::error("{}: no channel of funkhausd in {}: this program is started by funkhausd",
                  options.name, platform::supervisorChannelPlace());
    return abi::kExitBadConfig;
  }
  abi::atomicRef(context.status().pid)
      .store(platform::currentProcessId(), std::memory_order_relaxed);
  context.heartbeat();

  auto fail = [&](const Error& error) {
    spdlog::error("{}: {}", options.name, error.message);
    context.setState(abi::WorkerState::kFailed);
    return exitCodeFor(error.code);
  };
  if (auto started = stage.start(context); !started) return fail(started.error());
  if (context.channel_) {
    context.setState(abi::WorkerState::kReady);
    if (auto ready = context.send(ReadyMessage{}); !ready) return fail(ready.error());
  }
  context.markReady();

  int exit_code = abi::kExitStopped;
  while (!stopSignalled()) {
    context.heartbeat();
    if (context.channel_) {
      bool stop = false;
      for (;;) {
        auto received = context.channel_->receive(0);
        if (!received) {
          spdlog::error("{}: channel: {}", options.name, received.error().message);
          exit_code = abi::kExitPeerLost;
          stop = true;
          break;
        }
        if (!received->has_value()) break;
        Message& m = **received;
        if (auto* command = std::get_if<CommandMessage>(&m)) {
          if (command->body.command == static_cast<uint32_t>(abi::Command::kStop)) {
            spdlog::info("{}: stop requested", options.name);
            stop = true;
            break;
          }
          stage.onCommand(command->body);
        } else if (auto* request = std::get_if<RequestMessage>(&m)) {
          stage.onRequest(context, request->id, request->text);
        } else if (auto* reply = std::get_if<ReplyMessage>(&m)) {
          if (!context.deliverReply(*reply))
            spdlog::warn("{}: a reply to request {} nobody waits for", options.name, reply->id);
        } else {
          spdlog::error("{}: funkhausd sent a message a worker does not take", options.name);
          exit_code = abi::kExitPeerLost;
          stop = true;
          break;
        }
      }
      if (stop) break;
    }
    if (auto stepped = stage.step(options.turn_ns); !stepped) return fail(stepped.error());
    stage.publish(context.status(), monotonicNs());
  }
  if (stopSignalled()) spdlog::info("{}: stopping on a signal", options.name);
  context.failPendingRequests("the worker is stopping");
  context.setState(abi::WorkerState::kStopping);
  stage.stop();
  return exit_code;
}

}  // namespace funkhaus
