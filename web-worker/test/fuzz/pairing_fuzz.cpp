// Fuzz target: the pairing state machine. The input is a script of steps (phase, address,
// argument) run against one machine on fake time; any order and any bytes give a reply or a clear
// error, never a crash, and nothing is paired without the right secrets.
// fuzz-parser: web-worker/source/pairing.cpp
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/web/pairing.h"

namespace {

using namespace funkhaus;
using namespace funkhaus::web;

// The host's key and certificate, made once (RSA generation is slow).
struct Host {
  PairingHost pairing;
  std::string cert_pem;
};

const Host& host() {
  static const Host h = [] {
    auto key = PrivateKey::generateRsa2048();
    auto cert = Certificate::selfSigned(*key, "fuzz host");
    return Host{PairingHost{*key, *cert}, cert->toPem()};
  }();
  return h;
}

// The stand-in for an RSA-2048 signature: what `sign` gives and the only thing `verify` takes.
const Bytes kSignature(256, 0x5a);

// OpenSSL's RSA signature and OpenSSL 3's decoder set-up for a certificate's key were nine
// tenths of a run (perf; 20 000 runs and the one RSA key generation took 5.6 s in the gcc
// build's driver); the logic around them is what is fuzzed here. A certificate from the input
// is still parsed by OpenSSL; the host's own, which most scripts send, is parsed once. The crypto
// itself is pairing_test's, with real keys and a real client.
PairingCrypto fastCrypto(const Host& h) {
  return PairingCrypto{
      .parse_certificate = [&h](std::string_view pem) -> Result<Certificate> {
        if (pem == h.cert_pem) return h.pairing.cert;
        return Certificate::fromPem(pem);
      },
      .sign = [](const PrivateKey&, std::span<const uint8_t>) -> Result<Bytes> {
        return kSignature;
      },
      .verify =
          [](const Certificate&, std::span<const uint8_t>, std::span<const uint8_t> signature) {
            return std::equal(signature.begin(), signature.end(), kSignature.begin(),
                              kSignature.end());
          }};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A new machine (and clock) for every input: what a run does depends on its input alone, so a
  // finding replays by itself, and an execution frees what it allocated (a machine kept across
  // executions held sessions between them, and libFuzzer re-ran every such input for a leak
  // check, a third of the time).
  const Host& h = host();
  FakeClock clock;
  PairingMachine machine(
      clock, h.pairing, PairingLimits{}, [](size_t n) { return Bytes(n, 0x42); }, fastCrypto(h));
  size_t i = 0;
  auto byte = [&]() -> uint8_t { return i < size ? data[i++] : 0; };
  // A getservercert with the host's certificate hex-decodes its 2.2 KiB of hex. libFuzzer's
  // scripts grew to 1.5 KiB, room for hundreds of such three-byte steps, and hexDecode became
  // 73 % of the run (perf). At most 12 a script (was 32): a session on each of the 4 addresses and
  // 8 more; the failures the backoff counts need none (a step on an address without a session
  // fails), and a certificate from the input is not capped.
  int host_cert_requests = 0;
  auto hostCertRequest = [&] { return ++host_cert_requests <= 12; };
  while (i < size) {
    const uint8_t op = byte();
    const std::string address = "192.0.2." + std::to_string(byte() % 4);
    const uint8_t quarter = byte();  // read before `size - i`: arguments are unsequenced
    const size_t wanted = quarter * 4u;
    const size_t length = std::min<size_t>(wanted, size - i);
    const std::string arg(reinterpret_cast<const char*>(data + i), length);
    i += length;
    switch (op % 9) {
      case 0: {
        if (!hostCertRequest()) break;
        auto r = machine.getServerCert(address, arg.substr(0, 16), arg, h.pairing.plaincert_hex,
                                       [](Result<std::string>) {});
        if (!r && r.error().message.empty()) __builtin_trap();
        break;
      }
      case 1:
        if (quarter % 2 == 0 && !hostCertRequest()) break;
        // The client's certificate from the input on odd length bytes, the host's own on even
        // ones (`length` is a multiple of 4 but at the input's end, so it cannot choose).
        (void)machine.getServerCert(address, "n", "00112233445566778899AABBCCDDEEFF",
                                    quarter % 2 ? arg : h.pairing.plaincert_hex,
                                    [](Result<std::string>) {});
        break;
      case 2:
        (void)machine.enterPin(arg.substr(0, 6), std::nullopt);
        (void)machine.enterPin("1234", address);
        break;
      case 3:
        (void)machine.clientChallenge(address, arg);
        break;
      case 4:
        (void)machine.serverChallengeResponse(address, arg);
        break;
      case 5:
        // The signature may be right (the stand-in), the challenge hash cannot be: it is under
        // the AES key of salt and PIN.
        if (machine.clientPairingSecret(address, arg).ok()) __builtin_trap();
        break;
      case 6:
        machine.abort(address);
        break;
      case 7:
        clock.advance(std::chrono::seconds(arg.size()));
        machine.expire();
        break;
      default:
        if (machine.pending().size() > PairingLimits{}.max_pending) __builtin_trap();
    }
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  // getservercert, PIN, a 32-hex clientchallenge, a 64-hex response, a secret, expiry.
  std::vector<uint8_t> seed = {1, 0, 0, 2, 0, 1, '1', '2', '3', '4'};
  auto add = [&](uint8_t op, const std::string& hex) {
    seed.push_back(op);
    seed.push_back(0);
    seed.push_back(static_cast<uint8_t>(hex.size() / 4));
    seed.insert(seed.end(), hex.begin(), hex.end());
  };
  add(3, std::string(32, 'A'));
  add(4, std::string(64, 'B'));
  add(5, std::string(544, 'C').substr(0, 1020));
  add(7, std::string(8, 'x'));
  return {seed};
}
