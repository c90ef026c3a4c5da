// RTSP request parser: one pass over the buffered bytes; nothing is kept between calls, so a
// caller simply calls again with more bytes.
#include "funkhaus/net/rtsp/rtsp_request.h"

#include <algorithm>
#include <charconv>

namespace funkhaus::net {

namespace {

bool isTokenChar(uint8_t c) {
  // RFC 2616 token: printable ASCII except separators.
  if (c <= 32 || c >= 127) return false;
  return std::string_view("()<>@,;:\\\"/[]?={}").find(static_cast<char>(c)) ==
         std::string_view::npos;
}

RtspUnit bad(int status, std::string error) {
  RtspUnit u;
  u.kind = RtspUnit::Kind::kBad;
  u.status = status;
  u.error = std::move(error);
  return u;
}

// Splits "METHOD SP URI SP RTSP/1.x" (any run of spaces or tabs as separator).
RtspUnit parseRequestLine(std::string_view line, RtspRequest& r) {
  for (char c : line)
    if (static_cast<uint8_t>(c) < 32 && c != '\t')
      return bad(400, "control character in the request line");
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) parts.push_back(line.substr(start, i - start));
  }
  if (parts.size() != 3) return bad(400, "request line is not 'METHOD URI RTSP/1.0'");
  for (char c : parts[0])
    if (!isTokenChar(static_cast<uint8_t>(c))) return bad(400, "method is not a token");
  const std::string_view version = parts[2];
  if (version.size() != 8 || version.substr(0, 5) != "RTSP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return bad(400, "version is not RTSP/x.y");
  if (version[5] != '1') return bad(505, "only RTSP/1.x is supported");
  r.method.assign(parts[0]);
  r.uri.assign(parts[1]);
  r.version_minor = version[7] - '0';
  RtspUnit ok;
  ok.kind = RtspUnit::Kind::kRequest;
  return ok;
}

// The start of a request line that has not ended yet: a method token, then anything without
// control characters.
RtspUnit checkPartialRequestLine(std::string_view partial) {
  size_t i = 0;
  while (i < partial.size() && partial[i] != ' ' && partial[i] != '\t') {
    if (!isTokenChar(static_cast<uint8_t>(partial[i]))) return bad(400, "method is not a token");
    ++i;
  }
  for (; i < partial.size(); ++i)
    if (static_cast<uint8_t>(partial[i]) < 32 && partial[i] != '\t' && partial[i] != '\r')
      return bad(400, "control character in the request line");
  return RtspUnit{};
}

}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

const std::string* RtspRequest::header(std::string_view name) const {
  for (const auto& h : headers)
    if (equalsIgnoreCase(h.name, name)) return &h.value;
  return nullptr;
}

std::optional<uint32_t> RtspRequest::cseq() const {
  const std::string* v = header("CSeq");
  if (v == nullptr || v->empty()) return std::nullopt;
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size()) return std::nullopt;
  return n;
}

RtspUnit parseRtspUnit(std::span<const uint8_t> input, const RtspLimits& limits) {
  RtspUnit need;  // kNeedMore
  size_t at = 0;
  // Empty lines between requests (some clients end a request with an extra CRLF).
  while (at < input.size() && (input[at] == '\r' || input[at] == '\n')) ++at;
  if (at >= input.size()) return need;
  if (input[at] == '$') {
    if (input.size() - at < 4) return need;
    const uint8_t channel = input[at + 1];
    const size_t length = size_t{input[at + 2]} << 8 | input[at + 3];
    RtspUnit u;
    if (length > limits.max_interleaved) {
      u.kind = RtspUnit::Kind::kSkip;
      u.channel = channel;
      u.consumed = at + 4;
      u.skip = length;
      return u;
    }
    if (input.size() - at - 4 < length) return need;
    u.kind = RtspUnit::Kind::kInterleaved;
    u.channel = channel;
    u.payload = input.subspan(at + 4, length);
    u.consumed = at + 4 + length;
    return u;
  }

  const auto text = std::string_view(reinterpret_cast<const char*>(input.data()), input.size());
  const size_t start = at;
  RtspRequest request;
  bool first = true;
  size_t header_lines = 0;
  for (;;) {
    const size_t nl = text.find('\n', at);
    const size_t limit_end = start + limits.max_header_bytes;
    if (nl == std::string_view::npos) {
      // Incomplete line: wait for more unless a limit is already broken or what came cannot
      // start a request line (binary junk is refused at once, not after the header timeout).
      if (first) {
        if (text.size() - start > limits.max_request_line) return bad(414, "request line too long");
        if (RtspUnit u = checkPartialRequestLine(text.substr(start));
            u.kind == RtspUnit::Kind::kBad)
          return u;
      }
      if (text.size() - start > limits.max_header_bytes)
        return bad(400, "request headers too large");
      return need;
    }
    if (nl + 1 > limit_end) return bad(400, "request headers too large");
    std::string_view line = text.substr(at, nl - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    at = nl + 1;
    if (first) {
      if (line.size() > limits.max_request_line) return bad(414, "request line too long");
      RtspUnit u = parseRequestLine(line, request);
      if (u.kind == RtspUnit::Kind::kBad) return u;
      first = false;
      continue;
    }
    if (line.empty()) break;  // end of headers
    for (char c : line)
      if (static_cast<uint8_t>(c) < 32 && c != '\t')
        return bad(400, "control character in a header");
    if (line.front() == ' ' || line.front() == '\t') {  // folded continuation line
      if (request.headers.empty()) return bad(400, "continuation line before any header");
      std::string& value = request.headers.back().value;
      const std::string_view more = trim(line);
      if (!more.empty()) {
        if (!value.empty()) value += ' ';
        value.append(more);
      }
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return bad(400, "header line without a name");
    const std::string_view name = line.substr(0, colon);
    for (char c : name)
      if (!isTokenChar(static_cast<uint8_t>(c))) return bad(400, "header name is not a token");
    if (++header_lines > limits.max_headers) return bad(400, "too many header lines");
    request.headers.push_back({std::string(name), std::string(trim(line.substr(colon + 1)))});
  }

  size_t body = 0;
  if (const std::string* length = request.header("Content-Length")) {
    auto [end, ec] = std::from_chars(length->data(), length->data() + length->size(), body);
    if (length->empty() || ec != std::errc() || end != length->data() + length->size())
      return bad(400, "Content-Length is not a number");
    if (body > limits.max_body) return bad(413, "body larger than the limit");
  }
  if (input.size() - at < body) return need;
  request.body.assign(text.substr(at, body));
  RtspUnit u;
  u.kind = RtspUnit::Kind::kRequest;
  u.request = std::move(request);
  u.consumed = at + body;
  return u;
}

const char* rtspReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Large";
    case 451:
      return "Parameter Not Understood";
    case 453:
      return "Not Enough Bandwidth";
    case 454:
      return "Session Not Found";
    case 455:
      return "Method Not Valid in This State";
    case 461:
      return "Unsupported Transport";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "RTSP Version Not Supported";
    case 551:
      return "Option not supported";
    default:
      return "Error";
  }
}

}  // namespace funkhaus::net
