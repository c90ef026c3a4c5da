// Every struct declared in shm-abi/ has a golden table: reads the ABI headers and the golden
// layout tests from the source tree and names any struct no checkLayout<> call covers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace funkhaus::abi {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(GoldenLayout, EveryAbiStructHasAGoldenTable) {
  const fs::path root = FUNKHAUS_SOURCE_DIR;
  std::set<std::string> declared, covered;
  const std::regex declaration(R"(^struct (\w+) \{)", std::regex::multiline);
  for (const auto& entry : fs::directory_iterator(root / "shm-abi/include/funkhaus/abi")) {
    const std::string text = slurp(entry.path());
    for (std::sregex_iterator it(text.begin(), text.end(), declaration), end; it != end; ++it)
      declared.insert((*it)[1]);
  }
  const std::regex check(R"(checkLayout<(\w+)>)");
  for (const auto& entry : fs::directory_iterator(root / "tests/unit")) {
    if (entry.path().filename().string().rfind("golden_layout", 0) != 0) continue;
    const std::string text = slurp(entry.path());
    for (std::sregex_iterator it(text.begin(), text.end(), check), end; it != end; ++it)
      covered.insert((*it)[1]);
  }
  ASSERT_GT(declared.size(), 20u) << "found the ABI headers under " << root;
  // Plain values of the header-only helpers; no byte of them crosses a process boundary.
  const std::set<std::string> values = {
      "TokenParts",      // unpackToken()'s result; the token itself is one uint64_t
      "NetBlobRequest",  // an argument of initNetStatePage()
  };
  for (const std::string& name : declared)
    EXPECT_TRUE(covered.count(name) || values.count(name))
        << "shm-abi struct " << name << " has no golden table";
}

}  // namespace
}  // namespace funkhaus::abi
