// Test-only references for GameStream video (and audio) FEC: GF(2^8) by shift-and-XOR, a
// Gaussian-elimination erasure decoder, and the Moonlight client's own decoder (nanors) built from
// its archive at test time. Used by the test thread of funkhaus_gs_video_tests and _audio_tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace funkhaus::net::gamestream::video_test {

// GF(2^8)/0x11D computed bit by bit (independent of the tables under test).
uint8_t refMul(uint8_t a, uint8_t b);
uint8_t refInv(uint8_t a);  // by search; refInv(0) == 0
// The client's parity coefficient for row j, column i of a (data, parity) code.
uint8_t refCoefficient(int parity, int row, int column);

// Fills shards[data + j] with the reference parity of shards[0 .. data).
void refEncode(int data, int parity, std::vector<std::vector<uint8_t>>& shards);

// Rebuilds the data shards flagged in `missing` (size data + parity) from any `data` received
// shards by Gaussian elimination over the reference field. False when too many are missing.
bool refDecode(int data, int parity, std::vector<std::vector<uint8_t>>& shards,
               const std::vector<bool>& missing);

// nanors (moonlight-common-c/nanors, MIT) compiled from the client archive into a temp dir and
// loaded with dlopen, with a one-line shim of ours that sets the parity matrix. Never part of the
// repository or of a funkhaus binary.
class ClientDecoder {
 public:
  // nullptr with `why` set when the archive or a C compiler is absent (the caller skips), or
  // when building or loading fails (`failed` set: the caller fails).
  static std::unique_ptr<ClientDecoder> load(std::string& why, bool& failed);
  ~ClientDecoder();

  // reed_solomon_encode / reed_solomon_decode on `shards` (data + parity, each `size` bytes);
  // decode rebuilds the data shards flagged in `missing`. False when nanors refuses. A non-empty
  // `matrix` (parity x data, row-major) replaces nanors' parity rows as the client does for
  // audio (RtpAudioQueue.c copies its fixed rows into the code's p[]).
  bool encode(int data, int parity, std::vector<std::vector<uint8_t>>& shards,
              const std::vector<uint8_t>& matrix = {}) const;
  bool decode(int data, int parity, std::vector<std::vector<uint8_t>>& shards,
              const std::vector<bool>& missing, const std::vector<uint8_t>& matrix = {}) const;

  const std::string& archive() const { return archive_; }

 private:
  ClientDecoder() = default;

  std::string dir_;
  std::string archive_;
  void* handle_ = nullptr;
  void* (*new_)(int, int) = nullptr;
  void (*release_)(void*) = nullptr;
  int (*encode_)(void*, uint8_t**, int, int) = nullptr;
  int (*decode_)(void*, uint8_t**, uint8_t*, int, int) = nullptr;
  void (*set_matrix_)(void*, const uint8_t*, size_t) = nullptr;  // our shim beside nanors
};

}  // namespace funkhaus::net::gamestream::video_test
