// funkhaus-ring-demo: parses the command line and runs one role of the ring demo.
#include <CLI/CLI.hpp>

#include "ring_demo.h"

int main(int argc, char** argv) {
  funkhaus::demo::DemoOptions o;
  CLI::App app{
      "funkhaus ring demo: a producer and a consumer process exchange frames through a "
      "keyed-mutex shared-memory frame ring; prints frame rate and handoff latency"};
  app.add_option("--seconds", o.seconds, "Run this long (0: until Ctrl-C)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--width", o.width, "Frame width")->check(CLI::Range(16, 7680));
  app.add_option("--height", o.height, "Frame height")->check(CLI::Range(16, 4320));
  app.add_option("--fps", o.fps, "Producer frame rate")->check(CLI::Range(1, 1000));
  app.add_option("--slots", o.slots, "Slots in the ring")->check(CLI::Range(2, 255));
  app.add_flag("--busy-poll", o.busy_poll, "Consumer busy-polls instead of futex waits");
  app.add_option("--role", o.role, "Internal: owner|producer|consumer")
      ->check(CLI::IsMember({"owner", "producer", "consumer"}))
      ->group("");
  app.add_option("--ring-fd", o.ring_fd, "Internal: inherited ring memfd")->group("");
  CLI11_PARSE(app, argc, argv);
  return funkhaus::demo::runDemo(o);
}
