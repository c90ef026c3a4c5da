// Result<T>: a value or an Error with a code and a human-readable message (C++20 has no
// std::expected). Used by every component; errors are values, never exceptions across component
// boundaries. The code decides what a worker does with an error: exitCodeFor() maps it to the
// transient or permanent exit codes of abi/exit_codes.h, which are funkhausd's restart policy.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "funkhaus/abi/exit_codes.h"

namespace funkhaus {

enum class ErrorCode {
  kFailure,       // something went wrong that may go right next time (transient)
  kAttachFailed,  // a ring or page handed over does not check out (transient)
  kPeerLost,      // the other end of a channel or ring is gone (transient)
  kBadConfig,     // the configuration or arguments are wrong (permanent)
  kUnsupported,   // the platform or build lacks what is needed (permanent)
  kAbiMismatch,   // a peer speaks another ABI version (permanent)
};

struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kFailure;
};

template <class... Args>
Error makeError(fmt::format_string<Args...> format, Args&&... args) {
  return Error{fmt::format(format, std::forward<Args>(args)...)};
}

template <class... Args>
Error makeError(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Error{fmt::format(format, std::forward<Args>(args)...), code};
}

// Restarting cannot help with a permanent error.
constexpr bool isPermanent(ErrorCode code) {
  return code == ErrorCode::kBadConfig || code == ErrorCode::kUnsupported ||
         code == ErrorCode::kAbiMismatch;
}

// The worker exit code for an error that ends the worker.
constexpr int exitCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kFailure:
      return abi::kExitFailure;
    case ErrorCode::kAttachFailed:
      return abi::kExitAttachFailed;
    case ErrorCode::kPeerLost:
      return abi::kExitPeerLost;
    case ErrorCode::kBadConfig:
      return abi::kExitBadConfig;
    case ErrorCode::kUnsupported:
      return abi::kExitUnsupported;
    case ErrorCode::kAbiMismatch:
      return abi::kExitAbiMismatch;
  }
  return abi::kExitFailure;
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return const_cast<Result*>(this)->checked(); }
  T&& operator*() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }

  const Error& error() const {
    if (ok()) std::abort();  // broken invariant: asked a success for its error
    return std::get<1>(state_);
  }

 private:
  T& checked() {
    if (!ok()) std::abort();  // broken invariant: used a failed result's value
    return std::get<0>(state_);
  }

  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    if (ok_) std::abort();
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace funkhaus
