// RTSP Digest: the parser of Authorization headers, the response computation against published
// and independently computed vectors, and who may watch (loopback, password, nonces).
#include "funkhaus/net/rtsp/rtsp_auth.h"

#include <gtest/gtest.h>

#include <cstring>
#include <regex>

#include "funkhaus/net/socket.h"

namespace funkhaus::net {
namespace {

sockaddr_storage ipv4(const char* text) {
  sockaddr_storage s{};
  auto& in = reinterpret_cast<sockaddr_in&>(s);
  in.sin_family = AF_INET;
  inet_pton(AF_INET, text, &in.sin_addr);
  return s;
}

sockaddr_storage ipv6(const char* text) {
  sockaddr_storage s{};
  auto& in6 = reinterpret_cast<sockaddr_in6&>(s);
  in6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, text, &in6.sin6_addr);
  return s;
}

std::string nonceOf(const std::string& challenge) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(challenge, m, std::regex("nonce=\"([0-9a-f]+)\""))) << challenge;
  return m.size() > 1 ? m[1].str() : "";
}

std::string header(const std::string& user, const std::string& nonce, const std::string& uri,
                   const std::string& response) {
  return "Digest username=\"" + user + "\", realm=\"funkhaus\", nonce=\"" + nonce + "\", uri=\"" +
         uri + "\", response=\"" + response + "\"";
}

TEST(RtspDigest, Rfc2617ExampleResponse) {
  // RFC 2617 section 3.5: Mufasa / "Circle Of Life", GET /dir/index.html with qop=auth.
  const std::string ha1 = digestHa1("Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_EQ(ha1, "939e7578ed9e3c518a452acee763bce9");
  auto a = parseDigestAuthorization(
      R"(Digest username="Mufasa", realm="testrealm@host.com", )"
      R"(nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, )"
      R"(nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", )"
      R"(opaque="5ccc069c403ebaf9f0171e9517f40e41")");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->username, "Mufasa");
  EXPECT_EQ(a->qop, "auth");
  EXPECT_EQ(RtspAuth::expectedResponse(ha1, "GET", *a), "6629fae49393a05397450978507c4ef1");
}

TEST(RtspDigest, ResponseWithoutQopMatchesAnIndependentComputation) {
  // Computed with Python's hashlib: md5(HA1:nonce:md5("DESCRIBE:uri")).
  const std::string ha1 = digestHa1("viewer", kDigestRealm, "s3cret pass");
  EXPECT_EQ(ha1, "063edd7b0aef40a6cc0b015d956a9809");
  DigestAuthorization a;
  a.nonce = "00000000000000000000000000000000";
  a.uri = "rtsp://10.77.0.1:8554/live";
  EXPECT_EQ(RtspAuth::expectedResponse(ha1, "DESCRIBE", a), "e9c09c76afd732f111bf009340f0aa75");
}

TEST(RtspDigest, ParserTakesQuotedEscapesAndIgnoresUnknownParameters) {
  auto a =
      parseDigestAuthorization(R"(digest username="a \"b\"",realm=funkhaus , nonce="n", uri="*", )"
                               R"(response="E9C09C76AFD732F111BF009340F0AA75", userhash=false)");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->username, "a \"b\"");
  EXPECT_EQ(a->realm, "funkhaus");
  EXPECT_EQ(a->uri, "*");
}

TEST(RtspDigest, ParserNamesWhatIsWrong) {
  const std::string ok_rest =
      R"(realm="funkhaus", nonce="n", uri="/", response="e9c09c76afd732f111bf009340f0aa75")";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Basic dXNlcjpwYXNz", "not the Digest scheme"},
      {"Digest", "not the Digest scheme"},
      {R"(Digest realm="funkhaus", nonce="n", uri="/", response="e9c09c76afd732f111bf009340f0aa75")",
       "username is missing"},
      {R"(Digest username="a", username="b", )" + ok_rest, "username appears twice"},
      {"Digest " + ok_rest + R"(, username="a)", "no closing quote"},
      {R"(Digest username="a", algorithm=SHA-256, )" + ok_rest, "algorithm SHA-256"},
      {R"(Digest username="a", qop=auth, )" + ok_rest, "needs nc"},
      {R"(Digest username="a", qop=auth-int, nc=00000001, cnonce="x", )" + ok_rest, "qop auth-int"},
      {R"(Digest username="a", realm="funkhaus", nonce="n", uri="/", response="xyz")",
       "32 hex digits"},
      {R"(Digest username="a" realm="funkhaus")", "expected ','"},
      {R"(Digest username, )" + ok_rest, "has no value"},
      {R"(Digest username=, )" + ok_rest, "is empty"},
      {"Digest username=\"a\r\n\", " + ok_rest, "control character"},
      {R"(Digest username=")" + std::string(600, 'x') + R"(", )" + ok_rest, "longer than 512"},
  };
  for (const auto& [text, expected] : cases) {
    auto a = parseDigestAuthorization(text);
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_NE(a.error().message.find(expected), std::string::npos)
        << text << " -> " << a.error().message;
  }
}

