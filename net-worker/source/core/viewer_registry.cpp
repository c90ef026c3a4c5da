// ViewerRegistry: keyframe policy on behalf of every protocol's viewers.
#include "funkhaus/net/viewer_registry.h"

#include <algorithm>

namespace funkhaus::net {

void ViewerRegistry::add(Viewer* viewer) {
  if (std::find(viewers_.begin(), viewers_.end(), viewer) == viewers_.end())
    viewers_.push_back(viewer);
}

void ViewerRegistry::remove(Viewer* viewer) { std::erase(viewers_, viewer); }

uint32_t ViewerRegistry::playing() const {
  uint32_t n = 0;
  for (const Viewer* v : viewers_) n += v->playing;
  return n;
}

bool ViewerRegistry::started(Viewer& viewer, uint64_t now_ns, bool second_keyframe) {
  if (!viewer.playing) {
    viewer.playing = true;
    viewer.needs_keyframe = true;
  }
  if (second_keyframe) viewer.join_keyframe_ns = now_ns + kJoinKeyframeNs;
  return true;
}

bool ViewerRegistry::dropped(Viewer& viewer, uint64_t now_ns) {
  viewer.needs_keyframe = true;
  viewer.congested = true;
  if (now_ns < viewer.next_congestion_request_ns) return false;
  viewer.next_congestion_request_ns = now_ns + viewer.backoff_ns;
  viewer.backoff_ns = std::min(viewer.backoff_ns * 2, kMaxCongestionBackoffNs);
  return true;
}

void ViewerRegistry::delivered(Viewer& viewer) {
  viewer.congested = false;
  viewer.backoff_ns = kMinCongestionBackoffNs;
  viewer.next_congestion_request_ns = 0;
}

bool ViewerRegistry::sweep(uint64_t now_ns) {
  bool join = false, waiting = false;
  for (Viewer* v : viewers_) {
    if (v->join_keyframe_ns != 0 && now_ns >= v->join_keyframe_ns) {
      v->join_keyframe_ns = 0;
      join = true;
    }
    waiting = waiting || (v->playing && v->needs_keyframe && !v->congested);
  }
  return join || (waiting && now_ns - last_ns_ > kKeyframeRetryNs);
}

bool ViewerRegistry::want(uint64_t now_ns) {
  if (last_ns_ == 0 || now_ns - last_ns_ >= interval_ns_) {
    sent(now_ns);
    return true;
  }
  held_ = true;
  return false;
}

bool ViewerRegistry::due(uint64_t now_ns) {
  if (!held_ || now_ns - last_ns_ < interval_ns_) return false;
  sent(now_ns);
  return true;
}

void ViewerRegistry::sent(uint64_t now_ns) {
  last_ns_ = now_ns;
  held_ = false;
  ++requests_;
}

}  // namespace funkhaus::net
