// FakeSupervisor: funkhausd's side of a worker's channel, played by a test.
#include "funkhaus/test/fake_supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "funkhaus/common/clock.h"

extern char** environ;

namespace funkhaus::test {
namespace {

std::atomic<int> g_counter{0};

int remainingMs(uint64_t deadline_ns) {
  const uint64_t now = monotonicNs();
  return now >= deadline_ns ? 0 : static_cast<int>((deadline_ns - now + 999'999) / 1'000'000);
}

}  // namespace

SharedMemory makeStatusPage(abi::WorkerKind kind) {
  auto page = SharedMemory::create("funkhaus-status-test", sizeof(abi::WorkerStatusPage));
  if (!page) std::abort();  // a test machine without memfd cannot run these tests at all
  auto* s = reinterpret_cast<abi::WorkerStatusPage*>(page->data());
  s->magic = abi::kStatusPageMagic;
  s->abi_version = abi::kAbiVersion;
  s->header_size = sizeof(abi::WorkerStatusPage);
  s->kind = static_cast<uint32_t>(kind);
  return std::move(*page);
}

std::map<std::string, std::string> environmentWith(const std::vector<std::string>& changes) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const std::string& change : changes) {
    const auto eq = change.find('=');
    if (eq == std::string::npos)
      env.erase(change);
    else
      env[change.substr(0, eq)] = change.substr(eq + 1);
  }
  return env;
}

Result<FakeSupervisor> FakeSupervisor::start(Options options) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return makeError("socketpair: {}", std::strerror(errno));
  UniqueFd ours(pair[0]), theirs(pair[1]);
  const std::string log_path = "/tmp/funkhaus-worker-test-" + std::to_string(getpid()) + "-" +
                               std::to_string(g_counter++) + ".log";
  UniqueFd log(open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!log.valid()) return makeError("{}: {}", log_path, std::strerror(errno));
  ChildSpec spec;
  spec.program = options.program;
  spec.args = options.args;
  spec.environment = environmentWith(options.environment);
  spec.fds = {{3, theirs.get()}};
  spec.stdout_fd = log.get();
  spec.drop_privileges = false;  // the test's own user; nothing to drop
  auto process = ChildProcess::spawn(spec);
  if (!process) return process.error();
  return FakeSupervisor(std::move(*process), std::move(ours), makeStatusPage(options.kind),
                        log_path, options.kind);
}

FakeSupervisor::FakeSupervisor(FakeSupervisor&& other) noexcept
    : process_(std::move(other.process_)),
      channel_(std::move(other.channel_)),
      status_page_(std::move(other.status_page_)),
      log_path_(std::exchange(other.log_path_, std::string())),
      kind_(other.kind_),
      events_(std::move(other.events_)),
      connections_(std::move(other.connections_)),
      deposits_(other.deposits_),
      releases_(other.releases_),
      ready_(other.ready_) {
  if (other.listener_.joinable()) std::abort();  // broken invariant: moved while listening
}

FakeSupervisor::~FakeSupervisor() {
  stopListening();
  if (process_.running()) process_.stop(std::chrono::milliseconds(0));
  if (!log_path_.empty()) unlink(log_path_.c_str());
}

void FakeSupervisor::record(Message& message) {
  std::lock_guard lock(mutex_);
  if (auto* e = std::get_if<EventMessage>(&message)) {
    events_.push_back(e->body);
  } else if (auto* d = std::get_if<ConnectionDepositMessage>(&message)) {
    ++deposits_;
    connections_[d->slot] = UniqueFd(fcntl(d->fd.get(), F_DUPFD_CLOEXEC, 0));
  } else if (auto* r = std::get_if<ConnectionReleaseMessage>(&message)) {
    ++releases_;
    connections_.erase(r->slot);
  } else if (std::holds_alternative<ReadyMessage>(message)) {
    ready_ = true;
  }
}

