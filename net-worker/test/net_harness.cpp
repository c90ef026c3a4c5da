// NetHarness and VideoSource.
#include "net_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
}

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>

#include "funkhaus/common/channel.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/net_state_page.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/net/protocol_declarations.h"

namespace funkhaus::test {

namespace {

uint16_t boundPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

UniqueFd bindUdp(uint16_t port, uint32_t address) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(address);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  return fd;
}

}  // namespace

Result<std::unique_ptr<NetHarness>> NetHarness::create(uint64_t ring_capacity, bool every_address) {
  NetHarnessConfig config;
  config.ring_capacity = ring_capacity;
  config.every_address = every_address;
  return create(config);
}

Result<std::unique_ptr<NetHarness>> NetHarness::create(const NetHarnessConfig& harness) {
  const uint64_t ring_capacity = harness.ring_capacity;
  const bool every_address = harness.every_address;
  const uint32_t address = every_address ? INADDR_ANY : INADDR_LOOPBACK;
  std::unique_ptr<NetHarness> h(new NetHarness());
  h->listen_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(address);
  if (bind(h->listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(h->listen_.get(), 64) != 0)
    return makeError("RTSP socket: {}", std::strerror(errno));
  h->rtsp_port_ = boundPort(h->listen_.get());
  // An even port whose successor is free too.
  std::mt19937 rng(static_cast<unsigned>(getpid() ^ monotonicNs()));
  for (int attempt = 0; attempt < 200 && !h->rtcp_.valid(); ++attempt) {
    const auto port = static_cast<uint16_t>(20000 + 2 * (rng() % 15000));
    UniqueFd rtp = bindUdp(port, address);
    if (!rtp.valid()) continue;
    UniqueFd rtcp = bindUdp(static_cast<uint16_t>(port + 1), address);
    if (!rtcp.valid()) continue;
    h->rtp_ = std::move(rtp);
    h->rtcp_ = std::move(rtcp);
    h->rtp_port_ = port;
  }
  if (!h->rtcp_.valid()) return makeError("no free even UDP port pair");

  if (harness.gamestream) {
    h->gs_listen_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (bind(h->gs_listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(h->gs_listen_.get(), 64) != 0)
      return makeError("GameStream RTSP socket: {}", std::strerror(errno));
    h->gs_rtsp_port_ = boundPort(h->gs_listen_.get());
    // Video, control and audio on three consecutive ports.
    for (int attempt = 0; attempt < 200 && !h->gs_audio_.valid(); ++attempt) {
      const auto port = static_cast<uint16_t>(20000 + rng() % 30000);
      UniqueFd video = bindUdp(port, address);
      if (!video.valid()) continue;
      UniqueFd control = bindUdp(static_cast<uint16_t>(port + 1), address);
      if (!control.valid()) continue;
      UniqueFd audio = bindUdp(static_cast<uint16_t>(port + 2), address);
      if (!audio.valid()) continue;
      h->gs_video_ = std::move(video);
      h->gs_control_ = std::move(control);
      h->gs_audio_ = std::move(audio);
      h->gs_video_port_ = port;
    }
    if (!h->gs_audio_.valid()) return makeError("no three free consecutive UDP ports");
  }

  auto page = harness.gamestream ? createNetStatePage(net::blobRequests(net::kNetProtocols))
                                 : createNetStatePage(net::blobRequests());
  if (!page) return page.error();
  h->page_.emplace(std::move(*page));

  PacketRingConfig config;
  config.name = "net-test-packets";
  config.capacity = ring_capacity;
  config.max_record_size = static_cast<uint32_t>(ring_capacity / 4);
  auto ring = createPacketRing(config);
  if (!ring) return ring.error();
  h->ring_.emplace(std::move(*ring));
  if (harness.audio) {
    PacketRingConfig audio_config;
    audio_config.name = "net-test-audio";
    audio_config.capacity = 256u << 10;
    audio_config.max_record_size = 16u << 10;
    auto audio_ring = createPacketRing(audio_config);
    if (!audio_ring) return audio_ring.error();
    h->audio_ring_.emplace(std::move(*audio_ring));
  }
  return h;
}

void NetHarness::publishLaunch(const abi::GamestreamLaunch& launch) {
  abi::GamestreamState& blob = gamestream();
  std::atomic_ref<uint64_t> sequence(blob.launch.sequence);
  const uint64_t next = (sequence.load() | 1) + 1;
  sequence.store(next - 1);  // odd: being written
  abi::GamestreamLaunch copy = launch;
  copy.sequence = next - 1;
  std::memcpy(reinterpret_cast<unsigned char*>(&blob.launch) + sizeof(uint64_t),
              reinterpret_cast<const unsigned char*>(&copy) + sizeof(uint64_t),
              sizeof copy - sizeof(uint64_t));
  sequence.store(next);
}

std::vector<uint64_t> NetHarness::audioRequests() {
  std::lock_guard lock(mutex_);
  return audio_requests_;
}

std::optional<uint64_t> NetHarness::lastAudioRequest() {
  std::lock_guard lock(mutex_);
  if (audio_requests_.empty()) return std::nullopt;
  return audio_requests_.back();
}

NetHarness::~NetHarness() { kill9(); }

std::string NetHarness::url(const std::string& path, const std::string& host) const {
  return "rtsp://" + host + ":" + std::to_string(rtsp_port_) + path;
}

Result<void> NetHarness::start(const std::vector<std::string>& args, int timeout_ms,
                               const std::vector<std::string>& environment) {
  if (net_ && net_->process().running()) return makeError("a net is running already");
  net_.reset();
  auto net = FakeSupervisor::start({FUNKHAUS_NET_BINARY, args, abi::WorkerKind::kNet, environment});
  if (!net) return net.error();
  net_.emplace(std::move(*net));
  // What funkhausd hands net: the packet ring, the page, the endpoints, the kept connections.
  std::vector<Handle> handles = {
      {abi::FdRole::kRingIn, static_cast<uint32_t>(abi::RingId::kVideoPackets), ring_->handle()},
      {abi::FdRole::kNetState, 0, page_->handle()},
      {abi::FdRole::kEndpoint, abi::kEndpointRtspListen, listen_.get()},
      {abi::FdRole::kEndpoint, abi::kEndpointRtspRtp, rtp_.get()},
      {abi::FdRole::kEndpoint, abi::kEndpointRtspRtcp, rtcp_.get()},
  };
  if (gs_listen_.valid()) {
    handles.push_back({abi::FdRole::kEndpoint, abi::kEndpointGamestreamRtsp, gs_listen_.get()});
    handles.push_back({abi::FdRole::kEndpoint, abi::kEndpointGamestreamVideo, gs_video_.get()});
    handles.push_back({abi::FdRole::kEndpoint, abi::kEndpointGamestreamControl, gs_control_.get()});
    handles.push_back({abi::FdRole::kEndpoint, abi::kEndpointGamestreamAudio, gs_audio_.get()});
  }
  if (audio_ring_)
    handles.push_back({abi::FdRole::kRingIn, static_cast<uint32_t>(abi::RingId::kAudioPackets),
                       audio_ring_->handle()});
  {
    std::lock_guard lock(mutex_);
    for (auto& [slot, fd] : kept_) handles.push_back({abi::FdRole::kConnection, slot, fd.get()});
  }
  if (auto ok = net_->connect(handles, std::chrono::milliseconds(timeout_ms)); !ok)
    return ok.error();
  net_->listen([this](const Message& m) { onMessage(m); });
  return {};
}

void NetHarness::onMessage(const Message& m) {
  if (const auto* e = std::get_if<EventMessage>(&m)) {
    if (e->body.event == static_cast<uint32_t>(abi::Event::kKeyframeRequest)) {
      ++keyframe_requests;
      if (on_keyframe_request) on_keyframe_request();
    } else if (e->body.event == static_cast<uint32_t>(abi::Event::kAudioRequest)) {
      std::lock_guard lock(mutex_);
      audio_requests_.push_back(e->body.arg);
    }
  } else if (const auto* d = std::get_if<ConnectionDepositMessage>(&m)) {
    ++deposits;
    std::lock_guard lock(mutex_);
    kept_[d->slot] = UniqueFd(fcntl(d->fd.get(), F_DUPFD_CLOEXEC, 0));
  } else if (const auto* r = std::get_if<ConnectionReleaseMessage>(&m)) {
    ++releases;
    std::lock_guard lock(mutex_);
    kept_.erase(r->slot);
  }
}

size_t NetHarness::keptSockets() {
  std::lock_guard lock(mutex_);
  return kept_.size();
}

std::vector<std::string> NetHarness::logLines() const {
  std::vector<std::string> lines;
  if (!net_) return lines;
  std::istringstream in(net_->log());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool NetHarness::waitForLog(const std::string& text, int timeout_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  do {
    for (const auto& line : logLines())
      if (line.find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

void NetHarness::kill9() {
  if (net_ && net_->process().running()) net_->kill9();
}

std::optional<ExitStatus> NetHarness::waitExit(int timeout_ms) {
  if (!net_) return std::nullopt;
  return net_->waitExit(std::chrono::milliseconds(timeout_ms));
}

std::optional<ExitStatus> NetHarness::stop(int timeout_ms) {
  if (!net_) return std::nullopt;
  return net_->stop(std::chrono::milliseconds(timeout_ms));
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
