// PulseSession: a libpulse connection to the session's sound server (PulseAudio, or PipeWire
// through its PulseAudio interface) that keeps the `funkhaus` null sink and switches the default
// sink to it and back. Runs on the audio worker's thread: a plain pa_mainloop that the worker's
// step() drives with iterate(timeout), so every callback runs on that thread, no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "funkhaus/common/result.h"

struct pa_mainloop;
struct pa_context;
struct pa_operation;

namespace funkhaus::audio {

inline constexpr const char* kSinkName = "funkhaus";

// The session's sound server: $PULSE_SERVER when set, else unix:$XDG_RUNTIME_DIR/pulse/native.
// kBadConfig when the environment has neither. `env` looks a variable up (nullptr: unset).
Result<std::string> defaultServerAddress(const std::function<const char*(const char*)>& env =
                                             [](const char* name) {
                                               return static_cast<const char*>(std::getenv(name));
                                             });

// What a worker keeps where its successor finds it (funkhausd's shared state), so that a worker
// that crashed while our sink was the default still gets the user's default back. Fixed size and
// trivially copyable; a successor reads it as untrusted bytes (previousName() stays in bounds).
struct DefaultSinkRecord {
  static constexpr size_t kNameBytes = 256;
  uint32_t switched = 0;  // 1: our sink was made the default and the previous one not put back
  uint32_t reserved = 0;
  char previous[kNameBytes] = {};  // the default before ours; NUL-padded; empty: none known

  std::string_view previousName() const;
  bool setPreviousName(std::string_view name);  // false when it does not fit
};
static_assert(std::is_trivially_copyable_v<DefaultSinkRecord>, "copied through shared memory");
static_assert(sizeof(DefaultSinkRecord) == 264, "a layout change breaks a persisted record");

enum class RestoreOutcome {
  kRestored,          // the previous default is the default again
  kNothingToRestore,  // we had not switched, or did not know the previous default
  kUserChoseAnother,  // the default is not ours any more: a newer choice, left alone
  kPreviousGone,      // the previous default sink no longer exists; ours stays the default
};
const char* toString(RestoreOutcome outcome);

struct SinkInfo {
  std::string name;
  std::string monitor;  // the source that records what the sink plays
  uint32_t index = 0;
  uint32_t owner_module = 0;  // PA_INVALID_INDEX when no module owns it
  int channels = 0;
  uint32_t rate = 0;
  bool created = false;  // loaded now (false: one already there was reused)
};

struct SessionOptions {
  std::string server;  // empty: defaultServerAddress()
  std::string sink_name = kSinkName;
  std::string client_name = "funkhaus-audio";
  int operation_timeout_ms = 3000;  // connect and each request to the server
};

class PulseSession {
 public:
  // Connects (no autospawn) and waits until the context is ready. kFailure when the server does
  // not answer; kBadConfig when no server address is known.
  static Result<std::unique_ptr<PulseSession>> connect(const SessionOptions& options);
  ~PulseSession();
  PulseSession(const PulseSession&) = delete;
  PulseSession& operator=(const PulseSession&) = delete;

  const std::string& server() const { return server_; }
  const std::string& sinkName() const { return options_.sink_name; }

  // Our null sink: the one already there (a predecessor's; never a second one), or a new
  // module-null-sink with `channels` at 48 kHz float in the client's channel order.
  Result<SinkInfo> ensureSink(int channels);
  // Suspends and resumes our sink. A null sink that nobody recorded rendered up to its maximum
  // latency (2 s) ahead of time, and a monitor recording gets nothing new until that time has
  // passed; resumed, it starts again from now at the latency the recording asked for.
  Result<void> restartSinkClock();
  // Unloads the module that owns our sink (when there is one).
  Result<void> removeSink();
  // The server's default sink name ("" when it has none).
  Result<std::string> defaultSink();
  Result<void> setDefaultSink(const std::string& name);

  // Makes our sink the default and records the previous one in `record` (kept as it is when
  // the record says a predecessor switched already).
  Result<void> makeDefault(DefaultSinkRecord& record);
  // Puts the recorded default back, but only while ours is still the default. Clears `record`.
  Result<RestoreOutcome> restoreDefault(DefaultSinkRecord& record);

  // Runs the main loop once: waits up to `timeout_ns` for the server (returns as soon as
  // something was handled) and runs the callbacks. kPeerLost once the server is gone.
  Result<void> iterate(int64_t timeout_ns);
  // The error that ended the connection, if it ended.
  Result<void> health() const;

  // For PulseCapture: the context, and a bounded wait (iterate() until `done` or the timeout).
  pa_context* context() const { return context_; }
  Result<void> waitUntil(const std::function<bool()>& done, std::string_view what);
  // Waits for an operation to finish (and unrefs it); cancels it on timeout.
  Result<void> waitFor(pa_operation* operation, std::string_view what);
  // The text of the context's last error.
  std::string lastError() const;

 private:
  explicit PulseSession(SessionOptions options) : options_(std::move(options)) {}
  static void onContextState(pa_context* context, void* self);

  SessionOptions options_;
  std::string server_;
  pa_mainloop* mainloop_ = nullptr;
  pa_context* context_ = nullptr;
  bool ready_ = false;
  std::optional<Error> failure_;
};

}  // namespace funkhaus::audio