std::optional<Message> FakeSupervisor::receiveOne(int timeout_ms) {
  const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(timeout_ms) * 1'000'000u;
  for (;;) {
    pollfd p{channel_.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, remainingMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    auto m = receiveMessage(channel_.get());
    if (!m || !m->has_value()) return std::nullopt;
    record(**m);
    return std::move(**m);
  }
}

std::optional<Message> FakeSupervisor::receive(std::chrono::milliseconds timeout) {
  return receiveOne(static_cast<int>(timeout.count()));
}

void FakeSupervisor::listen(std::function<void(const Message&)> on_message) {
  stopListening();
  stop_listening_.store(false);
  listener_ = std::thread([this, on_message = std::move(on_message)] {
    while (!stop_listening_.load()) {
      pollfd p{channel_.get(), POLLIN, 0};
      const int n = ::poll(&p, 1, 50);
      if (n <= 0) continue;
      auto m = receiveMessage(channel_.get());
      if (!m || !m->has_value()) return;  // the worker is gone (or sent what it must not)
      record(**m);
      if (on_message) on_message(**m);
    }
  });
}

void FakeSupervisor::stopListening() {
  stop_listening_.store(true);
  if (listener_.joinable()) listener_.join();
}

std::vector<abi::EventBody> FakeSupervisor::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

uint64_t FakeSupervisor::deposits() const {
  std::lock_guard lock(mutex_);
  return deposits_;
}

uint64_t FakeSupervisor::releases() const {
  std::lock_guard lock(mutex_);
  return releases_;
}

void FakeSupervisor::drain(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout) {
  const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(timeout.count()) * 1'000'000u;
  while (monotonicNs() < deadline && receive(quiet)) {
  }
}

Result<void> FakeSupervisor::handOver(const std::vector<Handle>& handles,
                                      std::chrono::milliseconds timeout) {
  auto hello = receive(timeout);
  if (!hello) return makeError("no hello from {}; its log:\n{}", process_.pid(), log());
  const auto* h = std::get_if<HelloMessage>(&*hello);
  if (h == nullptr) return makeError("the first message was not a hello");
  if (h->body.abi_version != abi::kAbiVersion)
    return makeError("hello speaks ABI version {}", h->body.abi_version);
  if (h->body.kind != static_cast<uint32_t>(kind_))
    return makeError("hello names worker kind {}, expected {}", h->body.kind,
                     static_cast<uint32_t>(kind_));
  if (h->body.pid != static_cast<uint32_t>(process_.pid()))
    return makeError("hello names pid {}, the worker is {}", h->body.pid, process_.pid());
  std::vector<Handle> all = {{abi::FdRole::kStatusPage, 0, status_page_.handle()}};
  all.insert(all.end(), handles.begin(), handles.end());
  for (size_t first = 0; first < all.size(); first += abi::kMaxMessageFds) {
    RingFdsMessage m;
    const size_t end = std::min(all.size(), first + abi::kMaxMessageFds);
    for (size_t i = first; i < end; ++i) {
      m.roles.push_back(all[i].role);
      m.tags.push_back(all[i].tag);
      m.fds.emplace_back(fcntl(all[i].fd, F_DUPFD_CLOEXEC, 0));
    }
    m.last = end == all.size();
    if (auto sent = sendMessage(channel_.get(), Message(std::move(m))); !sent) return sent;
  }
  return {};
}

Result<void> FakeSupervisor::waitReady(std::chrono::milliseconds timeout) {
  const uint64_t deadline = monotonicNs() + static_cast<uint64_t>(timeout.count()) * 1'000'000u;
  while (!ready_) {
    const int left = remainingMs(deadline);
    if (left == 0 || !receive(std::chrono::milliseconds(left)))
      return makeError("no ready from pid {} ({}); its log:\n{}", process_.pid(),
                       process_.poll() ? describeExit(*process_.exitStatus()) : "running", log());
  }
  return {};
}

Result<void> FakeSupervisor::connect(const std::vector<Handle>& handles,
                                     std::chrono::milliseconds timeout) {
  if (auto handed = handOver(handles, timeout); !handed) return handed;
  return waitReady(timeout);
}

Result<void> FakeSupervisor::send(abi::Command command, uint64_t arg) {
  return sendMessage(channel_.get(), CommandMessage{{static_cast<uint32_t>(command), 0, arg}});
}

ExitStatus FakeSupervisor::kill9() {
  stopListening();
  process_.signal(SIGKILL);
  return process_.stop(std::chrono::milliseconds(0));
}

std::optional<ExitStatus> FakeSupervisor::stop(std::chrono::milliseconds timeout) {
  (void)send(abi::Command::kStop);
  return waitExit(timeout);
}

std::optional<ExitStatus> FakeSupervisor::waitExit(std::chrono::milliseconds timeout) {
  auto exit = process_.wait(timeout);
  if (exit) stopListening();
  return exit;
}

std::string FakeSupervisor::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace funkhaus::test
