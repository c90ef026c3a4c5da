// The client's channel order (FL FR C LFE BL BR SL SR) as PulseAudio channel positions: for the
// null sink's channel_map argument and the record stream. Audio worker thread.
#pragma once

#include <pulse/channelmap.h>

#include <string>

#include "funkhaus/common/result.h"

namespace funkhaus::audio::detail {

inline constexpr pa_channel_position_t kClientOrder[] = {
    PA_CHANNEL_POSITION_FRONT_LEFT,   PA_CHANNEL_POSITION_FRONT_RIGHT,
    PA_CHANNEL_POSITION_FRONT_CENTER, PA_CHANNEL_POSITION_LFE,
    PA_CHANNEL_POSITION_REAR_LEFT,    PA_CHANNEL_POSITION_REAR_RIGHT,
    PA_CHANNEL_POSITION_SIDE_LEFT,    PA_CHANNEL_POSITION_SIDE_RIGHT,
};

inline Result<pa_channel_map> clientChannelMap(int channels) {
  if (channels != 2 && channels != 6 && channels != 8) {
    return makeError(ErrorCode::kBadConfig,
                     "audio channels must be 2, 6 or 8 (stereo, 5.1, 7.1), not {}", channels);
  }
  pa_channel_map map{};
  map.channels = static_cast<uint8_t>(channels);
  for (int i = 0; i < channels; ++i) map.map[i] = kClientOrder[i];
  return map;
}

// "front-left,front-right,..." for module arguments.
inline std::string channelMapArgument(const pa_channel_map& map) {
  std::string text;
  for (int i = 0; i < map.channels; ++i) {
    if (i > 0) text += ',';
    text += pa_channel_position_to_string(map.map[i]);
  }
  return text;
}

}  // namespace funkhaus::audio::detail
