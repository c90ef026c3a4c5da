// The fixed vectors of vectors/vectors.txt (made with the openssl CLI by vectors/make-vectors.sh)
// and the PEM files beside it. Unit tests of funkhaus-web.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "funkhaus/web/crypto.h"

namespace funkhaus::web::test {

inline std::string vectorFile(const std::string& name) {
  std::ifstream in(std::string(FUNKHAUS_WEB_VECTORS) + "/" + name);
  if (!in) ADD_FAILURE() << "missing test vector file " << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline const std::map<std::string, std::string>& vectors() {
  static const std::map<std::string, std::string> all = [] {
    std::map<std::string, std::string> out;
    std::istringstream in(vectorFile("vectors.txt"));
    std::string line;
    while (std::getline(in, line)) {
      const size_t eq = line.find('=');
      if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
  }();
  return all;
}

inline std::string vec(const std::string& name) {
  auto it = vectors().find(name);
  if (it == vectors().end()) {
    ADD_FAILURE() << "no vector " << name;
    return {};
  }
  return it->second;
}

inline Bytes vecBytes(const std::string& name) { return *hexDecode(vec(name), name); }

}  // namespace funkhaus::web::test
