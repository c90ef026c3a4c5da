// The XML reply writer (xml_reply.h).
#include "funkhaus/web/xml_reply.h"

#include <fmt/format.h>

namespace funkhaus::web {

std::string xmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out.push_back(c);
    }
  }
  return out;
}

XmlReply::XmlReply(int status_code, std::string_view message) {
  head_ = fmt::format("<root status_code=\"{}\"", status_code);
  if (!message.empty()) head_ += fmt::format(" status_message=\"{}\"", xmlEscape(message));
}

XmlReply& XmlReply::element(std::string_view name, std::string_view text) {
  body_ += fmt::format("<{0}>{1}</{0}>", name, xmlEscape(text));
  return *this;
}

XmlReply& XmlReply::element(std::string_view name, long long value) {
  body_ += fmt::format("<{0}>{1}</{0}>", name, value);
  return *this;
}

XmlReply& XmlReply::open(std::string_view name) {
  body_ += fmt::format("<{}>", name);
  return *this;
}

XmlReply& XmlReply::close(std::string_view name) {
  body_ += fmt::format("</{}>", name);
  return *this;
}

std::string XmlReply::finish() const {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + head_ + ">" + body_ + "</root>\n";
}

}  // namespace funkhaus::web
