// The uinput factory while no uinput backend is built (no uinput_*.cpp in source/).
#include "funkhaus/input/input_sink.h"

namespace funkhaus::input {

Result<std::unique_ptr<InputSink>> createUinputSink(std::vector<UniqueFd> /*uinput_fds*/,
                                                    const UinputOptions& /*options*/,
                                                    RumbleCallback /*rumble*/) {
  return makeError(ErrorCode::kUnsupported, "uinput: this build has no uinput backend");
}

}  // namespace funkhaus::input
