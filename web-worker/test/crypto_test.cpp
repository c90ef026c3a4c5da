// crypto.h against vectors made with the openssl CLI (vectors/make-vectors.sh).
#include "funkhaus/web/crypto.h"

#include <gtest/gtest.h>

#include "vectors.h"

namespace funkhaus::web {
namespace {

using test::vec;
using test::vecBytes;
using test::vectorFile;

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(WebCrypto, HexRoundTripAndStrictDecoding) {
  const Bytes bytes = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(hexEncode(bytes), "000FA5FF");
  EXPECT_EQ(*hexDecode("000fa5FF", "x"), bytes);
  EXPECT_FALSE(hexDecode("abc", "salt").ok());
  EXPECT_NE(hexDecode("abc", "salt").error().message.find("salt"), std::string::npos);
  EXPECT_FALSE(hexDecode("zz", "x").ok());
  EXPECT_FALSE(hexDecode("0 ", "x").ok());
  auto bad = hexDecode("00a5zz11", "salt");  // the error points at the first bad digit
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "salt: not a hex digit at offset 4");
  EXPECT_EQ(hexDecode("0z", "x").error().message, "x: not a hex digit at offset 1");
  using namespace std::string_view_literals;
  EXPECT_FALSE(hexDecode("00\0\0"sv, "x").ok());  // a NUL is not a digit, nor the end
  EXPECT_FALSE(hexDecode("0\0"sv, "x").ok());
  EXPECT_EQ(*hexDecode("0123456789abcdefABCDEF", "x"),
            (Bytes{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xab, 0xcd, 0xef}));
  EXPECT_FALSE(hexDecode("00", "x", 2).ok());
  EXPECT_TRUE(hexDecode("0000", "x", 2).ok());
  EXPECT_TRUE(hexDecode("", "x").ok());
}

TEST(WebCrypto, HashesMatchOpenssl) {
  EXPECT_EQ(hexEncode(sha256(text("abc"))), vec("sha256_abc"));
  EXPECT_EQ(hexEncode(sha1(text("abc"))), vec("sha1_abc"));
}

TEST(WebCrypto, PairingKeyAndAesMatchOpenssl) {
  Bytes key = sha256(concat({vecBytes("salt"), text(vec("pin"))}));
  key.resize(16);
  EXPECT_EQ(hexEncode(key), vec("aes_key"));
  auto cipher = aes128EcbEncrypt(key, vecBytes("aes_plain"));
  ASSERT_TRUE(cipher.ok()) << cipher.error().message;
  EXPECT_EQ(hexEncode(*cipher), vec("aes_cipher"));
  auto plain = aes128EcbDecrypt(key, *cipher);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(hexEncode(*plain), vec("aes_plain"));
  EXPECT_FALSE(aes128EcbEncrypt(key, Bytes(15)).ok());  // no padding: whole blocks only
  EXPECT_FALSE(aes128EcbEncrypt(Bytes(8), Bytes(16)).ok());
}

TEST(WebCrypto, CertificateSignatureAndFingerprintMatchOpenssl) {
  auto cert = Certificate::fromPem(vectorFile("host-cert.pem"));
  ASSERT_TRUE(cert.ok()) << cert.error().message;
  EXPECT_EQ(hexEncode(cert->signature()), vec("host_cert_signature"));
  EXPECT_EQ(cert->fingerprint(), vec("host_cert_fingerprint"));
  auto key = PrivateKey::fromPem(vectorFile("host-key.pem"));
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_TRUE(cert->matches(*key));
  auto other = PrivateKey::fromPem(vectorFile("client-key.pem"));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(cert->matches(*other));
  auto again = Certificate::fromPem(cert->toPem());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->der(), cert->der());
  EXPECT_FALSE(Certificate::fromPem("-----BEGIN CERTIFICATE-----\nAAAA\n").ok());
  EXPECT_FALSE(PrivateKey::fromPem("garbage").ok());
}

TEST(WebCrypto, RsaSha256SignatureMatchesOpenssl) {
  auto key = PrivateKey::fromPem(vectorFile("host-key.pem"));
  auto cert = Certificate::fromPem(vectorFile("host-cert.pem"));
  ASSERT_TRUE(key.ok() && cert.ok());
  const Bytes secret = vecBytes("random_S");
  auto sig = signSha256(*key, secret);
  ASSERT_TRUE(sig.ok()) << sig.error().message;
  // PKCS#1 v1.5 is deterministic: the same bytes as `openssl dgst -sha256 -sign`.
  const Bytes pairingsecret = vecBytes("pairingsecret");
  EXPECT_EQ(hexEncode(*sig), hexEncode(std::span(pairingsecret).subspan(16)));
  EXPECT_TRUE(verifySha256(*cert, secret, *sig));
  Bytes tampered = *sig;
  tampered[10] ^= 1;
  EXPECT_FALSE(verifySha256(*cert, secret, tampered));
  EXPECT_FALSE(verifySha256(*cert, vecBytes("random_SC"), *sig));
}

TEST(WebCrypto, SelfSignedCertificateIsRsa2048Sha256) {
  auto key = PrivateKey::generateRsa2048();
  ASSERT_TRUE(key.ok());
  auto cert = Certificate::selfSigned(*key, "NVIDIA GameStream Server");
  ASSERT_TRUE(cert.ok()) << cert.error().message;
  EXPECT_TRUE(cert->matches(*key));
  EXPECT_EQ(cert->signature().size(), 256u);  // what clients read
  auto signature = signSha256(*key, Bytes{1, 2, 3});
  ASSERT_TRUE(signature.ok());
  EXPECT_TRUE(verifySha256(*cert, Bytes{1, 2, 3}, *signature));
  auto reloaded = PrivateKey::fromPem(key->toPem());
  ASSERT_TRUE(reloaded.ok());
  EXPECT_TRUE(cert->matches(*reloaded));
}

}  // namespace
}  // namespace funkhaus::web
