// TestUser: a system user created for one test and removed afterwards. Test processes only
// (root).
#pragma once

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace funkhaus::test {

// A system user created for the test and removed afterwards.
class TestUser {
 public:
  explicit TestUser(const std::string& tag)
      : name_("fhtest-" + tag + "-" + std::to_string(getpid() % 100000)) {
    const std::string cmd =
        "useradd --system --no-create-home --shell /usr/sbin/nologin " + name_ + " 2>&1";
    ok_ = std::system(cmd.c_str()) == 0;
    if (const passwd* pw = getpwnam(name_.c_str())) {
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    } else {
      ok_ = false;
    }
  }
  ~TestUser() {
    // -f: a user manager of the test session may still be winding down.
    if (ok_) (void)std::system(("userdel -f " + name_ + " > /dev/null 2>&1").c_str());
  }
  TestUser(const TestUser&) = delete;
  TestUser& operator=(const TestUser&) = delete;
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

 private:
  std::string name_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  bool ok_ = false;
};

}  // namespace funkhaus::test
