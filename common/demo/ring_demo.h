// The ring demo: an owner process creates a frame ring and runs a producer and a consumer
// process over it, printing frame rate and handoff latency. Runs in three processes.
#pragma once

#include <cstdint>
#include <string>

namespace funkhaus::demo {

struct DemoOptions {
  std::string role = "owner";  // owner | producer | consumer
  int ring_fd = -1;            // producer/consumer: the inherited memfd
  double seconds = 0;          // 0: until SIGINT/SIGTERM
  uint32_t width = 1920;
  uint32_t height = 1080;
  uint32_t fps = 60;
  uint32_t slots = 4;
  bool busy_poll = false;
};

// Runs the given role; returns the process exit code.
int runDemo(const DemoOptions& options);

}  // namespace funkhaus::demo
