// Password hashing, the secrets files, sessions and the login rate limit.
#include "funkhaus/console/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace funkhaus::console {
namespace {

namespace fs = std::filesystem;

constexpr ScryptParams kFast{1024, 8, 1};  // tests only: cheap

fs::path tempDir(const char* name) {
  fs::path d = fs::temp_directory_path() /
               (std::string("console-auth-") + name + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t modeOf(const fs::path& p) {
  struct stat st {};
  stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(Password, HashIsSaltedScryptTextThatOnlyTheRightPasswordMatches) {
  auto a = hashPassword("correct horse", kFast);
  auto b = hashPassword("correct horse", kFast);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->starts_with("$scrypt$1024$8$1$")) << *a;
  EXPECT_NE(*a, *b) << "a random salt each time";
  EXPECT_EQ(a->find("correct"), std::string::npos);
  EXPECT_TRUE(verifyPassword("correct horse", *a));
  EXPECT_TRUE(verifyPassword("correct horse", *b));
  EXPECT_FALSE(verifyPassword("correct hors", *a));
  EXPECT_FALSE(verifyPassword("correct horse ", *a));
  EXPECT_FALSE(verifyPassword("", *a));
}

TEST(Password, DefaultCostIsTwoToTheFifteen) {
  auto h = hashPassword("x");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->starts_with("$scrypt$32768$8$1$")) << *h;
  EXPECT_TRUE(verifyPassword("x", *h));
}

TEST(Password, MalformedOrTooCostlyStoredTextNeverMatches) {
  auto good = hashPassword("pw", kFast);
  ASSERT_TRUE(good.ok());
  const std::string salt_hash = good->substr(std::string("$scrypt$1024$8$1$").size());
  for (const std::string& bad :
       {std::string(""), std::string("pw"), "$scrypt$1024$8$1$" + salt_hash + "$x",
        "$bcrypt$1024$8$1$" + salt_hash, "$scrypt$1000$8$1$" + salt_hash,  // not a power of 2
        "$scrypt$2097152$8$1$" + salt_hash,                                // 2^21: beyond
        "$scrypt$1024$64$1$" + salt_hash, "$scrypt$1024$8$99$" + salt_hash,
        "$scrypt$1024$8$1$zz$" + salt_hash.substr(salt_hash.find('$') + 1),
        "$scrypt$1024$8$1$" + salt_hash.substr(0, salt_hash.size() - 2)})
    EXPECT_FALSE(verifyPassword("pw", bad)) << bad;
}

TEST(Tokens, ConstantTimeEqualNeedsTheSameLengthAndBytes) {
  EXPECT_TRUE(constantTimeEqual("abc", "abc"));
  EXPECT_FALSE(constantTimeEqual("abc", "abd"));
  EXPECT_FALSE(constantTimeEqual("abc", "abcd"));
  EXPECT_FALSE(constantTimeEqual("", "a"));
  EXPECT_EQ(randomHex(32).size(), 64u);
  EXPECT_NE(randomHex(32), randomHex(32));
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Secrets, PasswordAndTokenAreStoredHashedIn0600FilesAndSurviveAReopen) {
  const fs::path dir = tempDir("secrets");
  auto s = Secrets::open(dir, kFast);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_FALSE(s->hasPassword());
  EXPECT_FALSE(s->checkPassword("anything"));
  EXPECT_FALSE(s->checkMetricsToken(""));
  ASSERT_TRUE(s->setPassword("hunter22hunter").ok());
  auto token = s->newMetricsToken();
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->size(), 64u);
  EXPECT_EQ(modeOf(dir), 0700u);
  EXPECT_EQ(modeOf(dir / "console-password"), 0600u);
  EXPECT_EQ(modeOf(dir / "metrics-token"), 0600u);
  EXPECT_EQ(slurp(dir / "console-password").find("hunter"), std::string::npos);
  EXPECT_EQ(slurp(dir / "metrics-token"), sha256Hex(*token) + "\n") << "only its SHA-256";
  auto again = Secrets::open(dir, kFast);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->checkPassword("hunter22hunter"));
  EXPECT_FALSE(again->checkPassword("hunter22hunteR"));
  EXPECT_TRUE(again->checkMetricsToken(*token));
  EXPECT_FALSE(again->checkMetricsToken(token->substr(1)));
  auto second = again->newMetricsToken();
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(again->checkMetricsToken(*token)) << "a new token ends the old one";
  fs::remove_all(dir);
}

