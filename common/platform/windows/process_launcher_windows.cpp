// The Windows process launcher: each worker starts suspended (CreateProcessW, or
// CreateProcessAsUserW with the token of the session's user), is put in the launcher's Job
// Object (kill on close: when funkhausd ends, however, its workers end with it) and resumed. It
// inherits one handle, its output pipe (stdout and stderr); it opens its channel itself, a
// message-mode named pipe of one instance whose random name it finds in kChannelPipeVariable, so
// that handles sent on the channel go to the worker (platform/handle_passing.h). Both pipes'
// server ends are overlapped, on the event loop's completion port; the exit is the process
// handle, waited for there too.
#include <utility>
// <utility> first: Boost 1.74's Asio needs it and does not include it on mingw; Asio before
// windows.h: it wants winsock2.h, not the winsock.h windows.h brings.
#include <boost/asio.hpp>
// Then windows.h.
#include <windows.h>
// After windows.h, which they need.
#include <sddl.h>
#include <userenv.h>
#include <wtsapi32.h>

#include <algorithm>
#include <array>
#include <cwctype>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "command_line.h"
#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/abi/message.h"
#include "funkhaus/platform/handle_passing.h"
#include "funkhaus/supervisor/process_launcher.h"
#include "pipe_io.h"
#include "windows_error.h"

namespace funkhaus::supervisor {
namespace {

namespace asio = boost::asio;
namespace win = platform::windows;
using platform::UniqueHandle;
using namespace std::chrono_literals;

constexpr DWORD kOutputBuffer = 64 * 1024;
// After the worker's exit, how long its channel may stay open (a process it started could hold
// the client end): then the exit is reported anyway.
constexpr auto kChannelAfterExit = 1s;
// TerminateProcess's exit code for kill(): transient, as a worker killed by a signal is on Linux.
constexpr UINT kKilledExit = abi::kExitFailure;

bool hungUp(const boost::system::error_code& ec) {
  return ec == asio::error::eof || win::pipeHungUp(static_cast<DWORD>(ec.value()));
}

class WindowsProcess final : public LaunchedProcess {
 public:
  WindowsProcess(asio::io_context& io, UniqueHandle process, DWORD id, UniqueHandle channel,
                 UniqueHandle output, ProcessEvents& events)
      : io_(io),
        process_(std::move(process)),
        id_(id),
        events_(events),
        exit_(io, duplicate(process_.get())),
        channel_(io, channel.release()),
        output_(io, output.release()),
        after_exit_(io) {}

  ~WindowsProcess() override {
    *alive_ = false;  // handlers still queued find out and return
    boost::system::error_code ignored;
    exit_.close(ignored);
    channel_.close(ignored);
    output_.close(ignored);
    after_exit_.cancel();
    // Never a worker left behind: one still running is ended, and waited for.
    if (WaitForSingleObject(process_.get(), 0) == WAIT_TIMEOUT) {
      TerminateProcess(process_.get(), kKilledExit);
      WaitForSingleObject(process_.get(), 5000);
    }
  }

  void watch() {
    watchExit();
    connectChannel();
    readOutput();
  }

  uint32_t id() const override { return id_; }

  Result<void> send(const Message& message) override {
    if (!channel_.is_open()) return makeError("the worker's channel is closed");
    if (!connected_) return makeError("the worker has not opened its channel yet");
    return sendMessage(channel_.native_handle(), message);
  }

  void terminate() override {}  // no SIGTERM on Windows: the stop command is the request
  void kill() override { TerminateProcess(process_.get(), kKilledExit); }

 private:
  static HANDLE duplicate(HANDLE process) {
    HANDLE copy = nullptr;
    DuplicateHandle(GetCurrentProcess(), process, GetCurrentProcess(), &copy, SYNCHRONIZE, FALSE,
                    0);
    return copy;
  }

  void watchExit() {
    exit_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
      if (ec || !*alive) return;
      DWORD code = 0;
      GetExitCodeProcess(process_.get(), &code);
      exit_status_ = ExitStatus{false, static_cast<int>(code)};
      ULONG client = 0;  // it opened its channel, and our loop has not seen that yet
      const bool opened =
          connected_ || GetNamedPipeClientProcessId(channel_.native_handle(), &client);
      if (!opened) {
        // It never opened its channel: nothing can come on it any more.
        boost::system::error_code ignored;
        channel_.close(ignored);
      } else if (channel_.is_open()) {
        // What it sent before it exited, and its hang-up, come before its exit.
        after_exit_.expires_after(kChannelAfterExit);
        after_exit_.async_wait([this, alive](const boost::system::error_code& timer_ec) {
          if (timer_ec || !*alive) return;
          boost::system::error_code ignored;
          channel_.close(ignored);
          finish();
        });
        return;
      }
      finish();
    });
  }

