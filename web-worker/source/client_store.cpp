// paired-clients.json (client_store.h).
#include "funkhaus/web/client_store.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "funkhaus/common/files.h"
#include "funkhaus/web/crypto.h"

namespace funkhaus::web {

namespace {

constexpr size_t kMaxStoreBytes = 16 * 1024 * 1024;
constexpr int kFormatVersion = 1;
constexpr int64_t kTouchWriteInterval = 60;  // seconds

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

std::string ClientStore::serialize(const std::map<std::string, PairedClient>& clients) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, c] : clients)
    list.push_back({{"id", c.id},
                    {"name", c.name},
                    {"cert", c.cert_pem},
                    {"paired_at", c.paired_at},
                    {"last_seen", c.last_seen}});
  nlohmann::json doc = {{"version", kFormatVersion}, {"clients", std::move(list)}};
  return doc.dump(2) + "\n";
}

Result<std::map<std::string, PairedClient>> ClientStore::parse(const std::string& text) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return makeError("not valid JSON (truncated?)");
  if (!doc.is_object() || !doc.contains("version") || doc["version"] != kFormatVersion)
    return makeError("not a version {} store (no \"version\": {})", kFormatVersion, kFormatVersion);
  if (!doc.contains("clients") || !doc["clients"].is_array())
    return makeError("\"clients\" is missing or not a list");
  std::map<std::string, PairedClient> out;
  size_t index = 0;
  for (const auto& entry : doc["clients"]) {
    auto field = [&](const char* name) -> const nlohmann::json* {
      auto it = entry.is_object() ? entry.find(name) : entry.end();
      return it == entry.end() ? nullptr : &*it;
    };
    const auto *id = field("id"), *name = field("name"), *cert = field("cert"),
               *paired = field("paired_at"), *seen = field("last_seen");
    if (!id || !id->is_string() || !name || !name->is_string() || !cert || !cert->is_string() ||
        !paired || !paired->is_number_integer() || !seen || !seen->is_number_integer())
      return makeError("client {}: needs string id, name, cert and integer paired_at, last_seen",
                       index);
    PairedClient c{id->get<std::string>(), name->get<std::string>(), cert->get<std::string>(),
                   paired->get<int64_t>(), seen->get<int64_t>()};
    auto parsed = Certificate::fromPem(c.cert_pem);
    if (!parsed) return makeError("client {}: {}", index, parsed.error().message);
    if (parsed->fingerprint() != c.id)
      return makeError("client {}: id {} is not its certificate's fingerprint", index, c.id);
    if (out.count(c.id) != 0) return makeError("client {}: id {} appears twice", index, c.id);
    out.emplace(c.id, std::move(c));
    ++index;
  }
  return out;
}

Result<ClientStore> ClientStore::open(std::filesystem::path path) {
  ClientStore store(std::move(path));
  if (fileMissing(store.path_)) return store;
  auto text = readSmallFile(store.path_, kMaxStoreBytes);
  std::string why;
  if (text) {
    auto clients = parse(*text);
    if (clients) {
      store.clients_ = std::move(*clients);
      return store;
    }
    why = clients.error().message;
  } else {
    why = text.error().message;
  }
  auto aside = moveAside(store.path_);
  if (!aside)
    return makeError("{} is damaged ({}) and cannot be moved aside: {}", store.path_.string(), why,
                     aside.error().message);
  store.warning_ = fmt::format(
      "{} is damaged ({}): moved aside to {}; no client is paired until they pair again",
      store.path_.string(), why, aside->string());
  return store;
}

const PairedClient* ClientStore::find(const std::string& id) const {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : &it->second;
}

std::vector<PairedClient> ClientStore::list() const {
  std::vector<PairedClient> out;
  for (const auto& [id, c] : clients_) out.push_back(c);
  return out;
}

Result<void> ClientStore::save() { return writeFileAtomic(path_, serialize(clients_)); }

Result<void> ClientStore::add(PairedClient client) {
  auto before = clients_;
  clients_[client.id] = std::move(client);
  if (auto ok = save(); !ok) {
    clients_ = std::move(before);
    return ok.error();
  }
  return {};
}

Result<PairedClient> ClientStore::removeByPrefix(const std::string& prefix) {
  const std::string p = upper(prefix);
  if (p.size() < 8 || p.size() > 64)
    return makeError("client id '{}': give 8 to 64 hex characters of it", prefix);
  for (char c : p)
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return makeError("client id '{}': only hex characters", prefix);
  std::vector<std::string> hits;
  for (const auto& [id, c] : clients_)
    if (id.compare(0, p.size(), p) == 0) hits.push_back(id);
  if (hits.empty()) return makeError("no paired client has an id starting with {}", p);
  if (hits.size() > 1)
    return makeError("{} paired clients have ids starting with {}: give more of it", hits.size(),
                     p);
  PairedClient removed = clients_.at(hits.front());
  clients_.erase(hits.front());
  if (auto ok = save(); !ok) {
    clients_.emplace(removed.id, removed);
    return ok.error();
  }
  return removed;
}

Result<bool> ClientStore::remove(const std::string& id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return false;
  PairedClient removed = it->second;
  clients_.erase(it);
  if (auto ok = save(); !ok) {
    clients_.emplace(removed.id, removed);
    return ok.error();
  }
  return true;
}

void ClientStore::touch(const std::string& id, int64_t now) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  const bool write = now - it->second.last_seen >= kTouchWriteInterval;
  it->second.last_seen = now;
  if (write)
    if (auto ok = save(); !ok)
      spdlog::warn("recording when a client was seen: {}", ok.error().message);
}

}  // namespace funkhaus::web
