// funkhaus-net serves the audio ring: the real binary under the harness, an audio ring fed with
// libopus packets of a 1 kHz tone, and a GameStream client of our own (handshake, audio ping)
// that checks every datagram (RTP header, AES-CBC with the client's IV, the 4 + 2 FEC parity by
// the reference field), decodes the Opus and measures the tone; the audio requests net sends,
// restart continuity (GameStream, and RTSP's audio track over UDP and ffmpeg's TCP), GameStream
// video and audio going on after a kill -9 of net before the client pings again, and the
// DESCRIBE surround lines against the audio worker's table.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <opus/opus.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <numbers>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "funkhaus/abi/codec.h"
#include "funkhaus/abi/message.h"
#include "funkhaus/audio/opus_stream_encoder.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/packet_ring.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/net/gamestream/handshake.h"
#include "funkhaus/net/rtsp/sdp.h"
#include "funkhaus/test/rtsp_client.h"
#include "gamestream/handshake_test_data.h"
#include "gamestream/video_reference_codec.h"
#include "net_harness.h"

namespace funkhaus::test {
namespace {

using namespace std::chrono_literals;
namespace gs = net::gamestream;
namespace gst = net::gamestream::testing;

constexpr int kRate = 48000;
constexpr double kToneHz = 1000.0;
constexpr double kToneAmplitude = 0.25;  // -12 dBFS peak, -15 dBFS RMS
constexpr int kChannels = 2;
constexpr int kFrameSamples = 240;  // 5 ms

// ---- the audio source: libopus packets of a 1 kHz tone into the audio ring, in real time ----

class ToneSource {
 public:
  explicit ToneSource(int ring_fd, int channels = kChannels)
      : ring_fd_(ring_fd), channels_(channels) {}
  ~ToneSource() { stop(); }

  Result<void> start() {
    auto shm = SharedMemory::attachDup(ring_fd_);
    if (!shm) return shm.error();
    auto producer = PacketProducer::attach(std::move(*shm));
    if (!producer) return producer.error();
    int error = OPUS_OK;
    encoder_ = opus_encoder_create(kRate, kChannels, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &error);
    if (error != OPUS_OK) return makeError("opus_encoder_create: {}", opus_strerror(error));
    opus_encoder_ctl(encoder_, OPUS_SET_BITRATE(96000));
    opus_encoder_ctl(encoder_, OPUS_SET_VBR(0));
    thread_ = std::thread(
        [this, p = std::make_shared<PacketProducer>(std::move(*producer))] { run(*p); });
    return {};
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (encoder_ != nullptr) opus_encoder_destroy(encoder_);
    encoder_ = nullptr;
  }
  uint64_t packets() const { return packets_.load(); }

 private:
  void run(PacketProducer& producer) {
    std::vector<float> pcm(kFrameSamples * kChannels);
    std::vector<unsigned char> out(1500);
    auto next = std::chrono::steady_clock::now();
    uint64_t sample = 0;
    while (!stop_) {
      for (int i = 0; i < kFrameSamples; ++i, ++sample) {
        const double v =
            kToneAmplitude * std::sin(2 * std::numbers::pi * kToneHz * double(sample) / kRate);
        for (int c = 0; c < kChannels; ++c) pcm[i * kChannels + c] = static_cast<float>(v);
      }
      const int n = opus_encode_float(encoder_, pcm.data(), kFrameSamples, out.data(),
                                      static_cast<opus_int32>(out.size()));
      if (n > 0) {
        PacketMeta meta;
        meta.frame_number = packets_;
        meta.capture_time_ns = monotonicNs();
        meta.codec = static_cast<uint32_t>(abi::Codec::kOpus);
        // The record says what the test wants net to believe (a wrong count is dropped).
        meta.format = abi::opusFormat(static_cast<uint32_t>(channels_), kFrameSamples);
        producer.push(meta, std::span(reinterpret_cast<const std::byte*>(out.data()),
                                      static_cast<size_t>(n)));
        ++packets_;
      }
      next += 5ms;
      std::this_thread::sleep_until(next);
    }
  }

