// The worker table and the session plan built from its edges.
#include "funkhaus/supervisor/worker_table.h"

#include <gtest/gtest.h>

#include <set>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/abi/input_ring.h"
#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/session_plan.h"

namespace funkhaus::supervisor {
namespace {

Config smallConfig(const std::string& source) {
  auto c = parseConfig(
      "[rings]\nmax_width = 320\nmax_height = 180\npacket_ring_kib = 256\n"
      "[capture]\nwidth = 320\nheight = 180\nsource = \"" +
          source +
          "\"\n[vdisplay]\nwidth = 640\nheight = 480\nfb_width = 640\n"
          "fb_height = 480\n",
      "t.toml");
  EXPECT_TRUE(c.ok()) << c.error().message;
  return *c;
}

std::set<std::pair<abi::FdRole, uint32_t>> rolesOf(const std::vector<HandedFd>& fds) {
  std::set<std::pair<abi::FdRole, uint32_t>> out;
  for (const HandedFd& f : fds) {
    EXPECT_GE(f.fd, 0);
    out.insert({f.role, f.tag});
  }
  return out;
}

constexpr uint32_t tag(abi::RingId id) { return static_cast<uint32_t>(id); }

TEST(WorkerTable, RowsAreUniqueAndEveryEdgeHasItsOtherEnd) {
  std::set<std::string_view> names, binaries;
  std::set<abi::WorkerKind> kinds;
  std::vector<std::string> all;
  for (const WorkerSpec& w : workerTable()) {
    EXPECT_TRUE(names.insert(w.name).second) << w.name;
    EXPECT_TRUE(binaries.insert(w.binary).second) << w.binary;
    EXPECT_TRUE(kinds.insert(w.kind).second) << w.name;
    EXPECT_TRUE(acceptsCommand(w, abi::Command::kStop)) << w.name << " must take kStop";
    EXPECT_NE(w.args, nullptr) << w.name;
    all.emplace_back(w.name);
  }
  for (const WorkerSpec& w : workerTable()) {
    for (const RingEdge& e : w.edges) {
      const WorkerSpec* other = e.direction == EdgeDirection::kIn
                                    ? producerOf(e.ring, all, nullptr)
                                    : consumerOf(e.ring, all, nullptr);
      EXPECT_NE(other, nullptr) << w.name << " ring " << tag(e.ring) << " has no other end";
    }
    for (const EventRoute& r : w.events)
      if (r.action == EventAction::kCommandRingConsumer ||
          r.action == EventAction::kCommandRingProducer) {
        const WorkerSpec* target = r.action == EventAction::kCommandRingConsumer
                                       ? consumerOf(r.ring, all, nullptr)
                                       : producerOf(r.ring, all, nullptr);
        ASSERT_NE(target, nullptr) << w.name;
        EXPECT_TRUE(acceptsCommand(*target, r.command)) << target->name;
      }
  }
  EXPECT_EQ(findWorker("gpu"), nullptr);
  EXPECT_EQ(workerNames(), "vdisplay, capture, encode, net, input, audio, web, console");
  EXPECT_EQ(workerNames(", ", " or ", Scope::kSession),
            "vdisplay, capture, encode, net, input or audio");
  EXPECT_EQ(defaultWorkers(), (std::vector<std::string>{"capture", "encode", "net"}))
      << "host rows never join a session";
}

TEST(WorkerTable, KeyframeRequestsGoToTheConsumerOfTheFrameRing) {
  const Config c = smallConfig("synthetic");
  const WorkerSpec* net = findWorker("net");
  ASSERT_NE(net, nullptr);
  const EventRoute* route = routeOf(*net, abi::Event::kKeyframeRequest);
  ASSERT_NE(route, nullptr);
  ASSERT_EQ(route->action, EventAction::kCommandRingConsumer);
  const WorkerSpec* target = consumerOf(route->ring, c.workers, &c);
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(target->kind, abi::WorkerKind::kEncode);
  EXPECT_EQ(route->command, abi::Command::kKeyframe);
  EXPECT_EQ(routeOf(*findWorker("encode"), abi::Event::kKeyframeRequest), nullptr)
      << "only the rows that list an event may send it";
}

TEST(WorkerTable, NetGetsTheRtspDigestInItsEnvironmentOnlyWithAPassword) {
  auto c = parseConfig("[net]\nrtsp_user = \"tv\"\nrtsp_password = \"correct horse\"\n", "t.toml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  // MD5("tv:funkhaus:correct horse"), computed with Python's hashlib.
  EXPECT_EQ(rtspDigestCredentials(*c), "tv:44fc23bc65cffbe8a32e8dd06f06381f");
  EXPECT_EQ(workerEnvironment("net", *c),
            std::vector<std::string>{"FUNKHAUS_RTSP_DIGEST=tv:44fc23bc65cffbe8a32e8dd06f06381f"});
  EXPECT_TRUE(workerEnvironment("encode", *c).empty());
  for (const std::string& a : workerArgs("net", *c))
    EXPECT_EQ(a.find("44fc23bc"), std::string::npos) << "never on the command line";
  const Config open = smallConfig("synthetic");
  EXPECT_EQ(rtspDigestCredentials(open), "");
  EXPECT_TRUE(workerEnvironment("net", open).empty());
}

TEST(SessionPlan, RingsComeFromTheEdgesOfTheSessionsWorkers) {
  const Config synthetic = smallConfig("synthetic");
  auto plan = SessionPlan::create(synthetic, synthetic.workers);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->rings().size(), 2u);
  EXPECT_EQ(plan->ring(abi::RingId::kDisplay), nullptr) << "no driver ring without the driver";
  ASSERT_NE(plan->ring(abi::RingId::kFrames), nullptr);
  ASSERT_NE(plan->ring(abi::RingId::kVideoPackets), nullptr);
  EXPECT_EQ(
      reinterpret_cast<const abi::FrameRingHeader*>(plan->ring(abi::RingId::kFrames)->memory.data())
          ->magic,
      abi::kFrameRingMagic);
  EXPECT_EQ(rolesOf(plan->ringFds(*findWorker("encode"))),
            (std::set<std::pair<abi::FdRole, uint32_t>>{
                {abi::FdRole::kRingIn, tag(abi::RingId::kFrames)},
                {abi::FdRole::kRingOut, tag(abi::RingId::kVideoPackets)}}));
  EXPECT_EQ(rolesOf(plan->ringFds(*findWorker("capture"))),
            (std::set<std::pair<abi::FdRole, uint32_t>>{
                {abi::FdRole::kRingOut, tag(abi::RingId::kFrames)}}));

  Config display = smallConfig("vdisplay");
  display.workers = {"vdisplay", "capture", "encode", "net"};
  auto with_driver = SessionPlan::create(display, display.workers);
  ASSERT_TRUE(with_driver.ok()) << with_driver.error().message;
  EXPECT_EQ(with_driver->rings().size(), 3u);
  const PlannedRing* leased = with_driver->leasedRing(*findWorker("vdisplay"));
  ASSERT_NE(leased, nullptr);
  EXPECT_EQ(leased->id, abi::RingId::kDisplay);
  EXPECT_TRUE(with_driver->ringFds(*findWorker("vdisplay")).empty())
      << "the driver gets its ring with the lease, not the hand-over";
  EXPECT_EQ(rolesOf(with_driver->ringFds(*findWorker("capture"))),
            (std::set<std::pair<abi::FdRole, uint32_t>>{
                {abi::FdRole::kRingIn, tag(abi::RingId::kDisplay)},
                {abi::FdRole::kRingOut, tag(abi::RingId::kFrames)}}));

  Config only_net = synthetic;
  only_net.workers = {"net"};
  auto net_plan = SessionPlan::create(only_net, only_net.workers);
  ASSERT_TRUE(net_plan.ok());
  EXPECT_EQ(net_plan->rings().size(), 1u) << "only the rings the set's edges touch";

  // The input ring is there only with its reader: net's input goes nowhere without it.
  Config with_input = synthetic;
  with_input.workers = {"capture", "encode", "net", "input"};
  auto input_plan = SessionPlan::create(with_input, with_input.workers);
  ASSERT_TRUE(input_plan.ok()) << input_plan.error().message;
  ASSERT_NE(input_plan->ring(abi::RingId::kInput), nullptr);
  EXPECT_EQ(reinterpret_cast<const abi::InputRingHeader*>(
                input_plan->ring(abi::RingId::kInput)->memory.data())
                ->magic,
            abi::kInputRingMagic);
  EXPECT_EQ(rolesOf(input_plan->ringFds(*findWorker("net"))),
            (std::set<std::pair<abi::FdRole, uint32_t>>{
                {abi::FdRole::kRingIn, tag(abi::RingId::kVideoPackets)},
                {abi::FdRole::kRingOut, tag(abi::RingId::kInput)}}));
  EXPECT_EQ(rolesOf(input_plan->ringFds(*findWorker("input"))),
            (std::set<std::pair<abi::FdRole, uint32_t>>{
                {abi::FdRole::kRingIn, tag(abi::RingId::kInput)}}));
}

TEST(WorkerTable, AudioRequestsGoStickyToTheProducerOfTheAudioRing) {
  const WorkerSpec* net = findWorker("net");
  const WorkerSpec* audio = findWorker("audio");
  ASSERT_NE(net, nullptr);
  ASSERT_NE(audio, nullptr);
  EXPECT_EQ(audio->kind, abi::WorkerKind::kAudio);
  EXPECT_EQ(audio->binary, "funkhaus-audio");
  EXPECT_TRUE(audio->sound_server);
  EXPECT_TRUE(acceptsCommand(*audio, abi::Command::kSetAudio));
  const EventRoute* route = routeOf(*net, abi::Event::kAudioRequest);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->action, EventAction::kCommandRingProducer);
  EXPECT_EQ(route->ring, abi::RingId::kAudioPackets);
  EXPECT_EQ(route->command, abi::Command::kSetAudio);
  EXPECT_TRUE(route->sticky) << "a restarted audio worker must hear who listens";
  const std::vector<std::string> set = {"capture", "encode", "net", "audio"};
  EXPECT_EQ(producerOf(abi::RingId::kAudioPackets, set, nullptr), audio);
  EXPECT_EQ(consumerOf(abi::RingId::kAudioPackets, set, nullptr), net);
  EXPECT_TRUE(anyUsesSoundServer(set));
  EXPECT_FALSE(anyUsesSoundServer(std::vector<std::string>{"capture", "encode", "net"}));
  EXPECT_EQ(routeOf(*audio, abi::Event::kAudioRequest), nullptr) << "only net asks";
}

TEST(SessionPlan, TheAudioRingIsMadeOnlyWithBothEnds) {
  Config c = smallConfig("synthetic");
  auto without = SessionPlan::create(c, c.workers);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->ring(abi::RingId::kAudioPackets), nullptr) << "no producer";
  EXPECT_FALSE(rolesOf(without->ringFds(*findWorker("net")))
                   .contains({abi::FdRole::kRingIn, tag(abi::RingId::kAudioPackets)}));
  c.workers = {"capture", "audio"};
  auto no_reader = SessionPlan::create(c, c.workers);
  ASSERT_TRUE(no_reader.ok());
  EXPECT_EQ(no_reader->ring(abi::RingId::kAudioPackets), nullptr) << "no consumer";
  EXPECT_TRUE(no_reader->ringFds(*findWorker("audio")).empty());

