// The XML replies of the GameStream API: <root status_code=".." [status_message=".."]> with
// flat child elements, every text escaped. funkhaus-web main thread.
#pragma once

#include <string>
#include <string_view>

namespace funkhaus::web {

// `text` with & < > " ' escaped, and bytes below 0x20 other than tab and newline dropped
// (XML 1.0 cannot carry them).
std::string xmlEscape(std::string_view text);

class XmlReply {
 public:
  explicit XmlReply(int status_code = 200, std::string_view message = {});
  XmlReply& element(std::string_view name, std::string_view text);
  XmlReply& element(std::string_view name, long long value);
  // Opens and closes a nested element (e.g. <App>...</App>).
  XmlReply& open(std::string_view name);
  XmlReply& close(std::string_view name);
  std::string finish() const;

 private:
  std::string head_;
  std::string body_;
};

}  // namespace funkhaus::web