  int ring_fd_;
  int channels_;
  OpusEncoder* encoder_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> packets_{0};
};

// ---- the tone, measured ----

struct ToneFigures {
  double frequency = 0;  // Hz of the strongest DFT bin (1 Hz resolution around the tone)
  double rms_db = -200;  // dBFS RMS
};

// Of mono samples at 48 kHz: the RMS level and the frequency with the strongest Goertzel power
// between 200 Hz and 5 kHz (a coarse 10 Hz sweep, then 1 Hz around the best).
ToneFigures measure(const std::vector<float>& x) {
  ToneFigures f;
  if (x.empty()) return f;
  double sum = 0;
  for (float v : x) sum += double(v) * v;
  f.rms_db = 10 * std::log10(sum / double(x.size()) + 1e-30);
  auto power = [&](double hz) {
    const double w = 2 * std::numbers::pi * hz / kRate, coeff = 2 * std::cos(w);
    double s1 = 0, s2 = 0;
    for (float v : x) {
      const double s = v + coeff * s1 - s2;
      s2 = s1;
      s1 = s;
    }
    return s1 * s1 + s2 * s2 - coeff * s1 * s2;
  };
  double best = 0, best_hz = 0;
  for (double hz = 200; hz <= 5000; hz += 10)
    if (const double p = power(hz); p > best) best = p, best_hz = hz;
  for (double hz = best_hz - 10; hz <= best_hz + 10; hz += 1)
    if (const double p = power(hz); p > best) best = p, f.frequency = hz;
  if (f.frequency == 0) f.frequency = best_hz;
  return f;
}

// The level of the tone as sent: a sine of kToneAmplitude.
double expectedRmsDb() { return 20 * std::log10(kToneAmplitude / std::sqrt(2.0)); }

// ---- a GameStream client of our own ----

struct RtspAnswer {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

// One request on its own connection (GameStream's way); the reply read to EOF.
std::optional<RtspAnswer> rtspRequest(uint16_t port, const std::string& wire) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return std::nullopt;
  if (send(fd.get(), wire.data(), wire.size(), MSG_NOSIGNAL) != ssize_t(wire.size()))
    return std::nullopt;
  std::string in;
  char buffer[4096];
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return std::nullopt;
    const ssize_t n = recv(fd.get(), buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    in.append(buffer, size_t(n));
  }
  RtspAnswer r;
  const size_t end = in.find("\r\n\r\n");
  if (in.rfind("RTSP/1.0 ", 0) != 0 || end == std::string::npos) return std::nullopt;
  r.status = std::stoi(in.substr(9, 3));
  size_t at = in.find("\r\n") + 2;
  while (at < end) {
    const size_t eol = in.find("\r\n", at);
    const std::string line = in.substr(at, eol - at);
    if (const size_t colon = line.find(": "); colon != std::string::npos)
      r.headers[line.substr(0, colon)] = line.substr(colon + 2);
    at = eol + 2;
  }
  r.body = in.substr(end + 4);
  return r;
}

struct GsStream {
  std::string session;
  std::string audio_ping;
  std::string video_ping;
  std::string describe;
};

// OPTIONS .. PLAY as moonlight-common-c does them, with `announce` as the ANNOUNCE body.
std::optional<GsStream> handshake(uint16_t port, const std::string& announce) {
  GsStream s;
  const std::string url = "rtsp://127.0.0.1:48010";
  const std::pair<std::string, std::string> transport = {"Transport",
                                                         "unicast;X-GS-ClientPort=50000-50001"};
  auto step = [&](const std::string& wire) -> std::optional<RtspAnswer> {
    auto r = rtspRequest(port, wire);
    if (!r || r->status != 200) {
      ADD_FAILURE() << "refused or unanswered: " << wire.substr(0, wire.find('\r'))
                    << (r ? " -> " + std::to_string(r->status) : "");
      return std::nullopt;
    }
    return r;
  };
  if (!step(gst::moonlightRequest("OPTIONS", url, 1, {}))) return std::nullopt;
  auto describe = step(gst::moonlightRequest("DESCRIBE", url, 2, {{"Accept", "application/sdp"}}));
  if (!describe) return std::nullopt;
  s.describe = describe->body;
  auto audio = step(gst::moonlightRequest("SETUP", "streamid=audio/0/0", 3, {transport}));
  if (!audio) return std::nullopt;
  s.session = audio->headers["Session"];
  s.session = s.session.substr(0, s.session.find(';'));
  s.audio_ping = audio->headers["X-SS-Ping-Payload"];
  const std::pair<std::string, std::string> session = {"Session", s.session};
  auto video = step(gst::moonlightRequest("SETUP", "streamid=video/0/0", 4, {session, transport}));
  if (!video) return std::nullopt;
  s.video_ping = video->headers["X-SS-Ping-Payload"];
  if (!step(gst::moonlightRequest("SETUP", "streamid=control/13/0", 5, {session, transport})) ||
      !step(gst::moonlightRequest("ANNOUNCE", "streamid=control/13/0", 6,
                                  {session, {"Content-type", "application/sdp"}}, announce)) ||
      !step(gst::moonlightRequest("PLAY", "/", 7, {session})))
    return std::nullopt;
  return s;
}

// A ping as moonlight-common-c sends it (gamestream.md §9): the stream's 16-character payload
// and a BE32 counter from 1, from `fd` to `port` on loopback.
void sendPing(int fd, uint16_t port, const std::string& payload, uint32_t counter) {
  std::string datagram = payload;
  const uint32_t be = htonl(counter);
  datagram.append(reinterpret_cast<const char*>(&be), 4);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
}

// A UDP socket on loopback, any port (the client's side of a media stream).
UniqueFd clientSocket() {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  return fd;
}

// The audio side of the client: pings the audio port, takes every datagram and checks it.
class AudioReceiver {
 public:
  AudioReceiver(const uint8_t (&key)[16], int32_t key_id, bool encrypted)
      : key_id_(key_id), encrypted_(encrypted) {
    std::memcpy(key_, key, sizeof key_);
    fd_ = clientSocket();
    int error = OPUS_OK;
    decoder_ = opus_decoder_create(kRate, kChannels, &error);
  }
  ~AudioReceiver() { opus_decoder_destroy(decoder_); }

  void ping(uint16_t port, const std::string& payload) {
    sendPing(fd_.get(), port, payload, ++pings_);
  }

  // Takes datagrams for `duration` (pinging every 500 ms like the client, unless `pinging` is
  // false: then not at all).
  void receive(std::chrono::milliseconds duration, uint16_t port, const std::string& payload,
               bool pinging = true) {
    const auto end = std::chrono::steady_clock::now() + duration;
    auto next_ping = std::chrono::steady_clock::now();
    std::vector<uint8_t> buffer(2048);
    while (std::chrono::steady_clock::now() < end) {
      if (pinging && std::chrono::steady_clock::now() >= next_ping) {
        ping(port, payload);
        next_ping += 500ms;
      }
      pollfd p{fd_.get(), POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = recv(fd_.get(), buffer.data(), buffer.size(), 0);
      if (n > 0) take(std::span(buffer.data(), size_t(n)));
    }
  }

  // Every data packet in arrival order: (RTP seq, timestamp).
  std::vector<std::pair<uint16_t, uint32_t>> sequence;
  std::vector<float> left;  // decoded left channel
  uint64_t data_packets = 0, fec_packets = 0, fec_checked = 0;
  std::vector<std::string> faults;

 private:
  void take(std::span<const uint8_t> d) {
    if (d.size() < 12 || d[0] != 0x80) return fault("not an RTP v2 datagram");
    const uint8_t pt = d[1] & 0x7F;
    const uint16_t seq = uint16_t(d[2] << 8 | d[3]);
    const uint32_t ts = uint32_t(d[4]) << 24 | uint32_t(d[5]) << 16 | uint32_t(d[6]) << 8 | d[7];
    if (d.size() > 1400) return fault("datagram longer than the client's 1400 bytes");
    if (pt == 97) {
      ++data_packets;
      sequence.emplace_back(seq, ts);
      std::vector<uint8_t> payload(d.begin() + 12, d.end());
      payloads_[seq] = payload;
      std::vector<uint8_t> opus = payload;
      if (encrypted_ && !decrypt(seq, payload, opus)) return fault("does not decrypt");
      std::vector<float> pcm(kFrameSamples * kChannels);
      const int n = opus_decode_float(decoder_, opus.data(), opus_int32(opus.size()), pcm.data(),
                                      kFrameSamples, 0);
      if (n != kFrameSamples) return fault("Opus did not decode to 240 samples");
      for (int i = 0; i < n; ++i) left.push_back(pcm[size_t(i) * kChannels]);
      checkBlocks();
    } else if (pt == 127) {
      ++fec_packets;
      if (d.size() < 24) return fault("FEC datagram too short");
      const uint8_t index = d[12];
      const uint16_t base = uint16_t(d[14] << 8 | d[15]);
      if (d[13] != 97 || index > 1 || base % 4 != 0) return fault("FEC header");
      fec_[{base, index}] = std::vector<uint8_t>(d.begin() + 24, d.end());
      checkBlocks();
    } else {
      fault("payload type " + std::to_string(pt));
    }
  }

  // A block whose 4 data and 2 parity payloads arrived: parity as the client's fixed matrix
  // makes it, computed by the reference field.
  void checkBlocks() {
    static constexpr uint8_t kMatrix[2][4] = {{0x77, 0x40, 0x38, 0x0E}, {0xC7, 0xA7, 0x0D, 0x6C}};
    for (auto it = fec_.begin(); it != fec_.end();) {
      const auto [base, index] = it->first;
      bool all = true;
      for (uint16_t i = 0; i < 4; ++i) all = all && payloads_.count(uint16_t(base + i));
      if (!all) {
        ++it;
        continue;
      }
      std::vector<uint8_t> parity(it->second.size(), 0);
      for (int i = 0; i < 4; ++i) {
        const auto& p = payloads_[uint16_t(base + i)];
        if (p.size() != parity.size()) {
          fault("FEC over payloads of unequal size");
          break;
        }
        for (size_t b = 0; b < p.size(); ++b)
          parity[b] ^= gs::video_test::refMul(kMatrix[index][i], p[b]);
      }
      if (parity != it->second) fault("FEC parity differs from the client's matrix");
      ++fec_checked;
      it = fec_.erase(it);
    }
  }

  bool decrypt(uint16_t seq, const std::vector<uint8_t>& in, std::vector<uint8_t>& out) {
    uint8_t iv[16] = {};
    const uint32_t be = htonl(uint32_t(key_id_) + seq);
    std::memcpy(iv, &be, 4);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    out.assign(in.size() + 16, 0);
    int n = 0, m = 0;
    const bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), nullptr, key_, iv) == 1 &&
                    EVP_DecryptUpdate(ctx, out.data(), &n, in.data(), int(in.size())) == 1 &&
                    EVP_DecryptFinal_ex(ctx, out.data() + n, &m) == 1;  // checks the PKCS#7 padding
    EVP_CIPHER_CTX_free(ctx);
    out.resize(ok ? size_t(n + m) : 0);
    return ok;
  }

