// wx_probe: asks for a writable and executable mapping and says whether it got one. The system
// test runs it under funkhaus.service's hardening to show MemoryDenyWriteExecute is in force.
// Exit 0: refused (as it should be under the unit), 1: allowed, 2: refused for another reason.
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main() {
  void* p =
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) {
    std::printf("W+X mapping allowed\n");
    return 1;
  }
  std::printf("W+X mapping refused: %s\n", std::strerror(errno));
  return errno == EPERM || errno == EACCES ? 0 : 2;
}
