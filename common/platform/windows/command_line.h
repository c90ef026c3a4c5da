// A Windows command line from arguments, for CreateProcess and the SCM's binary path (funkhausd's
// launcher, its service). Any thread. Internal.
#pragma once

#include <string>

namespace funkhaus::platform::windows {

// One argument as CommandLineToArgvW and the C runtime read it back: quoted when it has spaces,
// tabs or quotes (or is empty); backslashes doubled only before a quote.
inline std::wstring quoteArgument(const std::wstring& arg) {
  if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) return arg;
  std::wstring quoted = L"\"";
  size_t backslashes = 0;
  for (wchar_t c : arg) {
    if (c == L'\\') {
      ++backslashes;
      continue;
    }
    quoted.append(c == L'"' ? backslashes * 2 + 1 : backslashes, L'\\');
    backslashes = 0;
    quoted.push_back(c);
  }
  quoted.append(backslashes * 2, L'\\');
  quoted.push_back(L'"');
  return quoted;
}

}  // namespace funkhaus::platform::windows
