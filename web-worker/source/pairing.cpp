// The pairing state machine (pairing.h).
#include "funkhaus/web/pairing.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace funkhaus::web {

namespace {

constexpr size_t kMaxFailureEntries = 1024;
constexpr size_t kMaxClientCertBytes = 16 * 1024;

std::string phaseName(int phase) {
  static const char* kNames[] = {"getservercert (waiting for the PIN)", "getservercert",
                                 "clientchallenge", "serverchallengeresp"};
  return kNames[phase];
}

}  // namespace

PairingHost::PairingHost(PrivateKey key_in, Certificate cert_in)
    : key(std::move(key_in)),
      cert(std::move(cert_in)),
      cert_signature(cert.signature()),
      plaincert_hex(hexEncode(cert.toPem())) {}

PairingMachine::PairingMachine(const Clock& clock, PairingHost host, PairingLimits limits,
                               RandomSource random, PairingCrypto crypto)
    : clock_(clock),
      host_(std::move(host)),
      limits_(limits),
      random_(std::move(random)),
      crypto_(std::move(crypto)) {}

Duration PairingMachine::refusedFor(const std::string& address) const {
  auto it = failures_.find(address);
  if (it == failures_.end()) return Duration::zero();
  return std::max(Duration::zero(), it->second.refused_until - clock_.now());
}

void PairingMachine::fail(const std::string& address) {
  if (failures_.size() >= kMaxFailureEntries && failures_.count(address) == 0) {
    // Forget the entries whose refusal has passed; if none has, the oldest refusal.
    const TimePoint now = clock_.now();
    std::erase_if(failures_, [&](const auto& f) { return f.second.refused_until <= now; });
    if (failures_.size() >= kMaxFailureEntries)
      failures_.erase(std::min_element(failures_.begin(), failures_.end(), [](auto& a, auto& b) {
        return a.second.refused_until < b.second.refused_until;
      }));
  }
  Failures& f = failures_[address];
  f.count = std::min(f.count + 1, 16);
  Duration backoff = limits_.backoff_first * (int64_t{1} << (f.count - 1));
  backoff = std::min(backoff, limits_.backoff_max);
  f.refused_until = clock_.now() + backoff;
}

void PairingMachine::end(const std::string& address, const std::string& why, bool failure) {
  auto it = sessions_.find(address);
  if (it == sessions_.end()) return;
  CertReply reply = std::move(it->second.reply);
  const bool waiting = it->second.phase == Phase::kWaitingPin;
  sessions_.erase(it);
  if (failure) fail(address);
  if (waiting && reply) reply(makeError("{}", why));
}

Result<void> PairingMachine::getServerCert(const std::string& address, const std::string& name,
                                           std::string_view salt_hex, std::string_view cert_hex,
                                           CertReply reply) {
  expire();
  if (const Duration left = refusedFor(address); left > Duration::zero())
    return makeError("pairing from {} is refused for {} s more after a failed attempt", address,
                     std::chrono::ceil<std::chrono::seconds>(left).count());
  auto salt = hexDecode(salt_hex, "salt", 16);
  if (!salt) return salt.error();
  if (cert_hex.size() > 2 * kMaxClientCertBytes)
    return makeError("clientcert: longer than {} bytes", kMaxClientCertBytes);
  auto pem = hexDecode(cert_hex, "clientcert");
  if (!pem) return pem.error();
  auto cert = crypto_.parse_certificate(
      std::string_view(reinterpret_cast<const char*>(pem->data()), pem->size()));
  if (!cert) return makeError("clientcert: {}", cert.error().message);
  if (cert->signature().empty()) return makeError("clientcert: no signature");
  // A newer request from the same address replaces the older one (the client started over).
  end(address, "replaced by a newer pairing request from the same address", false);
  if (sessions_.size() >= limits_.max_pending)
    return makeError("{} pairing requests are pending already; try again later", sessions_.size());
  Session s{.name = name,
            .phase = Phase::kWaitingPin,
            .started = clock_.now(),
            .deadline = clock_.now() + limits_.pin_wait,
            .salt = std::move(*salt),
            .client_cert = std::move(*cert),
            .reply = std::move(reply)};
  sessions_.emplace(address, std::move(s));
  return {};
}

