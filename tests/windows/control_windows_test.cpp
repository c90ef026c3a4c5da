// funkhausd's control pipe on Windows (control_server_windows.cpp) with funkhausctl's end
// (control_client_windows.cpp), under Wine: requests answered at once and later, the limits a
// client meets (a line too long, nothing sent, bad JSON), a name already taken, many clients at
// once, and the DACL the pipe really has.
#include <utility>
// Asio before windows.h.
#include <boost/asio.hpp>
// Then windows.h, and the security headers after it.
#include <windows.h>

#include <aclapi.h>
#include <sddl.h>

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "control_pipe.h"
#include "funkhaus/supervisor/control_client.h"
#include "funkhaus/supervisor/control_server.h"
#include "pipe_io.h"

namespace funkhaus::supervisor {
namespace {

using namespace std::chrono_literals;

// Answers the status at once and a change later (as a forwarded request is), and records what
// it was asked. Runs on the loop thread.
class FakeHandler : public ControlServer::Handler {
 public:
  explicit FakeHandler(boost::asio::io_context& io) : io_(io) {}
  std::optional<std::string> status(const ControlServer::Respond&) override {
    return nlohmann::json({{"ok", true}, {"asked", ++statuses}}).dump();
  }
  std::optional<std::string> change(const ControlRequest& request, uint32_t,
                                    const ControlServer::Respond& respond) override {
    workers.push_back(request.worker);
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, 50ms);
    timer->async_wait([timer, respond, worker = request.worker](const boost::system::error_code&) {
      respond(nlohmann::json({{"ok", true}, {"restarted", worker}}).dump());
    });
    return std::nullopt;
  }
  std::atomic<int> statuses{0};
  std::vector<std::string> workers;

 private:
  boost::asio::io_context& io_;
};

// A ControlServer on a pipe of its own, served by a loop thread.
struct Served {
  Served() : handler(io), server(io, handler), guard(io.get_executor()) {
    name = platform::windows::uniquePipeName("control-test").value();
  }
  void start() {
    thread = std::thread([this] { io.run(); });
  }
  ~Served() {
    boost::asio::post(io, [this] { server.close(); });
    guard.reset();
    io.stop();
    if (thread.joinable()) thread.join();
  }
  boost::asio::io_context io;
  FakeHandler handler;
  ControlServer server;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard;
  std::string name;
  std::thread thread;
};

nlohmann::json replyOf(const Result<std::string>& reply) {
  EXPECT_TRUE(reply) << (reply ? "" : reply.error().message);
  if (!reply) return {};
  EXPECT_EQ(reply->back(), '\n');
  return nlohmann::json::parse(*reply);
}

TEST(ControlPipe, AnswersAStatusAtOnceAndAChangeLater) {
  Served s;
  ASSERT_TRUE(s.server.listen(s.name, RunMode::kSystem, "funkhaus"));
  s.start();
  EXPECT_EQ(replyOf(callControl(s.name, R"({"cmd":"status"})"))["asked"], 1);
  EXPECT_EQ(replyOf(callControl(s.name, R"({"cmd":"status"})"))["asked"], 2);
  const auto changed = replyOf(callControl(s.name, R"({"cmd":"restart","worker":"encode"})"));
  EXPECT_EQ(changed["restarted"], "encode");
}

TEST(ControlPipe, RefusesBadRequestsWithTheReason) {
  Served s;
  ASSERT_TRUE(s.server.listen(s.name, RunMode::kSystem, "funkhaus"));
  s.start();
  const auto bad = replyOf(callControl(s.name, "not json"));
  EXPECT_EQ(bad["ok"], false);
  EXPECT_FALSE(bad["error"].get<std::string>().empty());
  const auto unknown = replyOf(callControl(s.name, R"({"cmd":"status","extra":1})"));
  EXPECT_EQ(unknown["ok"], false);
  const auto long_line = replyOf(callControl(s.name, std::string(kMaxControlRequest + 10, 'x')));
  EXPECT_EQ(long_line["ok"], false);
  EXPECT_NE(long_line["error"].get<std::string>().find("longer than"), std::string::npos)
      << long_line.dump();
  EXPECT_TRUE(s.handler.workers.empty()) << "nothing bad reached the handler";
}

TEST(ControlPipe, DropsAClientThatSendsNothing) {
  Served s;
  ASSERT_TRUE(s.server.listen(s.name, RunMode::kSystem, "funkhaus"));
  s.start();
  const std::wstring wide = platform::windows::widen(s.name);
  platform::UniqueHandle client(CreateFileW(wide.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr,
                                            OPEN_EXISTING, 0, nullptr));
  ASSERT_TRUE(client.valid());
  char byte = 0;
  DWORD n = 0;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(ReadFile(client.get(), &byte, 1, &n, nullptr)) << "funkhausd hangs up";
  EXPECT_TRUE(platform::windows::pipeHungUp(GetLastError())) << GetLastError();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1500ms) << "after its 2 s";
  // Others are served meanwhile and after.
  EXPECT_EQ(replyOf(callControl(s.name, R"({"cmd":"status"})"))["ok"], true);
}