  // Reported once the process has ended and its channel is closed.
  void finish() {
    if (!exit_status_ || channel_.is_open() || finished_) return;
    finished_ = true;
    after_exit_.cancel();
    boost::system::error_code ignored;
    output_.close(ignored);  // a partial last line goes with the process
    // A copy: onExit may destroy this, exit_status_ with it, and still read the status.
    const ExitStatus status = *exit_status_;
    events_.onExit(id_, status);  // may destroy this
  }

  void connectChannel() {
    asio::windows::overlapped_ptr op(io_, [this, alive = alive_](
                                              const boost::system::error_code& ec, size_t) {
      if (!*alive || !channel_.is_open()) return;
      if (ec && ec.value() != ERROR_PIPE_CONNECTED) return closeChannel(ec);
      ULONG client = 0;
      if (!GetNamedPipeClientProcessId(channel_.native_handle(), &client) || client != id_)
        return badMessage(fmt::format("process {} opened the channel of worker {}", client, id_));
      connected_ = true;
      readChannel();
    });
    // Pending, or (rarely) done at once: either way its completion packet comes.
    const DWORD error = ConnectNamedPipe(channel_.native_handle(), op.get()) ? 0 : GetLastError();
    if (error == 0 || error == ERROR_IO_PENDING) {
      op.release();
      return;
    }
    op.complete(
        boost::system::error_code(static_cast<int>(error), asio::error::get_system_category()), 0);
  }

  // A pipe message as read (handle header and datagram), and the datagram taken out of it; owned
  // by the reads in flight too (the kernel writes into `message` until a cancelled read ends).
  struct ReadBuffers {
    std::vector<std::byte> message =
        std::vector<std::byte>(platform::kPipeMessageHeader + abi::kMaxTextMessageSize + 1);
    std::vector<std::byte> datagram = std::vector<std::byte>(abi::kMaxTextMessageSize + 1);
  };

  void readChannel() {
    channel_.async_read_some(
        asio::buffer(read_->message),
        [this, alive = alive_, read = read_](const boost::system::error_code& ec, size_t n) {
          if (!*alive || !channel_.is_open()) return;
          const bool more = ec.value() == ERROR_MORE_DATA;
          if (ec && !more) return closeChannel(ec);
          // A worker cannot hand handles to funkhausd: a message that claims some is refused.
          auto datagram = platform::decodePipeMessage(std::span(read->message.data(), n), more,
                                                      read->datagram, false);
          if (!datagram) return badMessage(datagram.error().message);
          auto message = messageFromDatagram(std::move(*datagram), read->datagram);
          if (!message) return badMessage(message.error().message);
          events_.onMessage(std::move(*message));
          if (*alive && channel_.is_open()) readChannel();
        });
  }

  void closeChannel(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (hungUp(ec)) {
      const auto alive = alive_;  // onHangUp may destroy this, alive_ with it
      boost::system::error_code ignored;
      channel_.close(ignored);
      events_.onHangUp();
      if (*alive) finish();
      return;
    }
    badMessage(ec.message());
  }

  void badMessage(const std::string& why) {
    const auto alive = alive_;
    boost::system::error_code ignored;
    channel_.close(ignored);
    events_.onBadMessage(why);
    if (*alive) finish();
  }

  void readOutput() {
    output_.async_read_some(asio::buffer(output_buffer_),
                            [this, alive = alive_](const boost::system::error_code& ec, size_t n) {
                              if (ec || !*alive) return;
                              const bool open =
                                  lines_.feed(output_buffer_.data(), n, [&](auto& line) {
                                    events_.onOutputLine(line);
                                    return *alive;
                                  });
                              if (open) readOutput();
                            });
  }

  asio::io_context& io_;
  UniqueHandle process_;
  uint32_t id_;
  ProcessEvents& events_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  asio::windows::object_handle exit_;
  asio::windows::stream_handle channel_, output_;
  asio::steady_timer after_exit_;
  std::shared_ptr<ReadBuffers> read_ = std::make_shared<ReadBuffers>();
  bool connected_ = false;
  bool finished_ = false;
  std::optional<ExitStatus> exit_status_;
  // A member: the output handle is closed (its read cancelled) before this goes.
  std::array<char, 4096> output_buffer_{};
  OutputLines lines_;
};

// Environment names compare without case on Windows ("Path" is "PATH").
struct NoCase {
  bool operator()(const std::wstring& a, const std::wstring& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](wchar_t x, wchar_t y) { return std::towupper(x) < std::towupper(y); });
  }
};
using Environment = std::map<std::wstring, std::wstring, NoCase>;

