// SharedMemory: sealed memfds, refusal of unsealed or short fds, nothing in /dev/shm.
#include "funkhaus/common/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace funkhaus {
namespace {

size_t devShmEntries() {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/dev/shm", ec);
       !ec && it != std::filesystem::directory_iterator(); ++it)
    ++n;
  return n;
}

TEST(SharedMemory, CreateSealsAgainstResizeAndLeavesNothingInDevShm) {
  const size_t before = devShmEntries();
  auto shm = SharedMemory::create("test-ring", 1 << 16);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  EXPECT_EQ(devShmEntries(), before);
  const int seals = fcntl(shm->handle(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  EXPECT_NE(ftruncate(shm->handle(), 1 << 20), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(ftruncate(shm->handle(), 0), 0);
  EXPECT_NE(fcntl(shm->handle(), F_ADD_SEALS, F_SEAL_WRITE), 0) << "further seals are sealed";
  shm->data()[100] = std::byte{42};
  auto peer = SharedMemory::attachDup(shm->handle());
  ASSERT_TRUE(peer.ok()) << peer.error().message;
  EXPECT_EQ(peer->size(), size_t{1} << 16);
  EXPECT_EQ(peer->data()[100], std::byte{42});
}

TEST(SharedMemory, AttachRefusesUnsealedMemfd) {
  UniqueFd fd(memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(ftruncate(fd.get(), 4096), 0);
  auto shm = SharedMemory::attach(std::move(fd));
  ASSERT_FALSE(shm.ok());
  EXPECT_NE(shm.error().message.find("not sealed"), std::string::npos) << shm.error().message;
}

TEST(SharedMemory, AttachRefusesNonMemfdAndShortMemfd) {
  UniqueFd pipe_fd;
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  close(p[1]);
  auto not_memfd = SharedMemory::attach(UniqueFd(p[0]));
  ASSERT_FALSE(not_memfd.ok());
  EXPECT_NE(not_memfd.error().message.find("not a sealable memfd"), std::string::npos);

  auto small = SharedMemory::create("small", 100);
  ASSERT_TRUE(small.ok());
  auto short_attach = SharedMemory::attachDup(small->handle(), 4096);
  ASSERT_FALSE(short_attach.ok());
  EXPECT_NE(short_attach.error().message.find("needs at least 4096"), std::string::npos)
      << short_attach.error().message;
}

TEST(SharedMemory, ZeroSizeIsRefused) {
  auto shm = SharedMemory::create("zero", 0);
  ASSERT_FALSE(shm.ok());
  EXPECT_NE(shm.error().message.find("size"), std::string::npos);
}

}  // namespace
}  // namespace funkhaus
