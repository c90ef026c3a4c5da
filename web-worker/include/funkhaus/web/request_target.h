// The request target of a GameStream HTTP request ("/pair?uniqueid=...&salt=..."), parsed
// strictly: a path of safe characters, query pairs percent-decoded, no duplicate names, bounded
// sizes; typed getters whose errors name the parameter. funkhaus-web main thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "funkhaus/common/result.h"

namespace funkhaus::web {

inline constexpr size_t kMaxTargetBytes = 32 * 1024;  // clientcert hex is the longest (~2.5 KB)
inline constexpr size_t kMaxQueryPairs = 64;

class RequestTarget {
 public:
  static Result<RequestTarget> parse(std::string_view target);

  const std::string& path() const { return path_; }
  bool has(std::string_view name) const { return query_.find(name) != query_.end(); }
  const std::string* find(std::string_view name) const;
  // The value of a parameter that must be there.
  Result<std::string> text(std::string_view name) const;
  // A decimal integer within [min, max] (an optional sign, digits only).
  Result<int64_t> integer(std::string_view name, int64_t min, int64_t max) const;
  const std::map<std::string, std::string, std::less<>>& query() const { return query_; }

 private:
  std::string path_;
  std::map<std::string, std::string, std::less<>> query_;
};

// A decimal integer in [min, max] or an error naming `what`.
Result<int64_t> parseInteger(std::string_view text, std::string_view what, int64_t min,
                             int64_t max);

}  // namespace funkhaus::web
