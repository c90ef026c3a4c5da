// The cryptography of GameStream pairing and of the host identity, on OpenSSL only: strict hex,
// SHA-1/SHA-256, AES-128-ECB without padding, RSA-2048 keys, self-signed X.509 certificates,
// RSA-SHA256 signatures. funkhaus-web, any thread (no shared state).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/common/result.h"

struct evp_pkey_st;
struct x509_st;

namespace funkhaus::web {

using Bytes = std::vector<uint8_t>;

// Upper-case hex of `bytes`.
std::string hexEncode(std::span<const uint8_t> bytes);
inline std::string hexEncode(std::string_view text) {
  return hexEncode(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}
// Strict: an even number of hex digits (either case) and nothing else; `expected_bytes`, when
// given, must match. The error names `what` and says what is wrong.
Result<Bytes> hexDecode(std::string_view hex, std::string_view what,
                        std::optional<size_t> expected_bytes = std::nullopt);

Bytes sha256(std::span<const uint8_t> data);
Bytes sha1(std::span<const uint8_t> data);
Bytes concat(std::initializer_list<std::span<const uint8_t>> parts);
Bytes randomBytes(size_t n);

// AES-128-ECB without padding: `key` is 16 bytes, `data` a multiple of 16 bytes.
Result<Bytes> aes128EcbEncrypt(std::span<const uint8_t> key, std::span<const uint8_t> data);
Result<Bytes> aes128EcbDecrypt(std::span<const uint8_t> key, std::span<const uint8_t> data);

class PrivateKey {
 public:
  static Result<PrivateKey> generateRsa2048();
  static Result<PrivateKey> fromPem(std::string_view pem);
  std::string toPem() const;
  evp_pkey_st* get() const { return key_.get(); }

 private:
  struct Free {
    void operator()(evp_pkey_st* key) const;
  };
  explicit PrivateKey(evp_pkey_st* key) : key_(key, Free{}) {}
  std::shared_ptr<evp_pkey_st> key_;
};

class Certificate {
 public:
  // Self-signed, X.509 v3, SHA-256, `common_name` as subject and issuer, a random serial,
  // valid from now for `years`.
  static Result<Certificate> selfSigned(const PrivateKey& key, std::string_view common_name,
                                        int years = 20);
  // One PEM certificate; its key must be RSA (GameStream clients break on others).
  static Result<Certificate> fromPem(std::string_view pem);
  static Result<Certificate> fromDer(std::span<const uint8_t> der);
  // Takes a reference of an OpenSSL certificate (e.g. a TLS peer's).
  static Certificate adopt(x509_st* cert);

  std::string toPem() const;
  Bytes der() const;
  // The raw signatureValue bits (256 bytes for RSA-2048), as pairing hashes them.
  Bytes signature() const;
  // Upper-case hex SHA-256 over the DER: the client's id in the store.
  std::string fingerprint() const;
  // True when `key` is the private half of this certificate's public key.
  bool matches(const PrivateKey& key) const;
  x509_st* get() const { return cert_.get(); }

 private:
  explicit Certificate(x509_st* cert);
  std::shared_ptr<x509_st> cert_;
};

// RSA PKCS#1 v1.5 signature with SHA-256.
Result<Bytes> signSha256(const PrivateKey& key, std::span<const uint8_t> data);
bool verifySha256(const Certificate& cert, std::span<const uint8_t> data,
                  std::span<const uint8_t> signature);

}  // namespace funkhaus::web