Result<std::string> PairingMachine::enterPin(std::string_view pin,
                                             const std::optional<std::string>& address) {
  expire();
  if (pin.size() != 4 ||
      !std::all_of(pin.begin(), pin.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return makeError("a PIN is 4 digits");
  std::vector<std::string> waiting;
  for (const auto& [a, s] : sessions_)
    if (s.phase == Phase::kWaitingPin && (!address || *address == a)) waiting.push_back(a);
  if (waiting.empty())
    return address ? makeError("no pairing request from {} waits for a PIN", *address)
                   : makeError("no pairing request waits for a PIN");
  if (waiting.size() > 1)
    return makeError("{} pairing requests wait for a PIN (from {}): say which address",
                     waiting.size(), fmt::join(waiting, ", "));
  const std::string target = waiting.front();
  Session& s = sessions_.at(target);
  Bytes key =
      sha256(concat({s.salt, std::span(reinterpret_cast<const uint8_t*>(pin.data()), pin.size())}));
  key.resize(16);
  s.key = std::move(key);
  s.phase = Phase::kPinEntered;
  s.deadline = clock_.now() + limits_.step_timeout;
  CertReply reply = std::move(s.reply);
  if (reply) reply(host_.plaincert_hex);
  return target;
}

Result<PairingMachine::Session*> PairingMachine::sessionIn(const std::string& address, Phase phase,
                                                           const char* step) {
  expire();
  auto it = sessions_.find(address);
  if (it == sessions_.end()) {
    fail(address);
    return makeError("{}: no pairing in progress from {}", step, address);
  }
  if (it->second.phase != phase) {
    const std::string expected = phaseName(static_cast<int>(it->second.phase));
    end(address, "phase out of order", true);
    return makeError("{} out of order: the session of {} was at {}; it has ended", step, address,
                     expected);
  }
  return &it->second;
}

Result<std::string> PairingMachine::clientChallenge(const std::string& address,
                                                    std::string_view hex) {
  auto s = sessionIn(address, Phase::kPinEntered, "clientchallenge");
  if (!s) return s.error();
  Session& session = **s;
  auto challenge = hexDecode(hex, "clientchallenge", 16);
  if (!challenge) {
    end(address, "bad clientchallenge", true);
    return challenge.error();
  }
  auto c = aes128EcbDecrypt(session.key, *challenge);
  if (!c) {
    end(address, "bad clientchallenge", true);
    return c.error();
  }
  session.server_secret = random_(16);
  session.server_challenge = random_(16);
  const Bytes h = sha256(concat({*c, host_.cert_signature, session.server_secret}));
  auto reply = aes128EcbEncrypt(session.key, concat({h, session.server_challenge}));
  if (!reply) {
    end(address, "encryption failed", true);
    return reply.error();
  }
  session.phase = Phase::kChallenged;
  session.deadline = clock_.now() + limits_.step_timeout;
  return hexEncode(*reply);
}

Result<std::string> PairingMachine::serverChallengeResponse(const std::string& address,
                                                            std::string_view hex) {
  auto s = sessionIn(address, Phase::kChallenged, "serverchallengeresp");
  if (!s) return s.error();
  Session& session = **s;
  auto encrypted = hexDecode(hex, "serverchallengeresp", 32);
  if (!encrypted) {
    end(address, "bad serverchallengeresp", true);
    return encrypted.error();
  }
  auto hash = aes128EcbDecrypt(session.key, *encrypted);
  auto signature = crypto_.sign(host_.key, session.server_secret);
  if (!hash || !signature) {
    end(address, "crypto failed", true);
    return !hash ? hash.error() : signature.error();
  }
  session.client_hash = std::move(*hash);
  session.phase = Phase::kSecretSent;
  session.deadline = clock_.now() + limits_.step_timeout;
  return hexEncode(concat({session.server_secret, *signature}));
}

Result<NewPairing> PairingMachine::clientPairingSecret(const std::string& address,
                                                       std::string_view hex) {
  auto s = sessionIn(address, Phase::kSecretSent, "clientpairingsecret");
  if (!s) return s.error();
  Session session = std::move(**s);
  sessions_.erase(address);  // done either way
  auto secret = hexDecode(hex, "clientpairingsecret", 16 + 256);
  if (!secret) {
    fail(address);
    return secret.error();
  }
  const std::span<const uint8_t> cs(secret->data(), 16);
  const std::span<const uint8_t> sig(secret->data() + 16, 256);
  const Bytes expected =
      sha256(concat({session.server_challenge, session.client_cert.signature(), cs}));
  // The client hashed with SHA-256 (appversion major 7): 32 bytes.
  const bool hash_ok = session.client_hash.size() >= expected.size() &&
                       std::equal(expected.begin(), expected.end(), session.client_hash.begin());
  const bool sig_ok = crypto_.verify(session.client_cert, cs, sig);
  if (!hash_ok || !sig_ok) {
    fail(address);
    return makeError("pairing with {} failed: {}", address,
                     !hash_ok ? "the PIN was wrong (challenge hash mismatch)"
                              : "the client's signature does not verify");
  }
  failures_.erase(address);
  return NewPairing{std::move(session.client_cert), std::move(session.name)};
}

void PairingMachine::abort(const std::string& address) {
  end(address, "the client cancelled the pairing", true);
}

void PairingMachine::expire() {
  const TimePoint now = clock_.now();
  std::vector<std::pair<std::string, bool>> late;
  for (const auto& [address, s] : sessions_)
    if (now >= s.deadline) late.emplace_back(address, s.phase == Phase::kWaitingPin);
  for (const auto& [address, waiting] : late)
    end(address,
        waiting ? "no PIN was entered at the host within the time allowed"
                : "the client did not continue the pairing in time",
        !waiting);
}

std::vector<PendingPairing> PairingMachine::pending() const {
  std::vector<PendingPairing> out;
  const TimePoint now = clock_.now();
  for (const auto& [address, s] : sessions_)
    out.push_back({address, s.name, now - s.started, s.phase == Phase::kWaitingPin});
  return out;
}

}  // namespace funkhaus::web
