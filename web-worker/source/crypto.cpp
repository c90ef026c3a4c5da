// OpenSSL behind crypto.h.
#include "funkhaus/web/crypto.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdlib>

namespace funkhaus::web {

namespace {

std::string opensslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buffer[256];
  ERR_error_string_n(e, buffer, sizeof buffer);
  return buffer;
}

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct CtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Bytes digest(const EVP_MD* md, std::span<const uint8_t> data) {
  Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr) != 1) std::abort();
  return out;
}

Result<Bytes> aesEcb(std::span<const uint8_t> key, std::span<const uint8_t> data, bool encrypt) {
  if (key.size() != 16) return makeError("AES-128 needs a 16-byte key, not {}", key.size());
  if (data.size() % 16 != 0)
    return makeError("AES-128-ECB without padding needs a multiple of 16 bytes, not {}",
                     data.size());
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx ||
      EVP_CipherInit_ex(ctx.get(), EVP_aes_128_ecb(), nullptr, key.data(), nullptr, encrypt) != 1)
    return makeError("AES init: {}", opensslError());
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  Bytes out(data.size() + 16);
  int n = 0, tail = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &n, data.data(), static_cast<int>(data.size())) !=
          1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + n, &tail) != 1)
    return makeError("AES: {}", opensslError());
  out.resize(static_cast<size_t>(n + tail));
  return out;
}

}  // namespace

std::string hexEncode(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

Result<Bytes> hexDecode(std::string_view hex, std::string_view what,
                        std::optional<size_t> expected_bytes) {
  if (hex.size() % 2 != 0) return makeError("{}: odd number of hex digits ({})", what, hex.size());
  if (expected_bytes && hex.size() != *expected_bytes * 2)
    return makeError("{}: {} hex digits, expected {}", what, hex.size(), *expected_bytes * 2);
  Bytes out(hex.size() / 2);
  if (out.empty()) return out;
  // OpenSSL's decoder (a kept library instead of a loop of ours; it also keeps the fuzzers'
  // comparison tracing out of 2 KiB certificates). It wants a terminated string and stops at the
  // first NUL, so a short result is an error too.
  const std::string terminated(hex);
  size_t length = 0;
  if (OPENSSL_hexstr2buf_ex(out.data(), out.size(), &length, terminated.c_str(), '\0') != 1 ||
      length != out.size()) {
    ERR_clear_error();
    const size_t bad = hex.find_first_not_of("0123456789abcdefABCDEF");
    return makeError("{}: not a hex digit at offset {}", what, bad == hex.npos ? 0 : bad);
  }
  return out;
}

Bytes sha256(std::span<const uint8_t> data) { return digest(EVP_sha256(), data); }
Bytes sha1(std::span<const uint8_t> data) { return digest(EVP_sha1(), data); }

Bytes concat(std::initializer_list<std::span<const uint8_t>> parts) {
  Bytes out;
  for (auto part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

Bytes randomBytes(size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) std::abort();  // no entropy: stop
  return out;
}

Result<Bytes> aes128EcbEncrypt(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  return aesEcb(key, data, true);
}
Result<Bytes> aes128EcbDecrypt(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  return aesEcb(key, data, false);
}

void PrivateKey::Free::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

Result<PrivateKey> PrivateKey::generateRsa2048() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (key == nullptr) return makeError("RSA-2048 key generation: {}", opensslError());
  return PrivateKey(key);
}

Result<PrivateKey> PrivateKey::fromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) return makeError("not a PEM private key: {}", opensslError());
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048) {
    EVP_PKEY_free(key);
    return makeError("the private key is not RSA of at least 2048 bits");
  }
  return PrivateKey(key);
}

std::string PrivateKey::toPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    std::abort();
  return bioText(bio.get());
}

Certificate::Certificate(x509_st* cert) : cert_(cert, X509_free) {}

Certificate Certificate::adopt(x509_st* cert) {
  X509_up_ref(cert);
  return Certificate(cert);
}

Result<Certificate> Certificate::selfSigned(const PrivateKey& key, std::string_view common_name,
                                            int years) {
  X509* x = X509_new();
  if (x == nullptr) return makeError("X509_new: {}", opensslError());
  Certificate cert(x);
  X509_set_version(x, 2);  // v3
  BIGNUM* serial = BN_new();
  BN_rand(serial, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(years) * 365 * 24 * 3600);
  X509_set_pubkey(x, key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.data()),
                             static_cast<int>(common_name.size()), -1, 0);
  X509_set_issuer_name(x, name);
  if (X509_sign(x, key.get(), EVP_sha256()) == 0)
    return makeError("signing the certificate: {}", opensslError());
  return cert;
}

Result<Certificate> Certificate::fromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (x == nullptr) return makeError("not a PEM certificate: {}", opensslError());
  Certificate cert(x);
  EVP_PKEY* pub = X509_get0_pubkey(x);
  if (pub == nullptr || EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA)
    return makeError("the certificate's key is not RSA");
  return cert;
}

Result<Certificate> Certificate::fromDer(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (x == nullptr) return makeError("not a DER certificate: {}", opensslError());
  return Certificate(x);
}

std::string Certificate::toPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(bio.get(), cert_.get()) != 1) std::abort();
  return bioText(bio.get());
}

Bytes Certificate::der() const {
  const int n = i2d_X509(cert_.get(), nullptr);
  if (n <= 0) std::abort();
  Bytes out(static_cast<size_t>(n));
  unsigned char* p = out.data();
  i2d_X509(cert_.get(), &p);
  return out;
}

Bytes Certificate::signature() const {
  const ASN1_BIT_STRING* sig = nullptr;
  X509_get0_signature(&sig, nullptr, cert_.get());
  if (sig == nullptr) return {};
  const uint8_t* data = ASN1_STRING_get0_data(sig);
  return Bytes(data, data + ASN1_STRING_length(sig));
}

std::string Certificate::fingerprint() const { return hexEncode(sha256(der())); }

bool Certificate::matches(const PrivateKey& key) const {
  return X509_check_private_key(cert_.get(), key.get()) == 1;
}

Result<Bytes> signSha256(const PrivateKey& key, std::span<const uint8_t> data) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t n = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &n, data.data(), data.size()) != 1)
    return makeError("RSA-SHA256 sign: {}", opensslError());
  Bytes out(n);
  if (EVP_DigestSign(ctx.get(), out.data(), &n, data.data(), data.size()) != 1)
    return makeError("RSA-SHA256 sign: {}", opensslError());
  out.resize(n);
  return out;
}

bool verifySha256(const Certificate& cert, std::span<const uint8_t> data,
                  std::span<const uint8_t> signature) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  const bool ok =
      ctx && pub && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pub) == 1 &&
      EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(), data.size()) ==
          1;
  ERR_clear_error();
  return ok;
}

}  // namespace funkhaus::web
