// NetHarness and VideoSource.
#include "net_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
}

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

#include "funkhaus/common/channel.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/net_state_page.h"
#include "funkhaus/common/packet_ring.h"

extern char** environ;

namespace funkhaus::test {

namespace {

uint16_t boundPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

UniqueFd bindUdp(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  return fd;
}

}  // namespace

Result<std::unique_ptr<NetHarness>> NetHarness::create(uint64_t ring_capacity) {
  std::unique_ptr<NetHarness> h(new NetHarness());
  h->listen_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(h->listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(h->listen_.get(), 64) != 0)
    return makeError("RTSP socket: {}", std::strerror(errno));
  h->rtsp_port_ = boundPort(h->listen_.get());
  // An even port whose successor is free too.
  std::mt19937 rng(static_cast<unsigned>(getpid() ^ monotonicNs()));
  for (int attempt = 0; attempt < 200 && !h->rtcp_.valid(); ++attempt) {
    const auto port = static_cast<uint16_t>(20000 + 2 * (rng() % 15000));
    UniqueFd rtp = bindUdp(port);
    if (!rtp.valid()) continue;
    UniqueFd rtcp = bindUdp(static_cast<uint16_t>(port + 1));
    if (!rtcp.valid()) continue;
    h->rtp_ = std::move(rtp);
    h->rtcp_ = std::move(rtcp);
    h->rtp_port_ = port;
  }
  if (!h->rtcp_.valid()) return makeError("no free even UDP port pair");

  auto page = createNetStatePage();
  if (!page) return page.error();
  h->page_.emplace(std::move(*page));

  PacketRingConfig config;
  config.name = "net-test-packets";
  config.capacity = ring_capacity;
  config.max_record_size = static_cast<uint32_t>(ring_capacity / 4);
  auto ring = createPacketRing(config);
  if (!ring) return ring.error();
  h->ring_.emplace(std::move(*ring));

  auto status = SharedMemory::create("net-status", sizeof(abi::WorkerStatusPage));
  if (!status) return status.error();
  auto* s = reinterpret_cast<abi::WorkerStatusPage*>(status->data());
  s->magic = abi::kStatusPageMagic;
  s->abi_version = abi::kAbiVersion;
  s->header_size = sizeof(abi::WorkerStatusPage);
  s->kind = static_cast<uint32_t>(abi::WorkerKind::kNet);
  h->status_.emplace(std::move(*status));
  return h;
}

NetHarness::~NetHarness() {
  if (pid_ > 0) kill9();
  joinThreads();
}

std::string NetHarness::url(const std::string& path) const {
  return "rtsp://127.0.0.1:" + std::to_string(rtsp_port_) + path;
}

void NetHarness::joinThreads() {
  stop_threads_.store(true);
  if (channel_thread_.joinable()) channel_thread_.join();
  if (log_thread_.joinable()) log_thread_.join();
  stop_threads_.store(false);
}

Result<void> NetHarness::start(const std::vector<std::string>& args, int timeout_ms) {
  if (pid_ > 0) return makeError("a net is running already");
  joinThreads();
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return makeError("socketpair: {}", std::strerror(errno));
  UniqueFd ours(pair[0]), theirs(pair[1]);
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) return makeError("pipe: {}", std::strerror(errno));
  UniqueFd err_read(err[0]), err_write(err[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), 3);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  std::vector<std::string> all = {FUNKHAUS_NET_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(&pid_, FUNKHAUS_NET_BINARY, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return makeError("posix_spawn: {}", std::strerror(rc));
  theirs.reset();
  err_write.reset();
  log_thread_ = std::thread([this, fd = err_read.release()] { logLoop(fd); });

  // hello
  pollfd pfd{ours.get(), POLLIN, 0};
  if (poll(&pfd, 1, timeout_ms) <= 0) return makeError("no hello from funkhaus-net");
  auto hello = receiveMessage(ours.get());
  if (!hello || !hello->has_value() || !std::holds_alternative<HelloMessage>(**hello))
    return makeError("first message was not a hello");
  // ring fds: status page, packet ring, page, sockets, then the kept viewer sockets
  std::vector<std::pair<abi::FdRole, std::pair<uint32_t, int>>> fds = {
      {abi::FdRole::kStatusPage, {0, status_->fd()}},
      {abi::FdRole::kRingIn, {static_cast<uint32_t>(abi::RingId::kVideoPackets), ring_->fd()}},
      {abi::FdRole::kNetState, {0, page_->fd()}},
      {abi::FdRole::kEndpoint, {abi::kEndpointRtspListen, listen_.get()}},
      {abi::FdRole::kEndpoint, {abi::kEndpointRtspRtp, rtp_.get()}},
      {abi::FdRole::kEndpoint, {abi::kEndpointRtspRtcp, rtcp_.get()}},
  };
  {
    std::lock_guard lock(mutex_);
    for (auto& [slot, fd] : kept_) fds.push_back({abi::FdRole::kConnection, {slot, fd.get()}});
  }
  for (size_t at = 0; at < fds.size(); at += abi::kMaxMessageFds) {
    RingFdsMessage m;
    for (size_t i = at; i < fds.size() && i < at + abi::kMaxMessageFds; ++i) {
      m.roles.push_back(fds[i].first);
      m.tags.push_back(fds[i].second.first);
      m.fds.emplace_back(fcntl(fds[i].second.second, F_DUPFD_CLOEXEC, 0));
    }
    m.last = at + abi::kMaxMessageFds >= fds.size();
    if (auto sent = sendMessage(ours.get(), Message(std::move(m))); !sent) return sent.error();
  }
  channel_ = std::move(ours);
  ready_.store(false);
  channel_thread_ = std::thread([this] { channelLoop(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!ready_.load()) {
    if (std::chrono::steady_clock::now() > deadline) return makeError("funkhaus-net not ready");
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return makeError("funkhaus-net exited during start (status {})", status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {};
}

void NetHarness::channelLoop() {
  while (!stop_threads_.load()) {
    pollfd p{channel_.get(), POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    auto m = receiveMessage(channel_.get());
    if (!m || !m->has_value()) return;  // the net is gone (or sent garbage)
    if (std::holds_alternative<ReadyMessage>(**m)) {
      ready_.store(true);
    } else if (auto* e = std::get_if<EventMessage>(&**m)) {
      if (e->body.event == static_cast<uint32_t>(abi::Event::kKeyframeRequest)) {
        ++keyframe_requests;
        if (on_keyframe_request) on_keyframe_request();
      }
    } else if (auto* d = std::get_if<ConnectionDepositMessage>(&**m)) {
      ++deposits;
      std::lock_guard lock(mutex_);
      kept_[d->slot] = std::move(d->fd);
    } else if (auto* r = std::get_if<ConnectionReleaseMessage>(&**m)) {
      ++releases;
      std::lock_guard lock(mutex_);
      kept_.erase(r->slot);
    }
  }
}

void NetHarness::logLoop(int raw) {
  UniqueFd fd(raw);
  std::string partial;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    partial.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
      std::string line = partial.substr(0, nl);
      partial.erase(0, nl + 1);
      std::fprintf(stderr, "    [funkhaus-net] %s\n", line.c_str());
      std::lock_guard lock(mutex_);
      log_.push_back(std::move(line));
    }
  }
}

size_t NetHarness::keptSockets() {
  std::lock_guard lock(mutex_);
  return kept_.size();
}

std::vector<std::string> NetHarness::logLines() {
  std::lock_guard lock(mutex_);
  return log_;
}

bool NetHarness::waitForLog(const std::string& text, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& line : logLines())
      if (line.find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void NetHarness::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  joinThreads();
  channel_.reset();
}

int NetHarness::waitExit(int timeout_ms) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      joinThreads();
      channel_.reset();
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

int NetHarness::stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  (void)sendMessage(channel_.get(),
                    CommandMessage{{static_cast<uint32_t>(abi::Command::kStop), 0, 0}});
  return waitExit(timeout_ms);
}

// ---------------------------------------------------------------------------------------------

namespace {

struct Encoder {
  AVCodecContext* ctx = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  ~Encoder() {
    av_packet_free(&packet);
    av_frame_free(&frame);
    avcodec_free_context(&ctx);
  }
};

Result<std::unique_ptr<Encoder>> openEncoder(int width, int height, int fps, uint32_t which = 1) {
  av_log_set_level(AV_LOG_ERROR);
  auto e = std::make_unique<Encoder>();
  const char* name = which == 2 ? "libx265" : "libx264";
  const AVCodec* codec = avcodec_find_encoder_by_name(name);
  if (codec == nullptr) return makeError("libavcodec has no {}", name);
  e->ctx = avcodec_alloc_context3(codec);
  e->ctx->width = width;
  e->ctx->height = height;
  e->ctx->pix_fmt = AV_PIX_FMT_YUV420P;
  e->ctx->time_base = AVRational{1, fps};
  e->ctx->framerate = AVRational{fps, 1};
  e->ctx->max_b_frames = 0;
  e->ctx->gop_size = -1;  // keyint from x264-params: infinite
  e->ctx->bit_rate = static_cast<int64_t>(width) * height * fps / 8;
  av_opt_set(e->ctx->priv_data, "preset", "ultrafast", 0);
  av_opt_set(e->ctx->priv_data, "tune", "zerolatency", 0);
  av_opt_set(e->ctx->priv_data, "forced-idr", "1", 0);
  if (which == 2)
    av_opt_set(e->ctx->priv_data, "x265-params",
               "keyint=-1:scenecut=0:repeat-headers=1:log-level=error", 0);
  else
    av_opt_set(e->ctx->priv_data, "x264-params", "keyint=infinite:scenecut=0:repeat-headers=1", 0);
  if (avcodec_open2(e->ctx, codec, nullptr) < 0) return makeError("cannot open libx264");
  e->frame = av_frame_alloc();
  e->frame->format = AV_PIX_FMT_YUV420P;
  e->frame->width = width;
  e->frame->height = height;
  if (av_frame_get_buffer(e->frame, 0) < 0) return makeError("frame buffer");
  e->packet = av_packet_alloc();
  return e;
}

void drawPattern(AVFrame* f, int index) {
  av_frame_make_writable(f);
  for (int y = 0; y < f->height; ++y)
    for (int x = 0; x < f->width; ++x)
      f->data[0][y * f->linesize[0] + x] = static_cast<uint8_t>((x + y + index * 4) & 0xFF);
  // A bright box moving across, so every frame differs.
  const int bx = (index * 5) % std::max(1, f->width - 32), by = f->height / 3;
  for (int y = by; y < by + 32 && y < f->height; ++y)
    for (int x = bx; x < bx + 32; ++x) f->data[0][y * f->linesize[0] + x] = 235;
  for (int p = 1; p < 3; ++p)
    for (int y = 0; y < f->height / 2; ++y)
      std::memset(f->data[p] + y * f->linesize[p], 128 + (p == 1 ? index % 32 : 0), f->width / 2);
}

// Encodes one frame; calls `out(data, size, keyframe)` for every packet that comes out.
template <class Out>
bool encodeOne(Encoder& e, int index, bool idr, Out&& out) {
  drawPattern(e.frame, index);
  e.frame->pts = index;
  e.frame->pict_type = idr ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
  if (avcodec_send_frame(e.ctx, e.frame) < 0) return false;
  while (avcodec_receive_packet(e.ctx, e.packet) == 0) {
    out(e.packet->data, static_cast<size_t>(e.packet->size),
        (e.packet->flags & AV_PKT_FLAG_KEY) != 0);
    av_packet_unref(e.packet);
  }
  return true;
}

}  // namespace

std::vector<std::vector<uint8_t>> encodeH264Frames(int width, int height, int count,
                                                   bool first_keyframe) {
  std::vector<std::vector<uint8_t>> out;
  auto e = openEncoder(width, height, 30);
  if (!e) return out;
  for (int i = 0; i < count; ++i)
    encodeOne(**e, i, first_keyframe && i == 0,
              [&](const uint8_t* d, size_t n, bool) { out.emplace_back(d, d + n); });
  return out;
}

VideoSource::VideoSource(int ring_fd, int width, int height, int fps, uint32_t codec)
    : ring_fd_(ring_fd), width_(width), height_(height), fps_(fps), codec_(codec) {}

VideoSource::~VideoSource() { stop(); }

Result<void> VideoSource::start() {
  auto probe = openEncoder(width_, height_, fps_, codec_);
  if (!probe) return probe.error();
  thread_ = std::thread([this] { run(); });
  return {};
}

void VideoSource::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void VideoSource::run() {
  auto shm = SharedMemory::attachDup(ring_fd_);
  if (!shm) return;
  auto producer = PacketProducer::attach(std::move(*shm));
  auto e = openEncoder(width_, height_, fps_, codec_);
  if (!producer || !e) return;
  const auto period = std::chrono::nanoseconds(1'000'000'000 / fps_);
  auto next = std::chrono::steady_clock::now();
  for (int index = 0; !stop_.load(); ++index) {
    const bool idr = keyframe_.exchange(false);
    encodeOne(**e, index, idr, [&](const uint8_t* d, size_t n, bool key) {
      PacketMeta meta;
      meta.frame_number = static_cast<uint64_t>(index);
      meta.capture_time_ns = monotonicNs();
      meta.flags = key ? abi::kRecordFlagKeyframe : 0;
      meta.codec = codec_;
      producer->push(meta, std::span(reinterpret_cast<const std::byte*>(d), n));
      ++frames_;
      if (key) ++keyframes_;
    });
    next += period;
    std::this_thread::sleep_until(next);
  }
}

}  // namespace funkhaus::test