  void fault(const std::string& what) {
    if (faults.size() < 10) faults.push_back(what);
  }

  uint8_t key_[16];
  int32_t key_id_;
  bool encrypted_;
  UniqueFd fd_;
  OpusDecoder* decoder_ = nullptr;
  uint32_t pings_ = 0;
  std::map<uint16_t, std::vector<uint8_t>> payloads_;
  std::map<std::pair<uint16_t, uint8_t>, std::vector<uint8_t>> fec_;
};

abi::GamestreamLaunch testLaunch(uint8_t (&key)[16], int32_t key_id) {
  abi::GamestreamLaunch launch{};
  launch.active = 1;
  launch.rikeyid = key_id;
  for (int i = 0; i < 16; ++i) key[i] = uint8_t(0x30 + 7 * i);
  std::memcpy(launch.rikey, key, 16);
  launch.app_id = 1;
  launch.width = 1280;
  launch.height = 720;
  launch.fps = 60;
  std::memcpy(launch.client_id, "audio-test-client", 17);
  return launch;
}

bool waitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

struct GsSetup {
  std::unique_ptr<NetHarness> harness;
  std::unique_ptr<ToneSource> tone;
  uint8_t key[16] = {};
  int32_t key_id = 0x12345678;
};

// `before_start`: what the test sets on the harness before net runs (its keyframe callback).
GsSetup startGamestream(int tone_channels = kChannels,
                        const std::function<void(NetHarness&)>& before_start = {}) {
  GsSetup s;
  NetHarnessConfig config;
  config.gamestream = true;
  config.audio = true;
  auto harness = NetHarness::create(config);
  if (!harness) {
    ADD_FAILURE() << harness.error().message;
    return s;
  }
  s.harness = std::move(*harness);
  s.harness->publishLaunch(testLaunch(s.key, s.key_id));
  if (before_start) before_start(*s.harness);
  if (auto ok = s.harness->start(); !ok) {
    ADD_FAILURE() << ok.error().message;
    s.harness.reset();
    return s;
  }
  s.tone = std::make_unique<ToneSource>(s.harness->audioRingFd(), tone_channels);
  if (auto ok = s.tone->start(); !ok) ADD_FAILURE() << ok.error().message;
  return s;
}

// ---- tests ----

TEST(NetAudio, GamestreamSendsTheToneEncryptedWithFecAndAsksForAudio) {
  GsSetup s = startGamestream();
  ASSERT_TRUE(s.harness);
  NetHarness& h = *s.harness;
  // Net says at start that nobody listens.
  ASSERT_TRUE(waitFor([&] { return !h.audioRequests().empty(); }, 5s));
  EXPECT_EQ(h.audioRequests().front(), 0u);

  // The test ANNOUNCE: stereo, 5 ms, audio encryption on (featureFlags 0xA7 has 0x20).
  auto stream = handshake(h.gamestreamRtspPort(), gst::AnnounceBody().text());
  ASSERT_TRUE(stream);
  EXPECT_NE(stream->describe.find("a=fmtp:97 surround-params=642014235"), std::string::npos)
      << stream->describe;
  ASSERT_EQ(stream->audio_ping.size(), 16u);
  ASSERT_TRUE(waitFor([&] { return h.lastAudioRequest() == abi::audioRequest(2, 5); }, 3s));

  AudioReceiver rx(s.key, s.key_id, true);
  rx.receive(2000ms, h.gamestreamAudioPort(), stream->audio_ping);
  EXPECT_TRUE(rx.faults.empty()) << rx.faults.front();
  ASSERT_GT(rx.data_packets, 300u) << "2 s of 5 ms packets";
  EXPECT_GT(rx.fec_checked, rx.data_packets / 4 - 4) << "FEC on (nearly) every block";
  // Sequence numbers and timestamps step by one packet (ms timestamps) without gaps.
  size_t steps = 0;
  for (size_t i = 1; i < rx.sequence.size(); ++i) {
    EXPECT_EQ(uint16_t(rx.sequence[i].first - rx.sequence[i - 1].first), 1) << i;
    EXPECT_EQ(rx.sequence[i].second - rx.sequence[i - 1].second, 5u) << i;
    ++steps;
  }
  EXPECT_EQ(rx.sequence.front().first, 0) << "a new stream starts at sequence 0";
  // The tone, after the decoder settled.
  const std::vector<float> tail(rx.left.begin() + std::min<size_t>(rx.left.size(), 4800),
                                rx.left.end());
  const ToneFigures f = measure(tail);
  std::printf(
      "[figures] GameStream audio: %zu packets, %zu FEC blocks checked, tone %.0f Hz at "
      "%.2f dBFS RMS (sent %.2f)\n",
      size_t(rx.data_packets), size_t(rx.fec_checked), f.frequency, f.rms_db, expectedRmsDb());
  EXPECT_NEAR(f.frequency, kToneHz, 5);
  EXPECT_NEAR(f.rms_db, expectedRmsDb(), 1.0);

  // The client cancels: the stream ends and net says nobody listens.
  abi::GamestreamLaunch cancelled = testLaunch(s.key, s.key_id);
  cancelled.active = 0;
  h.publishLaunch(cancelled);
  EXPECT_TRUE(waitFor([&] { return h.lastAudioRequest() == 0; }, 3s));
  const std::vector<uint64_t> requests = h.audioRequests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1], abi::audioRequest(2, 5));
  EXPECT_EQ(requests[2], 0u);
  s.tone->stop();
  EXPECT_TRUE(h.stop().has_value());
}