TEST(ControlPipe, ServesManyClientsAtOnce) {
  Served s;
  ASSERT_TRUE(s.server.listen(s.name, RunMode::kSystem, "funkhaus"));
  s.start();
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i)
    clients.emplace_back([&] {
      for (int k = 0; k < 5; ++k) {
        auto reply = callControl(s.name, R"({"cmd":"status"})");
        if (reply && nlohmann::json::parse(*reply)["ok"] == true) ++answered;
      }
    });
  for (auto& c : clients) c.join();
  EXPECT_EQ(answered.load(), 80);
  EXPECT_EQ(s.handler.statuses.load(), 80);
}

TEST(ControlPipe, ANameInUseIsRefusedAndAMissingPipeIsNamed) {
  Served s;
  ASSERT_TRUE(s.server.listen(s.name, RunMode::kSystem, "funkhaus"));
  boost::asio::io_context io;
  FakeHandler handler(io);
  ControlServer second(io, handler);
  const auto taken = second.listen(s.name, RunMode::kSystem, "funkhaus");
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message.find("in use"), std::string::npos) << taken.error().message;

  const auto missing = callControl(s.name + "-nobody", R"({"cmd":"status"})");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no such pipe"), std::string::npos)
      << missing.error().message;
}

TEST(ControlPipe, ItsDaclAdmitsSystemAdministratorsAndTheGroupOnly) {
  EXPECT_EQ(windows::controlPipeSddl(""), "D:P(A;;GA;;;SY)(A;;GA;;;BA)");
  EXPECT_EQ(windows::controlPipeSddl("S-1-5-21-1-2-3-1001"),
            "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;S-1-5-21-1-2-3-1001)");
  EXPECT_FALSE(windows::localGroupSid("funkhaus-no-such-group-here"));
  // Administrators is a local alias everywhere (Wine too).
  const auto administrators = windows::localGroupSid("Administrators");
  ASSERT_TRUE(administrators);
  EXPECT_EQ(*administrators, "S-1-5-32-544");

  // The pipe as made: its DACL read back from the kernel object.
  Served s;
  ASSERT_TRUE(s.server.listen(s.name, RunMode::kSystem, "Administrators"));
  s.start();
  const std::wstring wide = platform::windows::widen(s.name);
  platform::UniqueHandle client(
      CreateFileW(wide.c_str(), READ_CONTROL, 0, nullptr, OPEN_EXISTING, 0, nullptr));
  ASSERT_TRUE(client.valid()) << GetLastError();
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  PACL dacl = nullptr;
  ASSERT_EQ(GetSecurityInfo(client.get(), SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, nullptr,
                            nullptr, &dacl, nullptr, &descriptor),
            static_cast<DWORD>(ERROR_SUCCESS));
  LPSTR text = nullptr;
  ASSERT_TRUE(ConvertSecurityDescriptorToStringSecurityDescriptorA(
      descriptor, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &text, nullptr));
  const std::string sddl = text;
  LocalFree(text);
  LocalFree(descriptor);
  EXPECT_NE(sddl.find(";;;SY)"), std::string::npos) << sddl;
  EXPECT_NE(sddl.find(";;;BA)"), std::string::npos) << sddl;
  EXPECT_EQ(sddl.find(";;;WD)"), std::string::npos) << "not Everyone: " << sddl;
  EXPECT_EQ(sddl.find(";;;AU)"), std::string::npos) << "not every user: " << sddl;
  EXPECT_EQ(sddl.find(";;;BU)"), std::string::npos) << "not the Users group: " << sddl;
}

}  // namespace
}  // namespace funkhaus::supervisor