  c.workers = {"capture", "encode", "net", "audio"};
  auto plan = SessionPlan::create(c, c.workers);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const PlannedRing* ring = plan->ring(abi::RingId::kAudioPackets);
  ASSERT_NE(ring, nullptr);
  EXPECT_EQ(ring->kind, RingKind::kPacket);
  EXPECT_EQ(ring->name, "audio");
  const auto& header = *reinterpret_cast<const abi::PacketRingHeader*>(ring->memory.data());
  EXPECT_EQ(header.magic, abi::kPacketRingMagic);
  EXPECT_EQ(header.capacity, 256u * 1024) << "small: Opus packets of < 1.4 KB at 200/s";
  EXPECT_GE(header.max_record_size, 1500u);
  EXPECT_EQ(rolesOf(plan->ringFds(*findWorker("audio"))),
            (std::set<std::pair<abi::FdRole, uint32_t>>{
                {abi::FdRole::kRingOut, tag(abi::RingId::kAudioPackets)}}));
  EXPECT_EQ(rolesOf(plan->ringFds(*findWorker("net"))),
            (std::set<std::pair<abi::FdRole, uint32_t>>{
                {abi::FdRole::kRingIn, tag(abi::RingId::kVideoPackets)},
                {abi::FdRole::kRingIn, tag(abi::RingId::kAudioPackets)}}));
  EXPECT_NE(plan->ring(abi::RingId::kVideoPackets)->memory.data(), ring->memory.data());
}

TEST(SessionPlan, EachPlanHasFreshRings) {
  const Config c = smallConfig("synthetic");
  auto a = SessionPlan::create(c, c.workers);
  auto b = SessionPlan::create(c, c.workers);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->ring(abi::RingId::kFrames)->memory.data(),
            b->ring(abi::RingId::kFrames)->memory.data());
}

}  // namespace
}  // namespace funkhaus::supervisor