TEST(NetAudio, GamestreamRestartContinuesSequenceAndTimestamps) {
  GsSetup s = startGamestream();
  ASSERT_TRUE(s.harness);
  NetHarness& h = *s.harness;
  // Unencrypted this time: neither featureFlags 0x20 nor encryptionEnabled 0x04.
  auto stream = handshake(h.gamestreamRtspPort(),
                          gst::AnnounceBody().set("x-nv-general.featureFlags", "135").text());
  ASSERT_TRUE(stream);
  AudioReceiver rx(s.key, s.key_id, false);
  rx.receive(1000ms, h.gamestreamAudioPort(), stream->audio_ping);
  const size_t before = rx.sequence.size();
  ASSERT_GT(before, 100u);
  const uint64_t sent_before = h.gamestream().audio_packets_sent;
  EXPECT_GT(sent_before, 100u) << "the blob counts the packets sent";
  EXPECT_EQ(h.gamestream().audio_packets_dropped, 0u);
  h.kill9();
  ASSERT_TRUE(h.start());
  rx.receive(1500ms, h.gamestreamAudioPort(), stream->audio_ping);
  EXPECT_TRUE(rx.faults.empty()) << rx.faults.front();
  ASSERT_GT(rx.sequence.size(), before + 100);
  const auto last = rx.sequence[before - 1], first = rx.sequence[before];
  const uint16_t gap = uint16_t(first.first - last.first);
  std::printf(
      "[figures] GameStream audio across a net restart: sequence %u -> %u, timestamp %u "
      "-> %u\n",
      unsigned(last.first), unsigned(first.first), last.second, first.second);
  // No reuse; at most the one packet a kill between taking and sending loses.
  EXPECT_GE(gap, 1);
  EXPECT_LE(gap, 2);
  EXPECT_EQ(first.second - last.second, 5u * gap);
  for (size_t i = before + 1; i < rx.sequence.size(); ++i)
    EXPECT_EQ(uint16_t(rx.sequence[i].first - rx.sequence[i - 1].first), 1) << i;
  const ToneFigures f = measure(
      std::vector<float>(rx.left.end() - std::min<size_t>(rx.left.size(), 48000), rx.left.end()));
  EXPECT_NEAR(f.frequency, kToneHz, 5);
  EXPECT_NEAR(f.rms_db, expectedRmsDb(), 1.0);
  // The restarted net asked for audio again (the stream plays on) and counts on in the blob.
  EXPECT_EQ(h.lastAudioRequest(), abi::audioRequest(2, 5));
  EXPECT_GE(h.gamestream().audio_packets_sent, sent_before + 100);
  s.tone->stop();
  EXPECT_TRUE(h.stop().has_value());
}

// The video side of the client: pings the video port and notes each frame by its first packet
// (gamestream.md §6.1: block 0, shard 0; the 8-byte frame header after the 32-byte packet header,
// unencrypted here).
class VideoReceiver {
 public:
  struct Frame {
    uint32_t index = 0;  // frameIndex
    uint8_t type = 0;    // frame header byte 3: 1 P-frame, 2 IDR
    uint64_t at_ns = 0;  // CLOCK_MONOTONIC when its first packet was read
  };

  VideoReceiver() : fd_(clientSocket()) {}

  void ping(uint16_t port, const std::string& payload) {
    sendPing(fd_.get(), port, payload, ++pings_);
  }

  // Takes datagrams for `duration`, pinging every 500 ms like the client when `pinging`.
  void receive(std::chrono::milliseconds duration, uint16_t port, const std::string& payload,
               bool pinging) {
    const auto end = std::chrono::steady_clock::now() + duration;
    auto next_ping = std::chrono::steady_clock::now();
    std::vector<uint8_t> d(2048);
    while (std::chrono::steady_clock::now() < end) {
      if (pinging && std::chrono::steady_clock::now() >= next_ping) {
        ping(port, payload);
        next_ping += 500ms;
      }
      pollfd p{fd_.get(), POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = recv(fd_.get(), d.data(), d.size(), 0);
      if (n <= 0) continue;
      ++datagrams;
      if (n < 40 || d[0] != 0x90) {
        ++malformed;
        continue;
      }
      const auto le32 = [&](size_t at) {
        return uint32_t(d[at]) | uint32_t(d[at + 1]) << 8 | uint32_t(d[at + 2]) << 16 |
               uint32_t(d[at + 3]) << 24;
      };
      const bool first_block = ((d[27] >> 4) & 3) == 0;
      const uint32_t shard = (le32(28) >> 12) & 0x3ff;
      if (first_block && shard == 0 && (d[24] & 0x04) != 0)
        frames.push_back({le32(20), d[32 + 3], monotonicNs()});
    }
  }

  std::vector<Frame> frames;  // in arrival order
  uint64_t datagrams = 0, malformed = 0;
  uint32_t pings() const { return pings_; }

 private:
  UniqueFd fd_;
  uint32_t pings_ = 0;
};

// A kill -9 of net while the client plays: its successor knows the client's video and audio
// addresses from the blob and sends again before the client pings (here it never pings again
// after the kill), video from an IDR it asked encode for, frame indices going on.
TEST(NetAudio, GamestreamVideoAndAudioGoOnAfterAKillWithoutANewPing) {
  std::unique_ptr<VideoSource> video;
  GsSetup s = startGamestream(kChannels, [&video](NetHarness& h) {
    video = std::make_unique<VideoSource>(h.ringFd(), 320, 240, 30);
    h.on_keyframe_request = [&video] { video->requestKeyframe(); };
  });
  ASSERT_TRUE(s.harness);
  NetHarness& h = *s.harness;
  ASSERT_TRUE(video->start());
  // Unencrypted audio (featureFlags without 0x20) and video (encryptionEnabled 1: control only).
  auto stream = handshake(h.gamestreamRtspPort(),
                          gst::AnnounceBody().set("x-nv-general.featureFlags", "135").text());
  ASSERT_TRUE(stream);
  ASSERT_EQ(stream->video_ping.size(), 16u);
  VideoReceiver vx;
  AudioReceiver ax(s.key, s.key_id, false);
  vx.receive(1000ms, h.gamestreamVideoPort(), stream->video_ping, true);
  ax.receive(300ms, h.gamestreamAudioPort(), stream->audio_ping);
  ASSERT_FALSE(vx.frames.empty()) << "video before the kill";
  ASSERT_GT(ax.data_packets, 0u) << "audio before the kill";
  EXPECT_EQ(vx.frames.front().type, 2) << "a stream starts with an IDR";
  const uint32_t pings = vx.pings();

  h.kill9();
  // What the killed net sent and the test did not read yet counts as before the kill.
  vx.receive(100ms, h.gamestreamVideoPort(), stream->video_ping, false);
  ax.receive(100ms, h.gamestreamAudioPort(), stream->audio_ping, false);
  const uint32_t last_index = vx.frames.back().index;
  const size_t frames_before = vx.frames.size();
  const uint64_t audio_before = ax.data_packets;
  const uint64_t requests_before = h.keyframe_requests.load();
  const uint64_t idr_before = video->keyframes();
  ASSERT_TRUE(h.start());
  const uint64_t started_ns = monotonicNs();
  vx.receive(1500ms, h.gamestreamVideoPort(), stream->video_ping, false);
  ax.receive(300ms, h.gamestreamAudioPort(), stream->audio_ping, false);
  EXPECT_EQ(vx.pings(), pings) << "no ping after the kill";
  EXPECT_EQ(vx.malformed, 0u);
  ASSERT_GT(vx.frames.size(), frames_before) << "no video from the successor without a ping";
  const VideoReceiver::Frame& first = vx.frames[frames_before];
  EXPECT_EQ(first.type, 2) << "the successor's video starts with an IDR";
  EXPECT_GT(first.index, last_index) << "frame indices go on (never reused)";
  for (size_t i = frames_before + 1; i < vx.frames.size(); ++i)
    EXPECT_EQ(vx.frames[i].index, vx.frames[i - 1].index + 1) << i;
  EXPECT_GT(h.keyframe_requests.load(), requests_before) << "the successor asked for an IDR";
  EXPECT_GT(video->keyframes(), idr_before);
  EXPECT_TRUE(h.waitForLog("GameStream: video resumes to port", 1000));
  EXPECT_GT(ax.data_packets, audio_before) << "no audio from the successor without a ping";
  EXPECT_TRUE(ax.faults.empty()) << ax.faults.front();
  std::printf(
      "[figures] GameStream after kill -9 of net, no ping: first video frame (IDR, index %u -> "
      "%u) %.0f ms after the successor said ready; %zu frames in 1.5 s\n",
      last_index, first.index, double(first.at_ns - started_ns) / 1e6,
      vx.frames.size() - frames_before);
  s.tone->stop();
  video->stop();
  EXPECT_TRUE(h.stop().has_value());
}

TEST(NetAudio, GamestreamDropsRecordsOfAnotherChannelCount) {
  GsSetup s = startGamestream(6);  // records claim 5.1; the client decodes stereo
  ASSERT_TRUE(s.harness);
  NetHarness& h = *s.harness;
  auto stream = handshake(h.gamestreamRtspPort(), gst::AnnounceBody().text());
  ASSERT_TRUE(stream);
  AudioReceiver rx(s.key, s.key_id, true);
  rx.receive(600ms, h.gamestreamAudioPort(), stream->audio_ping);
  EXPECT_EQ(rx.data_packets, 0u);
  EXPECT_TRUE(h.waitForLog("GameStream: audio packets of 6 channels", 1000));
  size_t lines = 0;
  for (const std::string& line : h.logLines())
    lines += line.find("GameStream: audio packets of 6 channels") != std::string::npos;
  EXPECT_EQ(lines, 1u) << "one log line per stream";
  // The blob counts them for status: dropped, none sent.
  EXPECT_GT(h.gamestream().audio_packets_dropped, 50u);
  EXPECT_EQ(h.gamestream().audio_packets_sent, 0u);
  s.tone->stop();
  EXPECT_TRUE(h.stop().has_value());
}

TEST(NetAudio, WithoutAnAudioRingNothingChanges) {
  NetHarnessConfig config;
  config.gamestream = true;
  auto harness = NetHarness::create(config);
  ASSERT_TRUE(harness);
  NetHarness& h = **harness;
  uint8_t key[16];
  h.publishLaunch(testLaunch(key, 7));
  ASSERT_TRUE(h.start());
  auto stream = handshake(h.gamestreamRtspPort(), gst::AnnounceBody().text());
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->describe.find("surround-params"), std::string::npos);
  EXPECT_TRUE(h.waitForLog("no audio: the session has no audio worker", 1000));
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(h.audioRequests().empty());
  EXPECT_TRUE(h.stop().has_value());
}

