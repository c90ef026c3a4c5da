// The pairing state machine on fake time, against the openssl-CLI vectors (vectors.txt).
#include "funkhaus/web/pairing.h"

#include <gtest/gtest.h>

#include <deque>

#include "vectors.h"

namespace funkhaus::web {
namespace {

using namespace std::chrono_literals;
using test::vec;
using test::vecBytes;
using test::vectorFile;

const std::string kClient = "192.0.2.10";

PairingHost vectorHost() {
  return PairingHost{*PrivateKey::fromPem(vectorFile("host-key.pem")),
                     *Certificate::fromPem(vectorFile("host-cert.pem"))};
}

// The host's random draws: S, then SC, as in the vectors, from `draws` (refilled by the caller).
PairingMachine::RandomSource vectorDraws(std::deque<Bytes>& draws) {
  return [&draws](size_t n) {
    Bytes next = draws.empty() ? Bytes(n, 0x5a) : draws.front();
    if (!draws.empty()) draws.pop_front();
    EXPECT_EQ(next.size(), n);
    return next;
  };
}

class PairingTest : public ::testing::Test {
 protected:
  PairingTest() : machine_(clock_, vectorHost(), PairingLimits{}, vectorDraws(draws_)) {}

  // Phase 1; returns what the deferred reply got (set once it runs).
  std::shared_ptr<std::optional<Result<std::string>>> begin(const std::string& address = kClient) {
    auto got = std::make_shared<std::optional<Result<std::string>>>();
    auto started = machine_.getServerCert(address, "roth", vec("salt"), vec("client_cert_hex"),
                                          [got](Result<std::string> r) { *got = std::move(r); });
    EXPECT_TRUE(started.ok()) << (started.ok() ? "" : started.error().message);
    return got;
  }