TEST(Secrets, ADamagedFileIsMovedAsideNotTrusted) {
  const fs::path dir = tempDir("damaged");
  fs::create_directories(dir);
  std::ofstream(dir / "console-password") << "plain text password\n";
  std::ofstream(dir / "metrics-token") << "not-a-digest\n";
  auto s = Secrets::open(dir, kFast);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->hasPassword());
  EXPECT_FALSE(s->hasMetricsToken());
  EXPECT_EQ(s->notes().size(), 2u);
  EXPECT_FALSE(fs::exists(dir / "console-password"));
  fs::remove_all(dir);
}

TEST(Sessions, ATokenGivesItsCsrfUntilItExpiresOrIsRemoved) {
  int64_t now = 1000;
  SessionStore store("", [&] { return now; });
  const auto a = store.create();
  const auto b = store.create();
  EXPECT_EQ(a.token.size(), 64u);
  EXPECT_NE(a.token, b.token);
  EXPECT_NE(a.csrf, b.csrf);
  EXPECT_EQ(store.csrfOf(a.token), a.csrf);
  EXPECT_EQ(store.csrfOf(b.token), b.csrf);
  EXPECT_FALSE(store.csrfOf(a.csrf).has_value()) << "the CSRF token is no session";
  EXPECT_FALSE(store.csrfOf("").has_value());
  EXPECT_FALSE(store.csrfOf(std::string(64, 'g')).has_value());
  store.remove(a.token);
  EXPECT_FALSE(store.csrfOf(a.token).has_value());
  now += SessionStore::kLifetimeS;
  EXPECT_FALSE(store.csrfOf(b.token).has_value()) << "12 h after its login";
  const auto c = store.create();
  store.clear();
  EXPECT_FALSE(store.csrfOf(c.token).has_value());
}

TEST(Sessions, AreKeptHashedInTheirFileAndKnownToTheNextConsole) {
  const fs::path dir = tempDir("sessions");
  fs::create_directories(dir);
  int64_t now = 5000;
  SessionStore::Created made;
  {
    SessionStore store(dir / "console-sessions", [&] { return now; });
    made = store.create();
  }
  const std::string file = slurp(dir / "console-sessions");
  EXPECT_EQ(file.find(made.token), std::string::npos) << "never the token itself";
  EXPECT_NE(file.find(sha256Hex(made.token)), std::string::npos);
  EXPECT_EQ(modeOf(dir / "console-sessions"), 0600u);
  SessionStore next(dir / "console-sessions", [&] { return now; });
  EXPECT_EQ(next.csrfOf(made.token), made.csrf);
  fs::remove_all(dir);
}

TEST(Sessions, AtMostThirtyTwoTheOldestGoes) {
  int64_t now = 1;
  SessionStore store("", [&] { return now; });
  const auto first = store.create();
  for (size_t i = 0; i < SessionStore::kMaxSessions; ++i) {
    ++now;
    store.create();
  }
  EXPECT_EQ(store.size(), SessionStore::kMaxSessions);
  EXPECT_FALSE(store.csrfOf(first.token).has_value());
}

TEST(LoginLimit, FiveFailuresPerAddressAndTwentyInAllPerMinute) {
  int64_t now = 0;
  LoginLimiter limit([&] { return now; });
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(limit.allowed("10.0.0.1"));
    limit.failed("10.0.0.1");
  }
  EXPECT_FALSE(limit.allowed("10.0.0.1"));
  EXPECT_TRUE(limit.allowed("10.0.0.2")) << "another address still may";
  EXPECT_EQ(limit.retryAfterS(), 60);
  now += 30'000;
  EXPECT_FALSE(limit.allowed("10.0.0.1"));
  now += 30'000;
  EXPECT_TRUE(limit.allowed("10.0.0.1")) << "a minute later";
  for (int i = 0; i < 20; ++i) limit.failed("10.1.0." + std::to_string(i));
  EXPECT_FALSE(limit.allowed("10.9.9.9")) << "20 in all";
}

}  // namespace
}  // namespace funkhaus::console