// ---- RTSP: ffmpeg pulls video and audio ----

bool haveFfmpeg() { return std::system("command -v ffmpeg >/dev/null 2>&1") == 0; }

// The samples of channel 0 of a 16-bit PCM WAV file (chunks walked: ffmpeg adds a LIST chunk).
std::vector<float> readWavChannel0(const std::string& path, int* channels, int* rate) {
  std::vector<float> out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  std::vector<uint8_t> bytes;
  uint8_t chunk[65536];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;)
    bytes.insert(bytes.end(), chunk, chunk + n);
  std::fclose(f);
  auto le32 = [&](size_t at) {
    return uint32_t(bytes[at]) | uint32_t(bytes[at + 1]) << 8 | uint32_t(bytes[at + 2]) << 16 |
           uint32_t(bytes[at + 3]) << 24;
  };
  if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0) return out;
  size_t at = 12;
  int bits = 0;
  while (at + 8 <= bytes.size()) {
    const std::string id(reinterpret_cast<const char*>(&bytes[at]), 4);
    size_t size = le32(at + 4);
    if (id == "fmt " && at + 24 <= bytes.size()) {
      *channels = bytes[at + 10] | bytes[at + 11] << 8;
      *rate = int(le32(at + 12));
      bits = bytes[at + 22] | bytes[at + 23] << 8;
    } else if (id == "data") {
      size = std::min(size, bytes.size() - at - 8);  // a file cut short says 0xFFFFFFFF
      if (bits != 16 || *channels < 1) return out;
      const size_t frame = size_t(*channels) * 2;
      for (size_t i = at + 8; i + frame <= at + 8 + size; i += frame)
        out.push_back(float(int16_t(bytes[i] | bytes[i + 1] << 8)) / 32768.0f);
      return out;
    }
    at += 8 + size + (size & 1);
  }
  return out;
}

class NetAudioRtsp : public ::testing::TestWithParam<std::string> {};

TEST_P(NetAudioRtsp, FfmpegPullsVideoAndTheTone) {
  if (!haveFfmpeg()) GTEST_SKIP() << "ffmpeg is not installed";
  const std::string transport = GetParam();
  NetHarnessConfig config;
  config.audio = true;
  auto harness = NetHarness::create(config);
  ASSERT_TRUE(harness) << harness.error().message;
  NetHarness& h = **harness;
  VideoSource video(h.ringFd(), 320, 240, 30);
  h.on_keyframe_request = [&video] { video.requestKeyframe(); };
  ASSERT_TRUE(h.start());
  ASSERT_TRUE(video.start());
  ToneSource tone(h.audioRingFd());
  ASSERT_TRUE(tone.start());
  char dir_template[] = "/tmp/funkhaus-net-audio-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template, wav = dir + "/audio.wav", log = dir + "/ffmpeg.log";
  const std::string command = "timeout 30 ffmpeg -nostdin -loglevel error -rtsp_transport " +
                              transport + " -i " + h.url() + " -map 0:a -t 4 -c:a pcm_s16le -y " +
                              wav + " -map 0:v -t 4 -f null - >" + log + " 2>&1";
  const int status = std::system(command.c_str());
  EXPECT_EQ(status, 0) << command;
  int channels = 0, rate = 0;
  const std::vector<float> samples = readWavChannel0(wav, &channels, &rate);
  EXPECT_EQ(channels, 2);
  EXPECT_EQ(rate, kRate);
  ASSERT_GT(samples.size(), size_t(3 * kRate)) << "at least 3 of the 4 s";
  // The tone after the first half second (the decoder settles, streams line up).
  const ToneFigures f =
      measure(std::vector<float>(samples.begin() + kRate / 2, samples.end() - kRate / 10));
  std::printf(
      "[figures] RTSP/%s: ffmpeg wrote %.2f s of %d-channel audio: tone %.0f Hz at %.2f "
      "dBFS RMS (sent %.2f)\n",
      transport.c_str(), double(samples.size()) / kRate, channels, f.frequency, f.rms_db,
      expectedRmsDb());
  EXPECT_NEAR(f.frequency, kToneHz, 5);
  EXPECT_NEAR(f.rms_db, expectedRmsDb(), 1.0);
  // The viewer set up audio (the worker's channels, 5 ms) and left: nobody listens again.
  EXPECT_TRUE(waitFor([&] { return h.lastAudioRequest() == 0; }, 15s));
  const std::vector<uint64_t> requests = h.audioRequests();
  EXPECT_EQ(requests, (std::vector<uint64_t>{0, abi::audioRequest(0, 5), 0}));
  tone.stop();
  video.stop();
  EXPECT_TRUE(h.stop().has_value());
  std::system(("rm -rf " + dir).c_str());
}

