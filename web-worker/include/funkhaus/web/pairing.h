// The GameStream pairing state machine (gamestream.md §2.2, §3), one session per client address:
// getservercert waits for the PIN entered at the host, then clientchallenge,
// serverchallengeresp and clientpairingsecret must follow in order, each within a step timeout.
// Pure logic on an injected clock, random source and public-key operations. funkhaus-web main
// thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/result.h"
#include "funkhaus/web/crypto.h"

namespace funkhaus::web {

struct PairingLimits {
  Duration pin_wait = std::chrono::minutes(2);       // getservercert waits this long for the PIN
  Duration step_timeout = std::chrono::seconds(30);  // each later phase must come this soon
  Duration backoff_first = std::chrono::seconds(1);  // after a failure from an address,
  Duration backoff_max = std::chrono::seconds(60);   // doubling up to this
  size_t max_pending = 8;                            // sessions at once
};

// What the host brings: its key and certificate (the one that goes out as plaincert), and what
// pairing derives from the certificate, once.
struct PairingHost {
  PairingHost(PrivateKey key, Certificate cert);
  PrivateKey key;
  Certificate cert;
  Bytes cert_signature;       // hashed into the challenge response
  std::string plaincert_hex;  // getservercert's answer
};

// The public-key work of pairing: OpenSSL's (crypto.h) unless replaced. Injected like the clock
// and the random source because each costs a fraction of a millisecond to milliseconds, which is
// all of a run of the pairing fuzz target; what the machine does with their results is the logic
// under test.
struct PairingCrypto {
  // The client's certificate from its PEM (getservercert).
  std::function<Result<Certificate>(std::string_view pem)> parse_certificate = Certificate::fromPem;
  // The host's signature of its secret (serverchallengeresp).
  std::function<Result<Bytes>(const PrivateKey&, std::span<const uint8_t> data)> sign = signSha256;
  // The client's signature of its secret (clientpairingsecret).
  std::function<bool(const Certificate&, std::span<const uint8_t> data,
                     std::span<const uint8_t> signature)>
      verify = verifySha256;
};

// A client that completed pairing: the host stores it.
struct NewPairing {
  Certificate cert;
  std::string name;
};

struct PendingPairing {
  std::string address;
  std::string name;
  Duration age{};
  bool waiting_for_pin = false;
};

class PairingMachine {
 public:
  using RandomSource = std::function<Bytes(size_t)>;
  // The answer to getservercert, once the PIN came (the plaincert hex) or the wait ended.
  using CertReply = std::function<void(Result<std::string>)>;

  PairingMachine(const Clock& clock, PairingHost host, PairingLimits limits = {},
                 RandomSource random = randomBytes, PairingCrypto crypto = {});

  // Phase 1. An error comes back at once (address slowed down, too many pending, bad salt or
  // certificate); otherwise `reply` runs later, from enterPin(), expire() or when a newer
  // request from the same address replaces this one.
  Result<void> getServerCert(const std::string& address, const std::string& name,
                             std::string_view salt_hex, std::string_view cert_hex, CertReply reply);
  // Phases 2-4; each answers the hex the client expects. Any error ends the session and counts
  // as a failure of the address.
  Result<std::string> clientChallenge(const std::string& address, std::string_view hex);
  Result<std::string> serverChallengeResponse(const std::string& address, std::string_view hex);
  Result<NewPairing> clientPairingSecret(const std::string& address, std::string_view hex);

  // The PIN entered at the host (4 digits) for the request of `address`, or for the only request
  // waiting when no address is given. Returns the address it went to.
  Result<std::string> enterPin(std::string_view pin,
                               const std::optional<std::string>& address = std::nullopt);
  // The client gave up (its /unpair): the session ends and counts as a failure.
  void abort(const std::string& address);
  // Ends sessions past their deadline (answering a waiting getservercert). Call now and then.
  void expire();

  std::vector<PendingPairing> pending() const;
  // How long pairing from `address` is refused still (zero: it is not).
  Duration refusedFor(const std::string& address) const;

 private:
  enum class Phase { kWaitingPin, kPinEntered, kChallenged, kSecretSent };
  struct Session {
    std::string name;
    Phase phase = Phase::kWaitingPin;
    TimePoint started{};
    TimePoint deadline{};
    Bytes salt;
    Certificate client_cert;
    CertReply reply;
    Bytes key{};               // AES key from salt and PIN
    Bytes server_secret{};     // S
    Bytes server_challenge{};  // SC
    Bytes client_hash{};
  };
  struct Failures {
    int count = 0;
    TimePoint refused_until{};
  };

  Result<Session*> sessionIn(const std::string& address, Phase phase, const char* step);
  void fail(const std::string& address);
  void end(const std::string& address, const std::string& why, bool failure);

  const Clock& clock_;
  PairingHost host_;
  PairingLimits limits_;
  RandomSource random_;
  PairingCrypto crypto_;
  std::map<std::string, Session> sessions_;
  std::map<std::string, Failures> failures_;
};

}  // namespace funkhaus::web