// "NAME=value\0...\0\0", as GetEnvironmentStringsW and CreateEnvironmentBlock give it.
void readBlock(const wchar_t* block, Environment& into) {
  for (const wchar_t* p = block; *p != L'\0'; p += wcslen(p) + 1) {
    const std::wstring entry(p);
    const size_t eq = entry.find(L'=', 1);  // "=C:=C:\..." entries start with '='
    if (eq != std::wstring::npos) into[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
}

std::vector<wchar_t> writeBlock(const Environment& environment) {
  std::vector<wchar_t> block;
  for (const auto& [name, value] : environment) {
    block.insert(block.end(), name.begin(), name.end());
    block.push_back(L'=');
    block.insert(block.end(), value.begin(), value.end());
    block.push_back(L'\0');
  }
  block.push_back(L'\0');
  if (block.size() == 1) block.push_back(L'\0');
  return block;
}

// Owned by the caller: what CreateEnvironmentBlock made, freed by DestroyEnvironmentBlock.
struct EnvironmentBlock {
  void* block = nullptr;
  ~EnvironmentBlock() {
    if (block != nullptr) DestroyEnvironmentBlock(block);
  }
};

class WindowsLauncher final : public ProcessLauncher {
 public:
  explicit WindowsLauncher(asio::io_context& io) : io_(io) {}

  Result<std::unique_ptr<LaunchedProcess>> launch(const LaunchSpec& spec,
                                                  ProcessEvents& events) override {
    const std::wstring path = win::widen(spec.path);
    const DWORD attributes = GetFileAttributesW(path.c_str());
    if (attributes == INVALID_FILE_ATTRIBUTES || (attributes & FILE_ATTRIBUTE_DIRECTORY))
      return makeError("worker binary {} is not there: {}", spec.path, win::lastErrorText());
    if (auto job = ensureJob(); !job) return job.error();

    UniqueHandle token;
    if (spec.credentials) {
      HANDLE t = nullptr;
      if (!WTSQueryUserToken(spec.credentials->session_id, &t))
        return makeError("no token of session {}'s user: {}", spec.credentials->session_id,
                         win::lastErrorText());
      token.reset(t);
    }
    const HANDLE user = token.valid() ? token.get() : nullptr;  // nullptr: funkhausd's own user

    // The channel: the worker opens it by name, so the handles sent on it go to the worker.
    auto channel_name = win::uniquePipeName("worker");
    if (!channel_name) return channel_name.error();
    auto security = channelSecurity(user);
    if (!security) return security.error();
    SECURITY_ATTRIBUTES channel_sa{sizeof(SECURITY_ATTRIBUTES), security->get(), FALSE};
    UniqueHandle channel =
        win::createChannelPipe(*channel_name, true, security->get() ? &channel_sa : nullptr);
    if (!channel.valid()) return makeError("the worker's channel: {}", win::lastErrorText());

    // Its stdout and stderr: a pipe whose client end it inherits, the one handle it does.
    auto output_name = win::uniquePipeName("output");
    if (!output_name) return output_name.error();
    UniqueHandle output(CreateNamedPipeW(
        win::widen(*output_name).c_str(),
        PIPE_ACCESS_INBOUND | FILE_FLAG_FIRST_PIPE_INSTANCE | FILE_FLAG_OVERLAPPED,
        PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 0,
        kOutputBuffer, 0, nullptr));
    if (!output.valid()) return makeError("the worker's output pipe: {}", win::lastErrorText());
    SECURITY_ATTRIBUTES inherited{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
    UniqueHandle output_client(CreateFileW(win::widen(*output_name).c_str(), GENERIC_WRITE, 0,
                                           &inherited, OPEN_EXISTING, 0, nullptr));
    if (!output_client.valid())
      return makeError("the worker's output pipe: {}", win::lastErrorText());

    Environment environment;
    if (auto base = baseEnvironment(user, environment); !base) return base.error();
    for (const auto& [name, value] : spec.environment)
      environment[win::widen(name)] = win::widen(value);
    environment[win::widen(platform::kChannelPipeVariable)] = win::widen(*channel_name);
    std::vector<wchar_t> block = writeBlock(environment);

    std::wstring command = win::quoteArgument(path);
    for (const std::string& arg : spec.args) command += L" " + win::quoteArgument(win::widen(arg));

    SIZE_T list_size = 0;
    InitializeProcThreadAttributeList(nullptr, 1, 0, &list_size);
    std::vector<std::byte> list_memory(list_size);
    auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(list_memory.data());
    if (!InitializeProcThreadAttributeList(list, 1, 0, &list_size))
      return makeError("process attributes: {}", win::lastErrorText());
    HANDLE inherit[] = {output_client.get()};
    const bool listed = UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                                  inherit, sizeof inherit, nullptr, nullptr);
    if (!listed) {
      DeleteProcThreadAttributeList(list);
      return makeError("process attributes: {}", win::lastErrorText());
    }
    STARTUPINFOEXW startup{};
    startup.StartupInfo.cb = sizeof startup;
    startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    startup.StartupInfo.hStdOutput = output_client.get();
    startup.StartupInfo.hStdError = output_client.get();
    startup.lpAttributeList = list;
    const DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT |
                        EXTENDED_STARTUPINFO_PRESENT | CREATE_NO_WINDOW;
    PROCESS_INFORMATION info{};
    const BOOL created =
        user != nullptr
            ? CreateProcessAsUserW(user, path.c_str(), command.data(), nullptr, nullptr, TRUE,
                                   flags, block.data(), nullptr, &startup.StartupInfo, &info)
            : CreateProcessW(path.c_str(), command.data(), nullptr, nullptr, TRUE, flags,
                             block.data(), nullptr, &startup.StartupInfo, &info);
    const std::string why = created ? std::string() : win::lastErrorText();
    DeleteProcThreadAttributeList(list);
    if (!created) return makeError("starting {}: {}", spec.path, why);
    UniqueHandle process(info.hProcess), thread(info.hThread);
    output_client.reset();  // the worker's now: its exit ends the output
    if (!AssignProcessToJobObject(job_.get(), process.get())) {
      const std::string job_why = win::lastErrorText();
      TerminateProcess(process.get(), kKilledExit);
      return makeError("{} into the workers' Job Object: {}", spec.path, job_why);
    }
    if (ResumeThread(thread.get()) == static_cast<DWORD>(-1)) {
      const std::string resume_why = win::lastErrorText();
      TerminateProcess(process.get(), kKilledExit);
      return makeError("resuming {}: {}", spec.path, resume_why);
    }
    auto launched = std::make_unique<WindowsProcess>(io_, std::move(process), info.dwProcessId,
                                                     std::move(channel), std::move(output), events);
    launched->watch();
    return std::unique_ptr<LaunchedProcess>(std::move(launched));
  }

 private:
  // One Job Object for every worker: closed when funkhausd ends, which ends them all.
  Result<void> ensureJob() {
    if (job_.valid()) return {};
    UniqueHandle job(CreateJobObjectW(nullptr, nullptr));
    if (!job.valid()) return makeError("the workers' Job Object: {}", win::lastErrorText());
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    // No error dialog of a crashing worker waits for a click: it ends, and is restarted.
    limits.BasicLimitInformation.LimitFlags =
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
    if (!SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation, &limits,
                                 sizeof limits))
      return makeError("the workers' Job Object: {}", win::lastErrorText());
    job_ = std::move(job);
    return {};
  }

  // With a session user's token: a DACL that lets only SYSTEM and that user open the channel
  // (the default one would give the user read access only). nullptr: the default, for a worker
  // that runs as funkhausd's own user.
  struct LocalFreed {
    void operator()(void* p) const { LocalFree(p); }
  };
  using Descriptor = std::unique_ptr<void, LocalFreed>;
  static Result<Descriptor> channelSecurity(HANDLE token) {
    if (token == nullptr) return Descriptor();
    DWORD size = 0;
    GetTokenInformation(token, TokenUser, nullptr, 0, &size);
    std::vector<std::byte> user(size);
    if (!GetTokenInformation(token, TokenUser, user.data(), size, &size))
      return makeError("the session user's SID: {}", win::lastErrorText());
    wchar_t* sid = nullptr;
    if (!ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(user.data())->User.Sid, &sid))
      return makeError("the session user's SID: {}", win::lastErrorText());
    const std::wstring sddl = L"D:P(A;;GA;;;SY)(A;;GRGW;;;" + std::wstring(sid) + L")";
    LocalFree(sid);
    PSECURITY_DESCRIPTOR descriptor = nullptr;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1,
                                                              &descriptor, nullptr))
      return makeError("the channel's DACL: {}", win::lastErrorText());
    return Descriptor(descriptor);
  }

  // The user's environment (with a token), or funkhausd's own.
  static Result<void> baseEnvironment(HANDLE token, Environment& into) {
    if (token != nullptr) {
      EnvironmentBlock user;
      if (!CreateEnvironmentBlock(&user.block, token, FALSE))
        return makeError("the session user's environment: {}", win::lastErrorText());
      readBlock(static_cast<const wchar_t*>(user.block), into);
      return {};
    }
    wchar_t* own = GetEnvironmentStringsW();
    if (own == nullptr) return makeError("our environment: {}", win::lastErrorText());
    readBlock(own, into);
    FreeEnvironmentStringsW(own);
    return {};
  }

  asio::io_context& io_;
  UniqueHandle job_;
};

}  // namespace

std::unique_ptr<ProcessLauncher> ProcessLauncher::createPlatform(asio::io_context& io) {
  return std::make_unique<WindowsLauncher>(io);
}

}  // namespace funkhaus::supervisor