  FakeClock clock_;
  std::deque<Bytes> draws_{vecBytes("random_S"), vecBytes("random_SC")};
  PairingMachine machine_;
};

TEST_F(PairingTest, FullPairingMatchesTheOpensslVectors) {
  auto got = begin();
  EXPECT_FALSE(got->has_value());  // waits for the PIN
  ASSERT_EQ(machine_.pending().size(), 1u);
  EXPECT_TRUE(machine_.pending()[0].waiting_for_pin);
  EXPECT_EQ(machine_.pending()[0].name, "roth");
  auto went = machine_.enterPin(vec("pin"));
  ASSERT_TRUE(went.ok()) << went.error().message;
  EXPECT_EQ(*went, kClient);
  ASSERT_TRUE(got->has_value() && (*got)->ok());
  EXPECT_EQ(***got, hexEncode(test::vectorFile("host-cert.pem")));

  auto challenge = machine_.clientChallenge(kClient, vec("clientchallenge"));
  ASSERT_TRUE(challenge.ok()) << challenge.error().message;
  EXPECT_EQ(*challenge, vec("challengeresponse"));
  auto secret = machine_.serverChallengeResponse(kClient, vec("serverchallengeresp"));
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  EXPECT_EQ(*secret, vec("pairingsecret"));
  auto paired = machine_.clientPairingSecret(kClient, vec("clientpairingsecret"));
  ASSERT_TRUE(paired.ok()) << paired.error().message;
  EXPECT_EQ(paired->name, "roth");
  EXPECT_EQ(hexEncode(paired->cert.toPem()), vec("client_cert_hex"));
  EXPECT_TRUE(machine_.pending().empty());
  EXPECT_EQ(machine_.refusedFor(kClient), Duration::zero());
}

TEST_F(PairingTest, WrongPinStoresNothingAndSlowsTheAddressDown) {
  begin();
  ASSERT_TRUE(machine_.enterPin("9999").ok());
  ASSERT_TRUE(machine_.clientChallenge(kClient, vec("clientchallenge")).ok());
  ASSERT_TRUE(machine_.serverChallengeResponse(kClient, vec("serverchallengeresp")).ok());
  auto paired = machine_.clientPairingSecret(kClient, vec("clientpairingsecret"));
  ASSERT_FALSE(paired.ok());
  EXPECT_NE(paired.error().message.find("PIN"), std::string::npos) << paired.error().message;
  EXPECT_TRUE(machine_.pending().empty());
  // Refused for 1 s, then allowed; the next failure doubles it.
  EXPECT_EQ(machine_.refusedFor(kClient), 1s);
  auto refused = machine_.getServerCert(kClient, "roth", vec("salt"), vec("client_cert_hex"),
                                        [](Result<std::string>) {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("refused"), std::string::npos);
  clock_.advance(1s);
  begin();
  machine_.abort(kClient);  // the client's /unpair: a failure too
  EXPECT_EQ(machine_.refusedFor(kClient), 2s);
  // Other addresses are not slowed down.
  EXPECT_EQ(machine_.refusedFor("192.0.2.11"), Duration::zero());
}

// The public-key work goes through the injected PairingCrypto, with the bytes of each step; what
// it answers decides, as OpenSSL's answers do in the tests above.
TEST(PairingCryptoTest, EachStepAsksTheInjectedOperations) {
  FakeClock clock;
  std::deque<Bytes> draws{vecBytes("random_S"), vecBytes("random_SC")};
  std::string parsed;
  Bytes signed_data, verified_data, verified_signature;
  bool verifies = true, signs = true;
  const Bytes marker(256, 0xa5);
  PairingCrypto crypto{
      .parse_certificate = [&](std::string_view pem) -> Result<Certificate> {
        parsed = pem;
        return Certificate::fromPem(pem);
      },
      .sign = [&](const PrivateKey&, std::span<const uint8_t> data) -> Result<Bytes> {
        signed_data.assign(data.begin(), data.end());
        if (!signs) return makeError("no signature today");
        return marker;
      },
      .verify =
          [&](const Certificate&, std::span<const uint8_t> data,
              std::span<const uint8_t> signature) {
            verified_data.assign(data.begin(), data.end());
            verified_signature.assign(signature.begin(), signature.end());
            return verifies;
          }};
  PairingMachine machine(clock, vectorHost(), PairingLimits{}, vectorDraws(draws), crypto);
  auto run = [&]() -> Result<NewPairing> {
    EXPECT_TRUE(machine
                    .getServerCert(kClient, "roth", vec("salt"), vec("client_cert_hex"),
                                   [](Result<std::string>) {})
                    .ok());
    EXPECT_TRUE(machine.enterPin(vec("pin")).ok());
    EXPECT_TRUE(machine.clientChallenge(kClient, vec("clientchallenge")).ok());
    auto secret = machine.serverChallengeResponse(kClient, vec("serverchallengeresp"));
    if (!secret) return secret.error();
    EXPECT_EQ(*secret, hexEncode(concat({vecBytes("random_S"), marker})));
    return machine.clientPairingSecret(kClient, vec("clientpairingsecret"));
  };
  ASSERT_TRUE(run().ok());
  const auto client_pem = hexDecode(vec("client_cert_hex"), "client");
  ASSERT_TRUE(client_pem);
  EXPECT_EQ(parsed, std::string(client_pem->begin(), client_pem->end()));
  EXPECT_EQ(signed_data, vecBytes("random_S"));
  const auto secret = hexDecode(vec("clientpairingsecret"), "secret");
  ASSERT_TRUE(secret);
  EXPECT_EQ(verified_data, Bytes(secret->begin(), secret->begin() + 16));
  EXPECT_EQ(verified_signature, Bytes(secret->begin() + 16, secret->end()));

  verifies = false;
  draws = {vecBytes("random_S"), vecBytes("random_SC")};
  auto refused = run();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("signature"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(machine.refusedFor(kClient), 1s);

  clock.advance(1s);
  signs = false;
  draws = {vecBytes("random_S"), vecBytes("random_SC")};
  auto unsigned_reply = run();
  ASSERT_FALSE(unsigned_reply.ok());
  EXPECT_EQ(unsigned_reply.error().message, "no signature today");
  EXPECT_TRUE(machine.pending().empty()) << "a step that failed ends the session";
  EXPECT_EQ(machine.refusedFor(kClient), 2s);
}

TEST_F(PairingTest, BackoffIsCappedAtOneMinute) {
  for (int i = 0; i < 12; ++i) {
    clock_.advance(machine_.refusedFor(kClient));
    begin();
    machine_.abort(kClient);
  }
  EXPECT_EQ(machine_.refusedFor(kClient), 60s);
}

TEST_F(PairingTest, BadSignatureIsRefused) {
  begin();
  ASSERT_TRUE(machine_.enterPin(vec("pin")).ok());
  ASSERT_TRUE(machine_.clientChallenge(kClient, vec("clientchallenge")).ok());
  ASSERT_TRUE(machine_.serverChallengeResponse(kClient, vec("serverchallengeresp")).ok());
  auto paired = machine_.clientPairingSecret(kClient, vec("bad_signature_clientpairingsecret"));
  ASSERT_FALSE(paired.ok());
  EXPECT_NE(paired.error().message.find("signature"), std::string::npos);
}

TEST_F(PairingTest, PhasesOutOfOrderEndTheSession) {
  // No session at all.
  EXPECT_FALSE(machine_.clientChallenge(kClient, vec("clientchallenge")).ok());
  clock_.advance(1s);
  begin();
  // Before the PIN.
  auto early = machine_.clientChallenge(kClient, vec("clientchallenge"));
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.error().message.find("out of order"), std::string::npos);
  EXPECT_TRUE(machine_.pending().empty());
  clock_.advance(machine_.refusedFor(kClient));
  begin();
  ASSERT_TRUE(machine_.enterPin(vec("pin")).ok());
  // Skipping clientchallenge.
  EXPECT_FALSE(machine_.serverChallengeResponse(kClient, vec("serverchallengeresp")).ok());
  EXPECT_TRUE(machine_.pending().empty());
}

TEST_F(PairingTest, BadParametersAreRefusedWithTheirName) {
  auto bad_salt = machine_.getServerCert(kClient, "x", "0011", vec("client_cert_hex"),
                                         [](Result<std::string>) {});
  ASSERT_FALSE(bad_salt.ok());
  EXPECT_NE(bad_salt.error().message.find("salt"), std::string::npos);
  auto bad_cert =
      machine_.getServerCert(kClient, "x", vec("salt"), "41424344", [](Result<std::string>) {});
  ASSERT_FALSE(bad_cert.ok());
  EXPECT_NE(bad_cert.error().message.find("clientcert"), std::string::npos);
  begin();
  ASSERT_TRUE(machine_.enterPin(vec("pin")).ok());
  auto bad_challenge = machine_.clientChallenge(kClient, "XYZ");
  ASSERT_FALSE(bad_challenge.ok());
  EXPECT_NE(bad_challenge.error().message.find("clientchallenge"), std::string::npos);
}

TEST_F(PairingTest, PinWaitExpiresAfterTwoMinutes) {
  auto got = begin();
  clock_.advance(119s);
  machine_.expire();
  EXPECT_FALSE(got->has_value());
  clock_.advance(1s);
  machine_.expire();
  ASSERT_TRUE(got->has_value());
  EXPECT_FALSE((*got)->ok());
  EXPECT_TRUE(machine_.pending().empty());
  EXPECT_FALSE(machine_.enterPin("1234").ok());
  // Nobody entered a PIN: not the client's failure.
  EXPECT_EQ(machine_.refusedFor(kClient), Duration::zero());
}

TEST_F(PairingTest, EachStepTimesOut) {
  begin();
  ASSERT_TRUE(machine_.enterPin(vec("pin")).ok());
  clock_.advance(31s);
  auto late = machine_.clientChallenge(kClient, vec("clientchallenge"));
  EXPECT_FALSE(late.ok());
  EXPECT_TRUE(machine_.pending().empty());
}

TEST_F(PairingTest, PinGoesToTheOnlyWaitingRequestOrTheNamedOne) {
  EXPECT_FALSE(machine_.enterPin("1234").ok());  // nobody waits
  auto a = begin("192.0.2.1");
  auto b = begin("192.0.2.2");
  auto ambiguous = machine_.enterPin("1234");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_NE(ambiguous.error().message.find("192.0.2.1"), std::string::npos);
  EXPECT_FALSE(machine_.enterPin("12a4", std::string("192.0.2.2")).ok());
  EXPECT_FALSE(machine_.enterPin("12345", std::string("192.0.2.2")).ok());
  ASSERT_TRUE(machine_.enterPin("1234", std::string("192.0.2.2")).ok());
  EXPECT_FALSE(a->has_value());
  EXPECT_TRUE(b->has_value());
  ASSERT_TRUE(machine_.enterPin("1234").ok());  // now only one waits
  EXPECT_TRUE(a->has_value());
}

TEST_F(PairingTest, AtMostEightPending) {
  for (int i = 0; i < 8; ++i) begin("192.0.2." + std::to_string(i));
  auto ninth = machine_.getServerCert("192.0.2.99", "x", vec("salt"), vec("client_cert_hex"),
                                      [](Result<std::string>) {});
  ASSERT_FALSE(ninth.ok());
  EXPECT_NE(ninth.error().message.find("pending"), std::string::npos);
  // A newer request from an address with one pending replaces it (and tells the old one).
  auto again = begin("192.0.2.3");
  EXPECT_EQ(machine_.pending().size(), 8u);
}

TEST_F(PairingTest, NewerRequestFromTheSameAddressReplacesTheOlder) {
  auto first = begin();
  auto second = begin();
  ASSERT_TRUE(first->has_value());
  EXPECT_FALSE((*first)->ok());
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(machine_.pending().size(), 1u);
}

}  // namespace
}  // namespace funkhaus::web
