// ControlServer: the control socket on Boost.Asio.
#include "funkhaus/supervisor/control_server.h"
#include "funkhaus/supervisor/worker_table.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

namespace funkhaus::supervisor {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using namespace std::chrono_literals;

namespace {

struct Connection {
  explicit Connection(asio::io_context& io) : timer(io), buffer(kMaxControlRequest + 1) {}
  asio::steady_timer timer;
  asio::streambuf buffer;
};

}  // namespace

ControlServer::ControlServer(asio::io_context& io, Handler& handler)
    : io_(io), handler_(handler), acceptor_(io) {}

ControlServer::~ControlServer() { close(); }

std::string ControlServer::errorReply(const std::string& message) {
  return nlohmann::json({{"ok", false}, {"error", message}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ControlServer::okReply() { return nlohmann::json({{"ok", true}}).dump(); }

Result<void> ControlServer::listen(const std::string& socket_path, RunMode mode,
                                   const std::string& control_group) {
  const std::filesystem::path path = socket_path;
  control_group_ = control_group;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return makeError("creating {}: {}", path.parent_path().string(), ec.message());
  chmod(path.parent_path().c_str(), mode == RunMode::kSystem ? 0755 : 0700);
  std::filesystem::remove(path, ec);
  boost::system::error_code bec;
  acceptor_.open(stream_protocol(), bec);
  if (!bec) acceptor_.bind(stream_protocol::endpoint(path.string()), bec);
  if (!bec) acceptor_.listen(16, bec);
  if (bec) return makeError("{}: {}", path.string(), bec.message());
  path_ = path.string();
  // Anyone may connect and read the status; SO_PEERCRED decides who may change things.
  chmod(path.c_str(), mode == RunMode::kSystem ? 0666 : 0600);
  spdlog::info("control socket {}", path.string());
  accept();
  return {};
}

void ControlServer::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove(path_, ec);
  path_.clear();
}

void ControlServer::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, stream_protocol::socket s) {
    if (ec) return;
    serve(std::make_shared<stream_protocol::socket>(std::move(s)));
    accept();
  });
}

void ControlServer::serve(std::shared_ptr<stream_protocol::socket> socket) {
  auto conn = std::make_shared<Connection>(io_);
  conn->timer.expires_after(2s);  // a client that sends nothing (slowloris) is dropped
  conn->timer.async_wait([socket](const boost::system::error_code& ec) {
    if (!ec) socket->close();
  });
  asio::async_read_until(
      *socket, conn->buffer, '\n',
      [this, socket, conn](const boost::system::error_code& ec, size_t n) {
        conn->timer.cancel();
        auto respond = [socket](const std::string& reply) {
          auto out = std::make_shared<std::string>(reply + "\n");
          asio::async_write(*socket, asio::buffer(*out),
                            [socket, out](const boost::system::error_code&, size_t) {
                              boost::system::error_code ignored;
                              socket->shutdown(stream_protocol::socket::shutdown_both, ignored);
                            });
        };
        if (ec) {
          if (ec == asio::error::not_found)
            respond(errorReply(fmt::format("request longer than {} bytes", kMaxControlRequest)));
          return;
        }
        const std::string line(asio::buffers_begin(conn->buffer.data()),
                               asio::buffers_begin(conn->buffer.data()) + static_cast<long>(n) - 1);
        auto request = parseControlRequest(line);
        if (!request) return respond(errorReply(request.error().message));
        if (request->kind == ControlRequest::Kind::kStatus)
          return dispatch(handler_, *request, 0, respond);
        ucred peer{};
        socklen_t len = sizeof peer;
        if (getsockopt(socket->native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0)
          return respond(errorReply("cannot tell who is asking (SO_PEERCRED)"));
        if (isMutating(*request) && !authorized(peer.uid))
          return respond(errorReply(fmt::format(
              "permission denied: only root, uid {} and members of group '{}' may change workers "
              "or pairings",
              geteuid(), control_group_)));
        dispatch(handler_, *request, peer.uid, respond);
      });
}

void ControlServer::dispatch(Handler& handler, const ControlRequest& request, uint32_t peer_uid,
                             const Respond& respond) {
  if (request.kind == ControlRequest::Kind::kStatus) {
    if (auto reply = handler.status(respond)) respond(*reply);
    return;
  }
  if (auto reply = handler.change(request, peer_uid, respond)) respond(*reply);
}

bool ControlServer::authorized(uint32_t uid) const {
  if (uid == 0 || uid == geteuid()) return true;
  // The network-facing service user (funkhaus-web in system mode) never steers funkhausd,
  // whatever its groups.
  if (const passwd* service = getpwnam(kServiceUser); service != nullptr && service->pw_uid == uid)
    return false;
  const group* g = getgrnam(control_group_.c_str());
  if (g == nullptr) return false;
  const passwd* pw = getpwuid(uid);
  if (pw == nullptr) return false;
  int count = 64;
  std::vector<gid_t> groups(64);
  if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &count);
  }
  groups.resize(static_cast<size_t>(std::max(count, 0)));
  return std::find(groups.begin(), groups.end(), g->gr_gid) != groups.end();
}

}  // namespace funkhaus::supervisor
