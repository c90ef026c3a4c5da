// The owner cleans up: funkhausd, after reaping a worker, releases that worker's ring roles and
// slots itself (releaseFrameRingPeer, releasePacketRingPeer), so its successor attaches at once
// — also when the dead worker's pid number already belongs to another, live process. Real
// processes: a worker that dies holding a slot, and a live process with the dead one's number.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/abi/keyed_mutex_word.h"
#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"

namespace funkhaus {
namespace {

SharedMemory frameRing() {
  FrameRingConfig c;
  c.slot_count = 3;
  auto mode = makeGeometry(abi::PixelFormat::kI420, 64, 32);
  EXPECT_TRUE(mode.ok());
  c.mode = *mode;
  auto ring = createFrameRing(c);
  EXPECT_TRUE(ring.ok()) << ring.error().message;
  return std::move(*ring);
}

abi::FrameRingHeader& header(const SharedMemory& ring) {
  return *reinterpret_cast<abi::FrameRingHeader*>(ring.data());
}

uint32_t& slotWord(const SharedMemory& ring, uint32_t index) {
  const auto& h = header(ring);
  return reinterpret_cast<abi::FrameSlotHeader*>(ring.data() + h.slots_offset +
                                                 index * h.slot_stride)
      ->mutex;
}

// A child that attaches as the producer, takes a slot to write into and reports "ready" on a
// pipe, then waits to be killed: a worker that dies holding a slot.
pid_t producerHoldingASlot(const SharedMemory& ring) {
  int ready[2];
  if (pipe(ready) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    auto shm = SharedMemory::attachDup(ring.handle());
    if (!shm) _exit(10);
    auto producer = FrameProducer::attach(std::move(*shm));
    if (!producer) _exit(11);
    if (!producer->beginFrame()) _exit(12);
    const char c = 'r';
    if (write(ready[1], &c, 1) != 1) _exit(13);
    for (;;) pause();
  }
  close(ready[1]);
  char c = 0;
  const bool ok = read(ready[0], &c, 1) == 1;
  close(ready[0]);
  if (!ok) {
    int status = 0;
    waitpid(pid, &status, 0);
    ADD_FAILURE() << "producer child failed: exit " << WEXITSTATUS(status);
    return -1;
  }
  return pid;
}

// A live process that has nothing to do with the ring: its pid stands for a reused number.
pid_t liveStranger() {
  const pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  return pid;
}

SharedMemory mapAgain(const SharedMemory& ring) {
  auto shm = SharedMemory::attachDup(ring.handle());
  if (!shm) std::abort();
  return std::move(*shm);
}

void killAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST(RingOwner, ReapedProducerHoldingASlotIsReleasedAndItsSuccessorAttaches) {
  SharedMemory ring = frameRing();
  const pid_t dead = producerHoldingASlot(ring);
  ASSERT_GT(dead, 0);
  killAndReap(dead);  // funkhausd reaps its worker: the pid is certainly gone now
  EXPECT_EQ(abi::atomicLoad(header(ring).producer_pid), static_cast<uint32_t>(dead));
  uint32_t held = 0;
  for (uint32_t i = 0; i < 3; ++i)
    held += (abi::atomicLoad(slotWord(ring, i)) & abi::kMutexHeld) != 0 ? 1 : 0;
  ASSERT_EQ(held, 1u) << "the dead producer held one slot";

  auto released = releaseFrameRingPeer(ring, static_cast<uint32_t>(dead));
  ASSERT_TRUE(released.ok()) << released.error().message;
  EXPECT_EQ(*released, 1u);
  EXPECT_EQ(abi::atomicLoad(header(ring).producer_pid), 0u);
  EXPECT_EQ(abi::atomicLoad(header(ring).abandoned), 1u);
  for (uint32_t i = 0; i < 3; ++i)
    EXPECT_EQ(abi::atomicLoad(slotWord(ring, i)), abi::kKeyEmpty) << "slot " << i;

  auto successor = FrameProducer::attach(mapAgain(ring));
  ASSERT_TRUE(successor.ok()) << successor.error().message;
  EXPECT_EQ(successor->recoverAbandonedSlots(), 0u) << "nothing was left for the successor";
  for (int i = 0; i < 3; ++i) {
    auto slot = successor->beginFrame();
    ASSERT_TRUE(slot.has_value()) << "slot " << i << " of 3 is free for the successor";
    successor->publish(*slot, {});
  }
  EXPECT_EQ(abi::atomicLoad(header(ring).overwritten), 0u) << "three empty slots, none taken over";
  EXPECT_EQ(abi::atomicLoad(header(ring).abandoned), 1u) << "only the owner's release counted";
}

TEST(RingOwner, ADeadWorkersPidReusedByALiveProcessNoLongerBlocksItsSuccessor) {
  SharedMemory ring = frameRing();
  // The dead consumer's number now belongs to a live stranger: as the ring sees it, a live
  // consumer is attached and holds a slot.
  const pid_t stranger = liveStranger();
  ASSERT_GT(stranger, 0);
  const auto reused = static_cast<uint32_t>(stranger);
  abi::atomicRef(header(ring).consumer_pid).store(reused);
  abi::atomicRef(slotWord(ring, 1)).store(abi::kMutexHeld | reused);

  auto before = FrameConsumer::attach(mapAgain(ring));
  ASSERT_FALSE(before.ok()) << "a live pid in the role blocks an attach by liveness";
  EXPECT_NE(before.error().message.find("already attached"), std::string::npos)
      << before.error().message;

  // funkhausd reaped the worker that had this number, so it releases by what it knows.
  auto released = releaseFrameRingPeer(ring, reused);
  ASSERT_TRUE(released.ok()) << released.error().message;
  EXPECT_EQ(*released, 1u);
  auto successor = FrameConsumer::attach(mapAgain(ring));
  EXPECT_TRUE(successor.ok()) << successor.error().message;
  EXPECT_EQ(abi::atomicLoad(slotWord(ring, 1)), abi::kKeyEmpty);
  killAndReap(stranger);
}

TEST(RingOwner, PacketRingRolesOfAReusedPidAreReleased) {
  PacketRingConfig c;
  c.capacity = 64 * 1024;
  c.max_record_size = 16 * 1024;
  auto ring = createPacketRing(c);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  auto& h = *reinterpret_cast<abi::PacketRingHeader*>(ring->data());
  const pid_t stranger = liveStranger();
  ASSERT_GT(stranger, 0);
  const auto reused = static_cast<uint32_t>(stranger);
  abi::atomicRef(h.producer_pid).store(reused);
  abi::atomicRef(h.consumer_pid).store(reused);
  EXPECT_FALSE(PacketProducer::attach(mapAgain(*ring)).ok());
  ASSERT_TRUE(releasePacketRingPeer(*ring, reused).ok());
  EXPECT_TRUE(PacketProducer::attach(mapAgain(*ring)).ok());
  EXPECT_TRUE(PacketConsumer::attach(mapAgain(*ring)).ok());
  killAndReap(stranger);
}

TEST(RingOwner, ReleaseLeavesOtherHoldersAlone) {
  SharedMemory ring = frameRing();
  const auto self = static_cast<uint32_t>(getpid());
  abi::atomicRef(slotWord(ring, 0)).store(abi::kMutexHeld | self);
  auto released = releaseFrameRingPeer(ring, self + 1);
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(*released, 0u);
  EXPECT_EQ(abi::atomicLoad(slotWord(ring, 0)), abi::kMutexHeld | self);
}

TEST(RingOwner, AScribbledHeaderIsRefusedNotTrusted) {
  SharedMemory ring = frameRing();
  header(ring).slot_count = 1000;  // a peer wrote nonsense
  auto released = releaseFrameRingPeer(ring, 12345);
  ASSERT_FALSE(released.ok());
  EXPECT_NE(released.error().message.find("slot"), std::string::npos) << released.error().message;
}

}  // namespace
}  // namespace funkhaus
