// net_harness: runs funkhaus-net under the test harness with a libx264 source, for trying real
// clients by hand: net_harness [SECONDS [WIDTH HEIGHT FPS [CODEC]]] -- [funkhaus-net args]. Prints
// the URL; SIGUSR1 SIGKILLs the net and starts the next one on the kept sockets. A fifth number
// picks the codec (1 H.264, 2 HEVC).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "net_harness.h"

namespace {
std::atomic<bool> g_restart{false};
void onUsr1(int) { g_restart.store(true); }
}  // namespace

int main(int argc, char** argv) {
  using namespace funkhaus::test;
  int seconds = 30, width = 320, height = 240, fps = 30, codec = 1;
  std::vector<std::string> args;
  std::vector<int> numbers;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      for (++i; i < argc; ++i) args.emplace_back(argv[i]);
      break;
    }
    numbers.push_back(std::atoi(argv[i]));
  }
  if (numbers.size() > 0) seconds = numbers[0];
  if (numbers.size() > 3) width = numbers[1], height = numbers[2], fps = numbers[3];
  if (numbers.size() > 4) codec = numbers[4];
  signal(SIGUSR1, onUsr1);
  auto h = NetHarness::create();
  if (!h) return std::fprintf(stderr, "%s\n", h.error().message.c_str()), 1;
  VideoSource source((*h)->ringFd(), width, height, fps, static_cast<uint32_t>(codec));
  (*h)->on_keyframe_request = [&] { source.requestKeyframe(); };
  if (auto ok = (*h)->start(args); !ok)
    return std::fprintf(stderr, "%s\n", ok.error().message.c_str()), 1;
  if (auto ok = source.start(); !ok)
    return std::fprintf(stderr, "%s\n", ok.error().message.c_str()), 1;
  std::printf("%s\n", (*h)->url().c_str());
  std::fflush(stdout);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_restart.exchange(false)) {
      std::fprintf(stderr, "harness: SIGKILL net pid %d and restart\n", (*h)->pid());
      (*h)->kill9();
      if (auto ok = (*h)->start(args); !ok)
        std::fprintf(stderr, "%s\n", ok.error().message.c_str());
    }
  }
  const auto stopped = (*h)->stop();
  std::fprintf(stderr, "harness: frames %llu keyframes %llu requests %llu stop -> %s\n",
               static_cast<unsigned long long>(source.frames()),
               static_cast<unsigned long long>(source.keyframes()),
               static_cast<unsigned long long>((*h)->keyframe_requests.load()),
               stopped ? funkhaus::describeExit(*stopped).c_str() : "no exit");
  return 0;
}
