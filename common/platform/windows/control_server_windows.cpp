// ControlServer's listener on Windows: a named pipe on Asio's completion port. The pipe's DACL
// decides who may connect (control_pipe.h); whoever can may ask anything, as root may on Linux.
#include <utility>
// Asio before windows.h (winsock2.h first).
#include <boost/asio.hpp>
// Then windows.h, and sddl.h after it.
#include <windows.h>

#include <sddl.h>

#include <spdlog/spdlog.h>

#include "control_pipe.h"
#include "funkhaus/supervisor/control_server.h"
#include "pipe_io.h"
#include "windows_error.h"

namespace funkhaus::supervisor {

namespace asio = boost::asio;
using asio::windows::stream_handle;
using platform::windows::errorText;
using namespace std::chrono_literals;

namespace windows {

std::string controlPipeSddl(const std::string& group_sid) {
  std::string sddl = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";
  if (!group_sid.empty()) sddl += "(A;;GA;;;" + group_sid + ")";
  return sddl;
}

std::optional<std::string> localGroupSid(const std::string& name) {
  const std::wstring wide = platform::windows::widen(name);
  BYTE sid[SECURITY_MAX_SID_SIZE];
  DWORD sid_size = sizeof sid;
  wchar_t domain[256];
  DWORD domain_size = 256;
  SID_NAME_USE use{};
  if (!LookupAccountNameW(nullptr, wide.c_str(), sid, &sid_size, domain, &domain_size, &use))
    return std::nullopt;
  if (use != SidTypeAlias && use != SidTypeGroup && use != SidTypeWellKnownGroup)
    return std::nullopt;  // a user of that name is not a group
  LPSTR text = nullptr;
  if (!ConvertSidToStringSidA(sid, &text)) return std::nullopt;
  std::string out = text;
  LocalFree(text);
  return out;
}

}  // namespace windows

struct ControlServer::Listener {
  explicit Listener(ControlServer& s) : server(s) {}
  ~Listener() {
    if (descriptor != nullptr) LocalFree(descriptor);
  }
  // Makes the pipe's next instance and waits on it for a client. `first`: the name must be new.
  Result<void> next(bool first);
  void serve(std::shared_ptr<stream_handle> pipe);

  ControlServer& server;
  std::string name;
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  std::shared_ptr<stream_handle> waiting;  // the instance no client has opened yet
  // False once closed: completions that arrive later touch nothing of the server.
  std::shared_ptr<bool> open = std::make_shared<bool>(false);
};

ControlServer::ControlServer(asio::io_context& io, Handler& handler)
    : io_(io), handler_(handler), listener_(std::make_unique<Listener>(*this)) {}

ControlServer::~ControlServer() { close(); }

Result<void> ControlServer::listen(const std::string& address, RunMode,
                                   const std::string& control_group) {
  control_group_ = control_group;
  auto& l = *listener_;
  if (*l.open) return makeError("the control pipe {} is open already", l.name);
  const auto group = windows::localGroupSid(control_group);
  const std::string sddl = windows::controlPipeSddl(group.value_or(""));
  if (l.descriptor != nullptr) LocalFree(l.descriptor);
  l.descriptor = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(sddl.c_str(), SDDL_REVISION_1,
                                                            &l.descriptor, nullptr))
    return makeError("control pipe DACL {}: {}", sddl, platform::windows::lastErrorText());
  // Windows refuses the first instance of a name another process serves
  // (FILE_FLAG_FIRST_PIPE_INSTANCE); Wine 8 ignores that flag, so ask first as well: a name
  // nobody serves is not found.
  if (WaitNamedPipeW(platform::windows::widen(address).c_str(), 1) ||
      GetLastError() != ERROR_FILE_NOT_FOUND)
    return makeError("control pipe {}: in use already (another funkhausd?)", address);
  l.name = address;
  *l.open = true;
  if (auto first = l.next(true); !first) {
    *l.open = false;
    return first;
  }
  spdlog::info("control pipe {} (Administrators{})", address,
               group ? " and group " + control_group : ", no group " + control_group + " here");
  return {};
}