INSTANTIATE_TEST_SUITE_P(Transports, NetAudioRtsp, ::testing::Values("udp", "tcp"));

// ---- RTSP: the audio track across a kill -9 of net ----

// Two UDP sockets on consecutive loopback ports (RTP even, RTCP the next).
std::optional<std::pair<UniqueFd, UniqueFd>> udpPair(uint16_t* rtp_port) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    UniqueFd rtp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(rtp.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) continue;
    socklen_t len = sizeof a;
    getsockname(rtp.get(), reinterpret_cast<sockaddr*>(&a), &len);
    const uint16_t port = ntohs(a.sin_port);
    if (port % 2 != 0 || port == 65534) continue;
    UniqueFd rtcp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    a.sin_port = htons(static_cast<uint16_t>(port + 1));
    if (bind(rtcp.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) continue;
    *rtp_port = port;
    return std::make_pair(std::move(rtp), std::move(rtcp));
  }
  return std::nullopt;
}

// What an RTSP viewer's audio socket received: each RTP packet's sequence, timestamp, SSRC and
// arrival, and the decoded left channel (one packet after the other, as a jitter buffer plays).
struct RtpAudioLog {
  std::vector<uint16_t> sequence;
  std::vector<uint32_t> timestamp, ssrc;
  std::vector<uint64_t> arrival_ns;
  std::vector<float> left;
  std::vector<size_t> left_at;  // index in `left` of each packet's first sample
  std::vector<std::string> faults;
};

class RtpAudioReceiver {
 public:
  explicit RtpAudioReceiver(int fd) : fd_(fd) {
    int error = OPUS_OK;
    decoder_ = opus_decoder_create(kRate, kChannels, &error);
    thread_ = std::thread([this] { run(); });
  }
  ~RtpAudioReceiver() { stop(); }
  RtpAudioLog stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (decoder_ != nullptr) opus_decoder_destroy(decoder_);
    decoder_ = nullptr;
    return log_;
  }
  size_t packets() const { return count_.load(); }

 private:
  void run() {
    std::vector<uint8_t> buffer(2048);
    std::vector<float> pcm(5760 * kChannels);
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = recv(fd_, buffer.data(), buffer.size(), 0);
      if (n < 12) continue;
      const uint64_t now = monotonicNs();
      if ((buffer[0] >> 6) != 2 || (buffer[1] & 0x7F) != 97) {
        log_.faults.push_back("not RTP of payload type 97");
        continue;
      }
      log_.sequence.push_back(uint16_t(buffer[2] << 8 | buffer[3]));
      log_.timestamp.push_back(uint32_t(buffer[4]) << 24 | uint32_t(buffer[5]) << 16 |
                               uint32_t(buffer[6]) << 8 | buffer[7]);
      log_.ssrc.push_back(uint32_t(buffer[8]) << 24 | uint32_t(buffer[9]) << 16 |
                          uint32_t(buffer[10]) << 8 | buffer[11]);
      log_.arrival_ns.push_back(now);
      const int samples =
          opus_decode_float(decoder_, buffer.data() + 12, int(n - 12), pcm.data(), 5760, 0);
      log_.left_at.push_back(log_.left.size());
      if (samples <= 0) {
        log_.faults.push_back("Opus packet did not decode");
        continue;
      }
      for (int i = 0; i < samples; ++i) log_.left.push_back(pcm[size_t(i) * kChannels]);
      ++count_;
    }
  }

  int fd_;
  OpusDecoder* decoder_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> count_{0};
  RtpAudioLog log_;
};

