// The request target parser (request_target.h).
#include "funkhaus/web/request_target.h"

#include <cctype>
#include <charconv>
#include <cstring>

namespace funkhaus::web {

namespace {

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percentDecode(std::string_view in, std::string_view what) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size())
        return makeError("{}: '%' at offset {} is not followed by two hex digits", what, i);
      const int hi = hexDigit(in[i + 1]), lo = hexDigit(in[i + 2]);
      if (hi < 0 || lo < 0)
        return makeError("{}: '%' at offset {} is not followed by two hex digits", what, i);
      const char decoded = static_cast<char>(hi << 4 | lo);
      if (decoded == '\0' || static_cast<unsigned char>(decoded) < 0x20)
        return makeError("{}: control character at offset {}", what, i);
      out.push_back(decoded);
      i += 2;
    } else if (c == '+') {
      out.push_back(' ');
    } else if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return makeError("{}: byte 0x{:02x} at offset {} is not allowed", what,
                       static_cast<unsigned char>(c), i);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Result<int64_t> parseInteger(std::string_view text, std::string_view what, int64_t min,
                             int64_t max) {
  int64_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (!text.empty() && text.front() == '+') ++begin;
  if (begin == end) return makeError("{}: empty, expected an integer", what);
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end)
    return makeError("{}: '{}' is not a decimal integer", what, text.substr(0, 32));
  if (value < min || value > max)
    return makeError("{}: {} is outside {}..{}", what, value, min, max);
  return value;
}

Result<RequestTarget> RequestTarget::parse(std::string_view target) {
  if (target.size() > kMaxTargetBytes)
    return makeError("request target longer than {} bytes", kMaxTargetBytes);
  if (target.empty() || target.front() != '/')
    return makeError("request target must start with '/'");
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  RequestTarget out;
  for (char c : path)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("/-._~", c) == nullptr)
      return makeError("path: character 0x{:02x} is not allowed", static_cast<unsigned char>(c));
  out.path_ = std::string(path);
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;  // "a=1&&b=2" and a trailing '&' are harmless
    if (out.query_.size() >= kMaxQueryPairs)
      return makeError("more than {} query parameters", kMaxQueryPairs);
    const size_t eq = pair.find('=');
    auto name = percentDecode(pair.substr(0, eq), "query parameter name");
    if (!name) return name.error();
    if (name->empty()) return makeError("a query parameter without a name");
    for (char c : *name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
        return makeError("query parameter name '{}' has character 0x{:02x}", name->substr(0, 32),
                         static_cast<unsigned char>(c));
    auto value = eq == std::string_view::npos ? Result<std::string>(std::string())
                                              : percentDecode(pair.substr(eq + 1), *name);
    if (!value) return value.error();
    if (!out.query_.emplace(*name, std::move(*value)).second)
      return makeError("query parameter '{}' appears twice", name->substr(0, 32));
  }
  return out;
}

const std::string* RequestTarget::find(std::string_view name) const {
  auto it = query_.find(name);
  return it == query_.end() ? nullptr : &it->second;
}

Result<std::string> RequestTarget::text(std::string_view name) const {
  const std::string* value = find(name);
  if (value == nullptr) return makeError("parameter '{}' is missing", name);
  return *value;
}

Result<int64_t> RequestTarget::integer(std::string_view name, int64_t min, int64_t max) const {
  const std::string* value = find(name);
  if (value == nullptr) return makeError("parameter '{}' is missing", name);
  return parseInteger(*value, name, min, max);
}

}  // namespace funkhaus::web
