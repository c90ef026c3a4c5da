// FakeSink: an InputSink that records what it is given. Used by the dispatcher tests.
#pragma once

#include <set>
#include <vector>

#include "funkhaus/input/input_sink.h"

namespace funkhaus::input::test {

class FakeSink final : public InputSink {
 public:
  FakeSink(const char* name, std::set<abi::InputKind> kinds)
      : name_(name), kinds_(std::move(kinds)) {}

  const char* name() const override { return name_; }
  bool takes(abi::InputKind kind) const override { return kinds_.count(kind) != 0; }
  Result<void> apply(const abi::InputEvent& event) override {
    events.push_back(event);
    if (gone) return makeError(ErrorCode::kPeerLost, "gone");
    if (refuse) return makeError("refused");
    return {};
  }
  void releaseAll() override { ++release_alls; }
  void flush() override { ++flushes; }
  void poll() override { ++polls; }
  uint32_t devices() const override { return device_count; }

  std::vector<abi::InputEvent> events;
  int release_alls = 0, flushes = 0, polls = 0;
  uint32_t device_count = 1;
  bool refuse = false, gone = false;

 private:
  const char* name_;
  std::set<abi::InputKind> kinds_;
};

}  // namespace funkhaus::input::test
