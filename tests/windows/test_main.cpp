// main() of the Windows test program: GoogleTest, or one child role when started by
// spawnSelf() with `--child ROLE ...` (child_process.h).
#include <gtest/gtest.h>

#include <cstring>

#include "child_process.h"

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "--child") == 0)
    return funkhaus::test::runChild(argc - 2, argv + 2);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