void ControlServer::close() {
  auto& l = *listener_;
  if (!*l.open) return;
  *l.open = false;
  l.open = std::make_shared<bool>(false);  // a later listen() gets its own flag
  if (l.waiting) {
    boost::system::error_code ignored;
    l.waiting->close(ignored);  // its pending wait for a client ends, aborted
    l.waiting.reset();
  }
}

Result<void> ControlServer::Listener::next(bool first) {
  SECURITY_ATTRIBUTES security{sizeof(SECURITY_ATTRIBUTES), descriptor, FALSE};
  const DWORD open_mode =
      PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
  const HANDLE handle =
      CreateNamedPipeW(platform::windows::widen(name).c_str(), open_mode,
                       PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                       PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, &security);
  if (handle == INVALID_HANDLE_VALUE) {
    const DWORD error = GetLastError();
    if (first && error == ERROR_ACCESS_DENIED)
      return makeError("control pipe {}: in use already (another funkhausd?)", name);
    return makeError("control pipe {}: {}", name, errorText(error));
  }
  auto pipe = std::make_shared<stream_handle>(server.io_, handle);
  waiting = pipe;
  asio::windows::overlapped_ptr connected(
      server.io_, [this, pipe, open = open](const boost::system::error_code& ec, size_t) {
        if (!*open) return;
        if (!ec) serve(pipe);  // else: the client went before we saw it
        if (auto again = next(false); !again)
          spdlog::error("{}: funkhausctl cannot reach funkhausd any more", again.error().message);
      });
  if (ConnectNamedPipe(handle, connected.get())) {
    connected.release();  // done at once: its completion is queued to the port all the same
    return {};
  }
  const DWORD error = GetLastError();
  if (error == ERROR_IO_PENDING)
    connected.release();
  else if (error == ERROR_PIPE_CONNECTED)  // the client came between Create and Connect
    connected.complete(boost::system::error_code(), 0);
  else
    connected.complete(
        boost::system::error_code(static_cast<int>(error), boost::system::system_category()), 0);
  return {};
}

void ControlServer::Listener::serve(std::shared_ptr<stream_handle> pipe) {
  auto conn = std::make_shared<ClientRequest>(server.io_);
  conn->timer.expires_after(2s);  // a client that sends nothing (slowloris) is dropped
  conn->timer.async_wait([pipe](const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    if (!ec) pipe->close(ignored);
  });
  asio::async_read_until(
      *pipe, conn->buffer, '\n',
      [this, pipe, conn, open = open](const boost::system::error_code& ec, size_t n) {
        conn->timer.cancel();
        auto respond = [pipe, conn](const std::string& reply) {
          auto out = std::make_shared<std::string>(reply + "\n");
          asio::async_write(
              *pipe, asio::buffer(*out),
              [pipe, conn, out](const boost::system::error_code&, size_t) {
                // The client reads up to the newline and closes its end; closing ours first
                // could drop the reply, so wait for that (2 s at most).
                conn->timer.expires_after(2s);
                conn->timer.async_wait([pipe](const boost::system::error_code& waited) {
                  boost::system::error_code ignored;
                  if (!waited) pipe->close(ignored);
                });
                auto byte = std::make_shared<char>();
                pipe->async_read_some(asio::buffer(byte.get(), 1),
                                      [pipe, conn, byte](const boost::system::error_code&, size_t) {
                                        conn->timer.cancel();
                                        boost::system::error_code ignored;
                                        pipe->close(ignored);
                                      });
              });
        };
        if (ec) {
          if (ec == asio::error::not_found)
            respond(errorReply(fmt::format("request longer than {} bytes", kMaxControlRequest)));
          return;
        }
        if (!*open) return;
        const std::string line(asio::buffers_begin(conn->buffer.data()),
                               asio::buffers_begin(conn->buffer.data()) + static_cast<long>(n) - 1);
        // The DACL let the client in: it may change things.
        answer(
            server.handler_, line, [](const ControlRequest&) -> Result<uint32_t> { return 0u; },
            respond);
      });
}

}  // namespace funkhaus::supervisor
