// The paired-client store and the host identity files: atomic, private, and damaged files moved
// aside with a warning naming them, never silently replaced.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "funkhaus/common/files.h"
#include "funkhaus/web/client_store.h"
#include "funkhaus/web/identity.h"
#include "temp_dir.h"
#include "vectors.h"

namespace funkhaus::web {
namespace {

using test::filesStartingWith;
using test::TempDir;
using test::vectorFile;

mode_t modeOf(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

PairedClient clientRecord() {
  auto cert = Certificate::fromPem(vectorFile("client-cert.pem"));
  EXPECT_TRUE(cert.ok());
  return PairedClient{cert->fingerprint(), "roth", cert->toPem(), 1700000000, 0};
}

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

TEST(WebClientStore, AddPersistsPrivatelyAndReloads) {
  TempDir dir;
  const auto path = dir.path() / "paired-clients.json";
  auto store = ClientStore::open(path);
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store->size(), 0u);
  EXPECT_TRUE(store->warning().empty());
  ASSERT_TRUE(store->add(clientRecord()).ok());
  EXPECT_EQ(modeOf(path), 0600u);
  EXPECT_TRUE(filesStartingWith(dir.path(), ".paired-clients.json.").empty());  // no temp left
  auto again = ClientStore::open(path);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  const PairedClient* c = again->find(clientRecord().id);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "roth");
  EXPECT_EQ(c->paired_at, 1700000000);
}

TEST(WebClientStore, TruncatedFileIsMovedAsideAndReported) {
  TempDir dir;
  const auto path = dir.path() / "paired-clients.json";
  std::string text;
  {
    auto store = ClientStore::open(path);
    ASSERT_TRUE(store->add(clientRecord()).ok());
    text = *readSmallFile(path, 1 << 20);
  }
  write(path, text.substr(0, text.size() / 2));
  auto store = ClientStore::open(path);
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store->size(), 0u);
  EXPECT_NE(store->warning().find(path.string()), std::string::npos) << store->warning();
  const auto aside = filesStartingWith(dir.path(), "paired-clients.json.bad-");
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_NE(store->warning().find(aside[0]), std::string::npos);
  EXPECT_EQ(*readSmallFile(dir.path() / aside[0], 1 << 20), text.substr(0, text.size() / 2));
  EXPECT_FALSE(std::filesystem::exists(path));  // not replaced by an empty one
  // Pairing again works and writes a new file.
  ASSERT_TRUE(store->add(clientRecord()).ok());
  EXPECT_EQ(ClientStore::open(path)->size(), 1u);
}

TEST(WebClientStore, WrongShapesAreRefusedByParse) {
  EXPECT_FALSE(ClientStore::parse("{}").ok());
  EXPECT_FALSE(ClientStore::parse("{\"version\":2,\"clients\":[]}").ok());
  EXPECT_FALSE(ClientStore::parse("{\"version\":1,\"clients\":{}}").ok());
  EXPECT_FALSE(ClientStore::parse("{\"version\":1,\"clients\":[{\"id\":\"AB\"}]}").ok());
  PairedClient c = clientRecord();
  c.id = std::string(64, 'A');  // not the certificate's fingerprint
  auto text = ClientStore::serialize({{c.id, c}});
  auto parsed = ClientStore::parse(text);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("fingerprint"), std::string::npos);
  EXPECT_TRUE(ClientStore::parse("{\"version\":1,\"clients\":[]}").ok());
}

TEST(WebClientStore, RemoveByUniquePrefixOfEightOrMore) {
  TempDir dir;
  auto store = ClientStore::open(dir.path() / "paired-clients.json");
  const PairedClient c = clientRecord();
  ASSERT_TRUE(store->add(c).ok());
  EXPECT_FALSE(store->removeByPrefix(c.id.substr(0, 7)).ok());
  EXPECT_FALSE(store->removeByPrefix("zzzzzzzz").ok());
  EXPECT_FALSE(store->removeByPrefix(c.id[0] == '0' ? "11111111" : "00000000").ok());
  std::string lower = c.id.substr(0, 8);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(ch));
  auto removed = store->removeByPrefix(lower);
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(removed->id, c.id);
  EXPECT_EQ(ClientStore::open(dir.path() / "paired-clients.json")->size(), 0u);
}

TEST(WebIdentity, MadeOnceThenStable) {
  TempDir dir;
  const auto state = dir.path() / "state";
  auto first = loadOrCreateIdentity(state);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->notes.size(), 3u);  // key, certificate, id made
  EXPECT_EQ(modeOf(state), 0700u);
  EXPECT_EQ(modeOf(state / "host-key.pem"), 0600u);
  EXPECT_EQ(modeOf(state / "host-cert.pem"), 0600u);
  EXPECT_TRUE(isUuid(first->unique_id));
  auto second = loadOrCreateIdentity(state);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->notes.empty());
  EXPECT_EQ(second->cert.der(), first->cert.der());
  EXPECT_EQ(second->unique_id, first->unique_id);
}

TEST(WebIdentity, DamagedFilesAreMovedAsideNotOverwritten) {
  TempDir dir;
  auto first = loadOrCreateIdentity(dir.path());
  ASSERT_TRUE(first.ok());
  write(dir.path() / "host-cert.pem", "-----BEGIN CERTIFICATE-----\ntruncated");
  write(dir.path() / "host-id", "not-a-uuid\n");
  auto second = loadOrCreateIdentity(dir.path());
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_TRUE(second->cert.matches(first->key));  // same key, new certificate
  EXPECT_NE(second->unique_id, first->unique_id);
  EXPECT_EQ(filesStartingWith(dir.path(), "host-cert.pem.bad-").size(), 1u);
  EXPECT_EQ(filesStartingWith(dir.path(), "host-id.bad-").size(), 1u);
  bool named = false;
  for (const auto& note : second->notes)
    named |= note.find("host-cert.pem.bad-") != std::string::npos;
  EXPECT_TRUE(named);

  // A damaged key: the certificate that went with it is kept aside too.
  write(dir.path() / "host-key.pem", "garbage");
  auto third = loadOrCreateIdentity(dir.path());
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(filesStartingWith(dir.path(), "host-key.pem.bad-").size(), 1u);
  EXPECT_GE(filesStartingWith(dir.path(), "host-cert.pem.bad-").size(), 2u);
  EXPECT_TRUE(third->cert.matches(third->key));
}

}  // namespace
}  // namespace funkhaus::web
