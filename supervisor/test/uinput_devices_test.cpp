// openUinput: one open file per device, and an error that says what to do when it cannot be.
#include "funkhaus/supervisor/uinput_devices.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace funkhaus::supervisor {
namespace {

constexpr uint32_t kCount = 21;

TEST(Uinput, OneOpenFilePerDeviceCloseOnExecNonBlocking) {
  const auto path =
      std::filesystem::temp_directory_path() / ("funkhaus-uinput-" + std::to_string(getpid()));
  std::ofstream(path) << "";
  auto fds = openUinput(kCount, path.string());
  ASSERT_TRUE(fds.ok()) << fds.error().message;
  ASSERT_EQ(fds->size(), kCount);
  std::set<int> distinct;
  for (const UniqueFd& fd : *fds) {
    distinct.insert(fd.get());
    EXPECT_NE(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
    EXPECT_EQ(fcntl(fd.get(), F_GETFL) & O_ACCMODE, O_RDWR);
  }
  EXPECT_EQ(distinct.size(), kCount);
  std::filesystem::remove(path);
}

TEST(Uinput, AbsentSaysWhy) {
  auto absent = openUinput(3, "/nonexistent/uinput");
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.error().message.find("this kernel has no uinput"), std::string::npos)
      << absent.error().message;
}

TEST(Uinput, ForbiddenSaysWhy) {
  if (geteuid() == 0) GTEST_SKIP() << "root opens a 0000 file anyway";
  const auto path = std::filesystem::temp_directory_path() /
                    ("funkhaus-uinput-denied-" + std::to_string(getpid()));
  std::ofstream(path) << "";
  chmod(path.c_str(), 0);
  auto denied = openUinput(3, path.string());
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.error().message.find("udev rule"), std::string::npos) << denied.error().message;
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace funkhaus::supervisor