// A viewer of our own over UDP (video on one port pair, audio on another) keeps its audio track
// across a kill -9 of net: the successor continues the same SSRC, the next sequence number
// (no reuse; at most the one packet a kill between taking and sending loses) and timestamps on
// the 48 kHz capture clock (the jump is the silence), and the tone plays on.
TEST(NetAudio, RtspUdpAudioTrackSurvivesKillOfNet) {
  NetHarnessConfig config;
  config.audio = true;
  auto harness = NetHarness::create(config);
  ASSERT_TRUE(harness) << harness.error().message;
  NetHarness& h = **harness;
  VideoSource video(h.ringFd(), 320, 240, 30);
  h.on_keyframe_request = [&video] { video.requestKeyframe(); };
  ASSERT_TRUE(h.start());
  ASSERT_TRUE(video.start());
  ToneSource tone(h.audioRingFd());
  ASSERT_TRUE(tone.start());
  uint16_t video_port = 0, audio_port = 0;
  auto video_pair = udpPair(&video_port);
  auto audio_pair = udpPair(&audio_port);
  ASSERT_TRUE(video_pair && audio_pair);
  RtspClient::Options o;
  o.port = h.rtspPort();
  auto client = RtspClient::connect(o);
  ASSERT_TRUE(client) << client.error().message;
  auto described = client->describe(h.url());
  ASSERT_TRUE(described && described->status == 200);
  auto setup = client->setupUdp(client->control(), video_port, uint16_t(video_port + 1));
  ASSERT_TRUE(setup && setup->status == 200);
  auto audio_setup = client->setupUdp(h.url() + "/" + net::kAudioTrackControl, audio_port,
                                      uint16_t(audio_port + 1));
  ASSERT_TRUE(audio_setup && audio_setup->status == 200);
  const auto audio_ssrc = transportSsrc(audio_setup->value("Transport"));
  ASSERT_TRUE(audio_ssrc);
  RtpAudioReceiver rx(audio_pair->first.get());
  auto played = client->play(h.url());
  ASSERT_TRUE(played && played->status == 200);
  ASSERT_TRUE(waitFor([&] { return rx.packets() > 300; }, 5s)) << "audio before the kill";
  // The slot holds the audio track as the successor will find it.
  const abi::RtspAudioTrack& kept = h.page().viewers[0].audio;
  EXPECT_EQ(kept.flags & abi::kAudioTrackFlagSetUp, abi::kAudioTrackFlagSetUp);
  EXPECT_EQ(kept.ssrc, *audio_ssrc);
  EXPECT_EQ(kept.client_rtp_port, audio_port);
  // Two kills: the successor started at once (funkhausd's first restart), and one started
  // 600 ms later (a backoff: the ring's records from before are stale by then and skipped).
  std::vector<size_t> kills;
  for (const auto pause : {0ms, 600ms}) {
    const uint32_t next = h.page().viewers[0].audio.next_sequence;
    h.kill9();
    kills.push_back(rx.packets());
    std::this_thread::sleep_for(pause);
    ASSERT_TRUE(h.start());
    EXPECT_TRUE(h.waitForLog("audio seq", 2000)) << "the successor continued the audio track";
    EXPECT_GE(h.page().viewers[0].audio.next_sequence, next);
    const size_t after = kills.back();
    ASSERT_TRUE(waitFor([&] { return rx.packets() > after + 300; }, 5s)) << "audio after";
  }
  const RtpAudioLog log = rx.stop();
  EXPECT_TRUE(log.faults.empty()) << log.faults.front();
  ASSERT_GT(log.sequence.size(), 900u);
  // One SSRC; sequence numbers +1 a packet, +2 at most where a kill fell between taking a
  // number and sending (never backwards, never reused); timestamps 240 a sequence step except
  // where a restart resynchronised them to the capture clock.
  std::vector<size_t> resyncs;
  for (size_t i = 1; i < log.sequence.size(); ++i) {
    EXPECT_EQ(log.ssrc[i], *audio_ssrc) << i;
    const uint16_t step = uint16_t(log.sequence[i] - log.sequence[i - 1]);
    EXPECT_GE(step, 1) << "sequence reused at " << i;
    EXPECT_LE(step, 2) << "sequence gap at " << i;
    if (log.timestamp[i] - log.timestamp[i - 1] != 240u * step) resyncs.push_back(i);
  }
  // Timestamps jump only where a restart resynchronised them (after a pause, or where the
  // burst of waiting records overflowed and the ring flagged a gap).
  for (size_t r : resyncs) {
    bool near = false;
    for (size_t k : kills) near = near || (r + 10 >= k && r <= k + 150);
    EXPECT_TRUE(near) << "timestamp jump at " << r << " far from every restart";
  }
  // On the capture clock: a timestamp minus its arrival (in 48 kHz ticks) stays where it was
  // at the start, for the packets well after each restart (the burst of kept records aside).
  auto lead = [&](size_t i) {
    return double(int32_t(log.timestamp[i] - uint32_t(log.arrival_ns[i] * 48 / 1'000'000))) / 48;
  };
  const double lead0 = lead(50);
  for (size_t k = 0; k < kills.size(); ++k) {
    const size_t from = kills[k];
    const size_t to = std::min(log.sequence.size(), from + 60);
    size_t at = from;  // the successor's first packet: after the longest pause
    for (size_t i = std::max<size_t>(from, 10) - 8; i < to; ++i)
      if (log.arrival_ns[i] - log.arrival_ns[i - 1] > log.arrival_ns[at] - log.arrival_ns[at - 1])
        at = i;
    const double pause_ms = double(log.arrival_ns[at] - log.arrival_ns[at - 1]) / 1e6;
    const double silence_ms = double(log.timestamp[at] - log.timestamp[at - 1]) / 48 - 5;
    std::printf(
        "[figures] RTSP/UDP audio, kill -9 of net %zu (successor after %s): seq %u -> %u, "
        "%.1f ms of silence in the stream, arrivals paused %.1f ms; timestamp - arrival "
        "%+.1f ms from the start's\n",
        k + 1, k == 0 ? "0 ms" : "600 ms", unsigned(log.sequence[at - 1]),
        unsigned(log.sequence[at]), silence_ms, pause_ms, lead(to - 1) - lead0);
    EXPECT_LT(silence_ms, 1000);
    EXPECT_NEAR(lead(to - 1), lead0, 20) << "timestamps continue on the capture clock";
  }
  EXPECT_NEAR(lead(log.sequence.size() - 1), lead0, 20);
  // The tone throughout: every 0.5 s of what was decoded, on both sides of each restart.
  for (size_t at = kRate / 10; at + kRate / 2 <= log.left.size(); at += kRate / 2) {
    const ToneFigures f = measure(
        std::vector<float>(log.left.begin() + long(at), log.left.begin() + long(at + kRate / 2)));
    EXPECT_NEAR(f.frequency, kToneHz, 5) << "at " << at;
    EXPECT_NEAR(f.rms_db, expectedRmsDb(), 1.0) << "at " << at;
  }
  // The successor asked for audio for the continued track.
  EXPECT_EQ(h.lastAudioRequest(), abi::audioRequest(0, 5));
  tone.stop();
  video.stop();
  EXPECT_TRUE(h.stop().has_value());
}

// The runs of 5 ms windows at or below -40 dBFS RMS in x[from, to): (start, length) each.
std::vector<std::pair<size_t, size_t>> silences(const std::vector<float>& x, size_t from,
                                                size_t to) {
  constexpr size_t kWindow = 240;
  std::vector<std::pair<size_t, size_t>> runs;
  bool in_run = false;
  for (size_t at = from; at + kWindow <= to; at += kWindow) {
    double sum = 0;
    for (size_t i = at; i < at + kWindow; ++i) sum += double(x[i]) * x[i];
    const bool silent = 10 * std::log10(sum / kWindow + 1e-30) <= -40;
    if (silent && in_run) runs.back().second += kWindow;
    if (silent && !in_run) runs.emplace_back(at, kWindow);
    in_run = silent;
  }
  return runs;
}