TEST(RtspDigest, CredentialsFromTheEnvironmentAreChecked) {
  auto c = parseDigestCredentials("viewer:063EDD7B0AEF40A6CC0B015D956A9809");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->user, "viewer");
  EXPECT_EQ(c->ha1, "063edd7b0aef40a6cc0b015d956a9809");
  for (const char* bad :
       {"", "viewer", ":063edd7b0aef40a6cc0b015d956a9809", "viewer:abc",
        "viewer:063edd7b0aef40a6cc0b015d956a980z", "a\"b:063edd7b0aef40a6cc0b015d956a9809"}) {
    auto r = parseDigestCredentials(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kBadConfig) << bad;
  }
}

TEST(RtspDigest, LoopbackIsTheWholeOf127AndV6One) {
  EXPECT_TRUE(isLoopback(ipv4("127.0.0.1")));
  EXPECT_TRUE(isLoopback(ipv4("127.200.3.4")));
  EXPECT_TRUE(isLoopback(ipv6("::1")));
  EXPECT_FALSE(isLoopback(ipv4("10.77.0.1")));
  EXPECT_FALSE(isLoopback(ipv4("128.0.0.1")));
  EXPECT_FALSE(isLoopback(ipv6("::2")));
  EXPECT_FALSE(isLoopback(ipv6("fe80::1")));
}

class RtspAuthCheck : public ::testing::Test {
 protected:
  static constexpr uint64_t kNow = 1'000'000'000'000ull;
  std::array<uint8_t, 32> key_{1, 2, 3};
  DigestCredentials credentials_{"viewer", digestHa1("viewer", kDigestRealm, "pw")};
  RtspAuth auth_{credentials_, key_};
  const sockaddr_storage remote_ = ipv4("10.77.0.1");

  std::string signedHeader(const std::string& nonce, const std::string& password,
                           const std::string& method = "DESCRIBE") {
    DigestAuthorization a;
    a.nonce = nonce;
    a.uri = "rtsp://h/live";
    const std::string response =
        RtspAuth::expectedResponse(digestHa1("viewer", kDigestRealm, password), method, a);
    return header("viewer", nonce, a.uri, response);
  }
};

TEST_F(RtspAuthCheck, LoopbackNeedsNothingOtherHostsNeedAPassword) {
  RtspAuth open(std::nullopt, key_);
  EXPECT_EQ(open.check(ipv4("127.0.0.1"), "DESCRIBE", nullptr, kNow), RtspAuth::Verdict::kAllowed);
  EXPECT_EQ(open.check(remote_, "DESCRIBE", nullptr, kNow), RtspAuth::Verdict::kForbidden);
  EXPECT_FALSE(open.passwordSet());
  EXPECT_EQ(auth_.check(ipv6("::1"), "DESCRIBE", nullptr, kNow), RtspAuth::Verdict::kAllowed);
  EXPECT_EQ(auth_.check(remote_, "DESCRIBE", nullptr, kNow), RtspAuth::Verdict::kChallenge);
}

TEST_F(RtspAuthCheck, AnsweredChallengeIsAllowedWrongPasswordIsNot) {
  const std::string nonce = nonceOf(auth_.challenge(kNow));
  ASSERT_EQ(nonce.size(), 48u);
  const std::string good = signedHeader(nonce, "pw");
  EXPECT_EQ(auth_.check(remote_, "DESCRIBE", &good, kNow + 1000), RtspAuth::Verdict::kAllowed);
  const std::string wrong = signedHeader(nonce, "pW");
  EXPECT_EQ(auth_.check(remote_, "DESCRIBE", &wrong, kNow), RtspAuth::Verdict::kChallenge);
  // Signed for another method: not this request.
  const std::string other = signedHeader(nonce, "pw", "SETUP");
  EXPECT_EQ(auth_.check(remote_, "DESCRIBE", &other, kNow), RtspAuth::Verdict::kChallenge);
  const std::string garbage = "Digest nonsense";
  EXPECT_EQ(auth_.check(remote_, "DESCRIBE", &garbage, kNow), RtspAuth::Verdict::kChallenge);
}

TEST_F(RtspAuthCheck, NoncesAreOursAndExpire) {
  // A nonce made under another key (another process) or edited is not ours.
  RtspAuth other(credentials_, std::array<uint8_t, 32>{9});
  const std::string foreign = signedHeader(nonceOf(other.challenge(kNow)), "pw");
  EXPECT_EQ(auth_.check(remote_, "DESCRIBE", &foreign, kNow), RtspAuth::Verdict::kChallenge);
  std::string nonce = nonceOf(auth_.challenge(kNow));
  nonce[3] = nonce[3] == '0' ? '1' : '0';
  const std::string edited = signedHeader(nonce, "pw");
  EXPECT_EQ(auth_.check(remote_, "DESCRIBE", &edited, kNow), RtspAuth::Verdict::kChallenge);
  // A good answer to an old nonce: stale, so the client retries without asking its user.
  const std::string old = signedHeader(nonceOf(auth_.challenge(kNow)), "pw");
  EXPECT_EQ(auth_.check(remote_, "DESCRIBE", &old, kNow + RtspAuth::kNonceLifetimeNs + 1),
            RtspAuth::Verdict::kStale);
  EXPECT_NE(auth_.challenge(kNow, true).find("stale=TRUE"), std::string::npos);
  // A nonce from the future (clock went back: another boot) is not trusted.
  EXPECT_EQ(auth_.check(remote_, "DESCRIBE", &old, kNow - 1), RtspAuth::Verdict::kChallenge);
}

}  // namespace
}  // namespace funkhaus::net
