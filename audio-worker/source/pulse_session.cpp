// PulseSession: the libpulse context on a plain main loop, the null sink, the default sink.
#include "funkhaus/audio/pulse_session.h"

#include <pulse/context.h>
#include <pulse/error.h>
#include <pulse/introspect.h>
#include <pulse/mainloop.h>
#include <pulse/operation.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "funkhaus/common/clock.h"
#include "pulse_channels.h"

namespace funkhaus::audio {

Result<std::string> defaultServerAddress(const std::function<const char*(const char*)>& env) {
  if (const char* server = env("PULSE_SERVER"); server != nullptr && *server != '\0') {
    return std::string(server);
  }
  if (const char* runtime = env("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime != '\0') {
    return fmt::format("unix:{}/pulse/native", runtime);
  }
  return makeError(ErrorCode::kBadConfig,
                   "no sound server: neither PULSE_SERVER nor XDG_RUNTIME_DIR is set (the "
                   "worker must run with the session's environment)");
}

std::string_view DefaultSinkRecord::previousName() const {
  return std::string_view(previous, strnlen(previous, kNameBytes - 1));
}

bool DefaultSinkRecord::setPreviousName(std::string_view name) {
  if (name.size() >= kNameBytes) return false;
  std::memset(previous, 0, kNameBytes);
  std::memcpy(previous, name.data(), name.size());
  return true;
}

const char* toString(RestoreOutcome outcome) {
  switch (outcome) {
    case RestoreOutcome::kRestored:
      return "restored";
    case RestoreOutcome::kNothingToRestore:
      return "nothing to restore";
    case RestoreOutcome::kUserChoseAnother:
      return "the user chose another default";
    case RestoreOutcome::kPreviousGone:
      return "the previous default is gone";
  }
  return "?";
}

Result<std::unique_ptr<PulseSession>> PulseSession::connect(const SessionOptions& options) {
  std::unique_ptr<PulseSession> session(new PulseSession(options));
  if (options.server.empty()) {
    auto server = defaultServerAddress();
    if (!server) return server.error();
    session->server_ = *server;
  } else {
    session->server_ = options.server;
  }
  session->mainloop_ = pa_mainloop_new();
  if (session->mainloop_ == nullptr) return makeError("pa_mainloop_new failed");
  session->context_ =
      pa_context_new(pa_mainloop_get_api(session->mainloop_), options.client_name.c_str());
  if (session->context_ == nullptr) return makeError("pa_context_new failed");
  pa_context_set_state_callback(session->context_, &PulseSession::onContextState, session.get());
  if (pa_context_connect(session->context_, session->server_.c_str(), PA_CONTEXT_NOAUTOSPAWN,
                         nullptr) < 0) {
    return makeError("cannot connect to the sound server at {}: {}", session->server_,
                     session->lastError());
  }
  PulseSession* self = session.get();
  auto ready = session->waitUntil([self] { return self->ready_; }, "the connection");
  if (!ready) {
    // Not a lost peer: there never was one. The worker retries with backoff all the same.
    return makeError("cannot connect to the sound server at {}: {}", session->server_,
                     ready.error().message);
  }
  spdlog::info("audio: connected to the sound server at {} ({} {})", session->server_,
               pa_context_get_server(session->context_),
               pa_context_get_server_protocol_version(session->context_));
  return session;
}

PulseSession::~PulseSession() {
  if (context_ != nullptr) {
    pa_context_set_state_callback(context_, nullptr, nullptr);
    pa_context_disconnect(context_);
    pa_context_unref(context_);
  }
  if (mainloop_ != nullptr) pa_mainloop_free(mainloop_);
}

void PulseSession::onContextState(pa_context* context, void* user) {
  auto* self = static_cast<PulseSession*>(user);
  switch (pa_context_get_state(context)) {
    case PA_CONTEXT_READY:
      self->ready_ = true;
      break;
    case PA_CONTEXT_FAILED:
    case PA_CONTEXT_TERMINATED:
      if (!self->failure_) {
        self->failure_ =
            makeError(ErrorCode::kPeerLost, "the sound server at {} {}: {}", self->server_,
                      self->ready_ ? "went away" : "refused us", self->lastError());
        if (self->ready_) spdlog::warn("audio: {}", self->failure_->message);
      }
      self->ready_ = false;
      break;
    default:
      break;
  }
}

std::string PulseSession::lastError() const { return pa_strerror(pa_context_errno(context_)); }

Result<void> PulseSession::health() const {
  if (failure_) return *failure_;
  return {};
}

Result<void> PulseSession::iterate(int64_t timeout_ns) {
  if (failure_) return *failure_;
  const int64_t timeout_us = std::clamp<int64_t>(timeout_ns / 1000, 0, 1'000'000'000);
  if (pa_mainloop_prepare(mainloop_, static_cast<int>(timeout_us)) < 0) {
    return makeError(ErrorCode::kPeerLost, "the sound server's main loop quit");
  }
  if (pa_mainloop_poll(mainloop_) < 0 && errno != EINTR) {
    return makeError("polling the sound server's connection: {}", std::strerror(errno));
  }
  if (pa_mainloop_dispatch(mainloop_) < 0) {
    return makeError(ErrorCode::kPeerLost, "the sound server's main loop quit");
  }
  if (failure_) return *failure_;
  return {};
}

Result<void> PulseSession::waitUntil(const std::function<bool()>& done, std::string_view what) {
  const uint64_t deadline =
      monotonicNs() + static_cast<uint64_t>(options_.operation_timeout_ms) * 1'000'000;
  while (!done()) {
    if (failure_) return *failure_;
    const uint64_t now = monotonicNs();
    if (now >= deadline) {
      return makeError("the sound server at {} did not answer ({}) within {} ms", server_, what,
                       options_.operation_timeout_ms);
    }
    if (auto ok = iterate(static_cast<int64_t>(deadline - now)); !ok) return ok;
  }
  return {};
}

Result<void> PulseSession::waitFor(pa_operation* operation, std::string_view what) {
  if (operation == nullptr) {
    return makeError("the sound server refused {}: {}", what, lastError());
  }
  auto done = waitUntil(
      [operation] { return pa_operation_get_state(operation) != PA_OPERATION_RUNNING; }, what);
  if (!done) pa_operation_cancel(operation);
  pa_operation_unref(operation);
  return done;
}

namespace {

struct SinkQuery {
  bool found = false;
  bool missing = false;
  SinkInfo info;
};

void onSinkInfo(pa_context* context, const pa_sink_info* info, int eol, void* user) {
  auto* query = static_cast<SinkQuery*>(user);
  if (eol < 0) {
    query->missing = pa_context_errno(context) == PA_ERR_NOENTITY;
    return;
  }
  if (info == nullptr) return;
  query->found = true;
  query->info.name = info->name;
  query->info.monitor = info->monitor_source_name != nullptr ? info->monitor_source_name : "";
  query->info.index = info->index;
  query->info.owner_module = info->owner_module;
  query->info.channels = info->sample_spec.channels;
  query->info.rate = info->sample_spec.rate;
}

struct Answer {
  bool success = false;
  uint32_t index = PA_INVALID_INDEX;
  std::string text;
};

void onSuccess(pa_context*, int success, void* user) {
  static_cast<Answer*>(user)->success = success != 0;
}

void onIndex(pa_context*, uint32_t index, void* user) {
  auto* answer = static_cast<Answer*>(user);
  answer->index = index;
  answer->success = index != PA_INVALID_INDEX;
}

void onServerInfo(pa_context*, const pa_server_info* info, void* user) {
  auto* answer = static_cast<Answer*>(user);
  answer->success = info != nullptr;
  if (info != nullptr && info->default_sink_name != nullptr) answer->text = info->default_sink_name;
}

}  // namespace

Result<SinkInfo> PulseSession::ensureSink(int channels) {
  auto map = detail::clientChannelMap(channels);
  if (!map) return map.error();
  auto lookup = [this]() -> Result<SinkQuery> {
    SinkQuery query;
    auto done = waitFor(
        pa_context_get_sink_info_by_name(context_, options_.sink_name.c_str(), &onSinkInfo, &query),
        "a sink lookup");
    if (!done) return done.error();
    return query;
  };
  auto existing = lookup();
  if (!existing) return existing.error();
  if (existing->found) {
    spdlog::info("audio: reusing sink {} (#{}, {} channels)", existing->info.name,
                 existing->info.index, existing->info.channels);
    return existing->info;
  }
  const std::string arguments = fmt::format(
      "sink_name={} rate=48000 format=float32le channels={} channel_map={} "
      "sink_properties=device.description={}",
      options_.sink_name, channels, detail::channelMapArgument(*map), options_.sink_name);
  Answer loaded;
  auto done = waitFor(
      pa_context_load_module(context_, "module-null-sink", arguments.c_str(), &onIndex, &loaded),
      "loading module-null-sink");
  if (!done) return done.error();
  if (!loaded.success) {
    return makeError("the sound server at {} did not load module-null-sink {}: {}", server_,
                     arguments, lastError());
  }
  auto created = lookup();
  if (!created) return created.error();
  if (!created->found) {
    return makeError("module-null-sink #{} loaded but sink {} is not there", loaded.index,
                     options_.sink_name);
  }
  created->info.created = true;
  spdlog::info("audio: created sink {} (#{}, module #{}, {} channels)", created->info.name,
               created->info.index, loaded.index, channels);
  return created->info;
}

Result<void> PulseSession::restartSinkClock() {
  for (int suspend : {1, 0}) {
    Answer answer;
    auto done = waitFor(pa_context_suspend_sink_by_name(context_, options_.sink_name.c_str(),
                                                        suspend, &onSuccess, &answer),
                        suspend != 0 ? "suspending our sink" : "resuming our sink");
    if (!done) return done;
    if (!answer.success) {
      return makeError("cannot {} sink {}: {}", suspend != 0 ? "suspend" : "resume",
                       options_.sink_name, lastError());
    }
  }
  return {};
}

Result<void> PulseSession::removeSink() {
  SinkQuery query;
  auto done = waitFor(
      pa_context_get_sink_info_by_name(context_, options_.sink_name.c_str(), &onSinkInfo, &query),
      "a sink lookup");
  if (!done) return done;
  if (!query.found || query.info.owner_module == PA_INVALID_INDEX) return {};
  Answer answer;
  auto unloaded =
      waitFor(pa_context_unload_module(context_, query.info.owner_module, &onSuccess, &answer),
              "unloading the null sink");
  if (!unloaded) return unloaded;
  if (!answer.success) return makeError("unloading sink {}: {}", options_.sink_name, lastError());
  return {};
}

Result<std::string> PulseSession::defaultSink() {
  Answer answer;
  auto done = waitFor(pa_context_get_server_info(context_, &onServerInfo, &answer), "server info");
  if (!done) return done.error();
  if (!answer.success) return makeError("no server info: {}", lastError());
  return answer.text;
}

Result<void> PulseSession::setDefaultSink(const std::string& name) {
  Answer answer;
  auto done = waitFor(pa_context_set_default_sink(context_, name.c_str(), &onSuccess, &answer),
                      "setting the default sink");
  if (!done) return done;
  if (!answer.success) {
    return makeError("cannot make {} the default sink: {}", name, lastError());
  }
  return {};
}

Result<void> PulseSession::makeDefault(DefaultSinkRecord& record) {
  auto current = defaultSink();
  if (!current) return current.error();
  if (*current == options_.sink_name) {
    // A predecessor switched and left its record; without one the previous default is unknown.
    if (record.switched == 0) {
      spdlog::warn("audio: {} is the default already and no record says what was before",
                   options_.sink_name);
      record.setPreviousName("");
      record.switched = 1;
    }
    return {};
  }
  if (!record.setPreviousName(*current)) {
    return makeError("the default sink's name ({} bytes) is too long to keep", current->size());
  }
  record.switched = 1;
  if (auto set = setDefaultSink(options_.sink_name); !set) {
    record = DefaultSinkRecord{};
    return set;
  }
  spdlog::info("audio: default sink {} -> {}", *current, options_.sink_name);
  return {};
}

Result<RestoreOutcome> PulseSession::restoreDefault(DefaultSinkRecord& record) {
  if (record.switched == 0) return RestoreOutcome::kNothingToRestore;
  const std::string previous(record.previousName());
  auto current = defaultSink();
  if (!current) return current.error();
  RestoreOutcome outcome = RestoreOutcome::kRestored;
  if (*current != options_.sink_name) {
    outcome = RestoreOutcome::kUserChoseAnother;
  } else if (previous.empty()) {
    outcome = RestoreOutcome::kNothingToRestore;
  } else if (auto set = setDefaultSink(previous); !set) {
    if (pa_context_errno(context_) != PA_ERR_NOENTITY) return set.error();
    outcome = RestoreOutcome::kPreviousGone;
  }
  spdlog::info("audio: default sink back to {}: {}", previous.empty() ? "?" : previous,
               toString(outcome));
  record = DefaultSinkRecord{};
  return outcome;
}

}  // namespace funkhaus::audio