// ffmpeg over TCP interleaved writes 10 s of the audio track to WAV (gaps in the timestamps
// filled with silence) while net is killed under it twice, its successor started at once and
// then 600 ms later: the tone throughout but for a short silence at each restart.
TEST(NetAudio, RtspFfmpegTcpAudioSurvivesKillOfNet) {
  if (!haveFfmpeg()) GTEST_SKIP() << "ffmpeg is not installed";
  NetHarnessConfig config;
  config.audio = true;
  auto harness = NetHarness::create(config);
  ASSERT_TRUE(harness) << harness.error().message;
  NetHarness& h = **harness;
  VideoSource video(h.ringFd(), 320, 240, 30);
  h.on_keyframe_request = [&video] { video.requestKeyframe(); };
  ASSERT_TRUE(h.start());
  ASSERT_TRUE(video.start());
  ToneSource tone(h.audioRingFd());
  ASSERT_TRUE(tone.start());
  char dir_template[] = "/tmp/funkhaus-net-audio-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template, wav = dir + "/audio.wav", log = dir + "/ffmpeg.log";
  const std::string command =
      "timeout 40 ffmpeg -nostdin -loglevel error -rtsp_transport tcp -i " + h.url() +
      " -map 0:a -af aresample=async=1:min_hard_comp=0.01 -t 10 -c:a pcm_s16le -y " + wav +
      " -map 0:v -t 10 -f null - >" + log + " 2>&1";
  std::atomic<int> status{-1};
  std::thread ffmpeg([&] { status = std::system(command.c_str()); });
  // Mid-stream: once the viewer plays (its slot) and a few seconds of tone went out.
  const bool playing = waitFor(
      [&] {
        return abi::atomicLoad(h.page().viewers[0].state) ==
                   static_cast<uint32_t>(abi::ViewerState::kPlaying) &&
               h.page().viewers[0].audio.packets_sent > 0;
      },
      15s);
  EXPECT_TRUE(playing);
  std::vector<uint64_t> kill_ns;
  const uint64_t started_ns = monotonicNs();
  for (const auto pause : {0ms, 600ms}) {
    std::this_thread::sleep_for(3s);
    kill_ns.push_back(monotonicNs());
    h.kill9();
    const uint32_t seq_before = h.page().viewers[0].audio.next_sequence;
    std::this_thread::sleep_for(pause);
    const auto restarted = h.start();
    ASSERT_TRUE(restarted) << restarted.error().message;
    EXPECT_TRUE(h.waitForLog("audio seq " + std::to_string(seq_before), 2000))
        << "the successor continued the audio track at the next sequence number";
  }
  ffmpeg.join();
  EXPECT_EQ(status.load(), 0) << command;
  int channels = 0, rate = 0;
  const std::vector<float> samples = readWavChannel0(wav, &channels, &rate);
  ASSERT_GT(samples.size(), size_t(8 * kRate)) << "at least 8 of the 10 s";
  // The silences after the decoder settled: each shorter than a second.
  const auto runs = silences(samples, kRate / 2, samples.size() - kRate / 10);
  std::printf(
      "[figures] RTSP/TCP (ffmpeg, %.2f s written): kills -9 of net at +%.2f s (successor at "
      "once) and +%.2f s (600 ms later) after the viewer played; silences in the WAV:",
      double(samples.size()) / kRate, double(kill_ns[0] - started_ns) / 1e9,
      double(kill_ns[1] - started_ns) / 1e9);
  for (const auto& [at, length] : runs)
    std::printf(" %.1f ms at %.2f s", double(length) * 1000 / kRate, double(at) / kRate);
  std::printf("%s\n", runs.empty() ? " none" : "");
  size_t longest = 0;
  for (const auto& run : runs) longest = std::max(longest, run.second);
  EXPECT_LT(longest, size_t(kRate)) << "less than a second of silence";
  EXPECT_LE(runs.size(), 4u) << "a short silence per kill, no more";
  // The tone in every 0.5 s of the file that no silence touches: before, between and after
  // the kills.
  size_t chunks = 0;
  for (size_t from = kRate / 2; from + kRate / 2 <= samples.size() - kRate / 10;
       from += kRate / 2) {
    const size_t to = from + kRate / 2;
    bool quiet = false;
    for (const auto& [at, length] : runs)
      quiet = quiet || (from < at + length + 480 && to + 480 > at);
    if (quiet) continue;
    const ToneFigures f =
        measure(std::vector<float>(samples.begin() + long(from), samples.begin() + long(to)));
    EXPECT_NEAR(f.frequency, kToneHz, 5) << "at " << double(from) / kRate << " s";
    EXPECT_NEAR(f.rms_db, expectedRmsDb(), 1.0) << "at " << double(from) / kRate << " s";
    ++chunks;
  }
  EXPECT_GE(chunks, 12u);
  tone.stop();
  video.stop();
  EXPECT_TRUE(h.stop().has_value());
  std::system(("rm -rf " + dir).c_str());
}

// An RTSP viewer leaves the channel count to the audio worker; a GameStream client that names
// its channels wins while it streams, and RTSP's request comes back when it ends.
TEST(NetAudio, GamestreamRequestWinsOverRtspsAndRtspsComesBack) {
  if (!haveFfmpeg()) GTEST_SKIP() << "ffmpeg is not installed";
  NetHarnessConfig config;
  config.gamestream = true;
  config.audio = true;
  auto harness = NetHarness::create(config);
  ASSERT_TRUE(harness) << harness.error().message;
  NetHarness& h = **harness;
  uint8_t key[16];
  h.publishLaunch(testLaunch(key, 99));
  VideoSource video(h.ringFd(), 320, 240, 30);
  h.on_keyframe_request = [&video] { video.requestKeyframe(); };
  ASSERT_TRUE(h.start());
  ASSERT_TRUE(video.start());
  ToneSource tone(h.audioRingFd());
  ASSERT_TRUE(tone.start());
  std::thread viewer([&] {
    std::system(("timeout 30 ffmpeg -nostdin -loglevel quiet -rtsp_transport tcp -i " + h.url() +
                 " -map 0:a -t 4 -f null - >/dev/null 2>&1")
                    .c_str());
  });
  const uint64_t rtsp = abi::audioRequest(0, 5), gamestream = abi::audioRequest(6, 10);
  EXPECT_TRUE(waitFor([&] { return h.lastAudioRequest() == rtsp; }, 10s));
  auto stream = handshake(h.gamestreamRtspPort(), gst::AnnounceBody()
                                                      .set("x-nv-audio.surround.numChannels", "6")
                                                      .set("x-nv-audio.surround.channelMask", "63")
                                                      .set("x-nv-aqos.packetDuration", "10")
                                                      .text());
  EXPECT_TRUE(stream);
  EXPECT_TRUE(waitFor([&] { return h.lastAudioRequest() == gamestream; }, 3s));
  abi::GamestreamLaunch cancelled = testLaunch(key, 99);
  cancelled.active = 0;
  h.publishLaunch(cancelled);
  EXPECT_TRUE(waitFor([&] { return h.lastAudioRequest() == rtsp; }, 3s));
  viewer.join();
  EXPECT_TRUE(waitFor([&] { return h.lastAudioRequest() == 0; }, 15s));
  EXPECT_EQ(h.audioRequests(), (std::vector<uint64_t>{0, rtsp, gamestream, rtsp, 0}));
  tone.stop();
  video.stop();
  EXPECT_TRUE(h.stop().has_value());
}

// The surround lines net offers are the audio worker's layouts, as its surroundParams() writes.
TEST(NetAudio, SurroundOfferMatchesTheAudioWorkersLayouts) {
  const std::vector<gs::SurroundParams> offer = gs::surroundOffer();
  ASSERT_EQ(offer.size(), 2u);
  for (const gs::SurroundParams& p : offer) {
    auto layout = audio::gameStreamLayout(p.channels, false);
    ASSERT_TRUE(layout);
    std::string ours =
        std::to_string(p.channels) + std::to_string(p.streams) + std::to_string(p.coupled_streams);
    for (int i = 0; i < p.channels; ++i) ours += char('0' + p.mapping[size_t(i)]);
    EXPECT_EQ(ours, audio::surroundParams(*layout, false)) << int(p.channels) << " channels";
  }
}

}  // namespace
}  // namespace funkhaus::test
