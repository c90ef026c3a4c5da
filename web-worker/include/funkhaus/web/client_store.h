// The paired GameStream clients, persisted in paired-clients.json in the state directory: id
// (SHA-256 fingerprint of the client certificate), name, certificate, paired and last-seen times.
// Every write is atomic; a damaged file is moved aside and reported, never replaced silently.
// funkhaus-web main thread (the HTTP loop and the requests of funkhausd share it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::web {

struct PairedClient {
  std::string id;    // upper-case hex SHA-256 of the certificate's DER
  std::string name;  // the devicename it paired with
  std::string cert_pem;
  int64_t paired_at = 0;  // Unix seconds
  int64_t last_seen = 0;  // Unix seconds; 0: never seen since pairing
};

class ClientStore {
 public:
  // Loads `path` (missing: no clients). A damaged or truncated file is moved aside to
  // `<path>.bad-<time>`, named in warning(), and the store starts empty; a later pairing writes
  // a new file. Errors: the file could not be read nor moved aside.
  static Result<ClientStore> open(std::filesystem::path path);

  // A warning from open() (the damaged file and where it went), empty when none.
  const std::string& warning() const { return warning_; }
  const std::filesystem::path& path() const { return path_; }

  const PairedClient* find(const std::string& id) const;
  std::vector<PairedClient> list() const;
  size_t size() const { return clients_.size(); }

  // Adds or replaces the client (same id) and writes the file.
  Result<void> add(PairedClient client);
  // Removes the one client whose id starts with `prefix` (at least 8 hex characters, any case)
  // and writes the file; returns it. Errors: too short, no match, or more than one.
  Result<PairedClient> removeByPrefix(const std::string& prefix);
  // Removes exactly `id` (a client unpairing itself).
  Result<bool> remove(const std::string& id);
  // Notes that `id` was seen at `now`; written at most once a minute per client.
  void touch(const std::string& id, int64_t now);

  // The file's text for `clients` (exposed for tests and the fuzz target of parse()).
  static std::string serialize(const std::map<std::string, PairedClient>& clients);
  static Result<std::map<std::string, PairedClient>> parse(const std::string& text);

 private:
  explicit ClientStore(std::filesystem::path path) : path_(std::move(path)) {}
  Result<void> save();

  std::filesystem::path path_;
  std::map<std::string, PairedClient> clients_;
  std::string warning_;
};

}  // namespace funkhaus::web
