// ControlServer's listener on Linux: a unix stream socket on Boost.Asio, SO_PEERCRED per request.
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio.hpp>
#include <filesystem>
#include <vector>

#include "funkhaus/supervisor/control_server.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using namespace std::chrono_literals;

struct ControlServer::Listener {
  explicit Listener(ControlServer& owner) : server(owner), acceptor(owner.io_) {}
  void accept();
  void serve(std::shared_ptr<stream_protocol::socket> socket);
  Result<uint32_t> authorize(stream_protocol::socket& socket, const ControlRequest& request);
  bool authorized(uint32_t uid) const;

  ControlServer& server;
  stream_protocol::acceptor acceptor;
  std::string path;
};

ControlServer::ControlServer(asio::io_context& io, Handler& handler)
    : io_(io), handler_(handler), listener_(std::make_unique<Listener>(*this)) {}

ControlServer::~ControlServer() { close(); }

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
  auto& acceptor = listener_->acceptor;
  acceptor.open(stream_protocol(), bec);
  if (!bec) acceptor.bind(stream_protocol::endpoint(path.string()), bec);
  if (!bec) acceptor.listen(16, bec);
  if (bec) return makeError("{}: {}", path.string(), bec.message());
  listener_->path = path.string();
  // Anyone may connect and read the status; SO_PEERCRED decides who may change things.
  chmod(path.c_str(), mode == RunMode::kSystem ? 0666 : 0600);
  spdlog::info("control socket {}", path.string());
  listener_->accept();
  return {};
}

void ControlServer::close() {
  boost::system::error_code ignored;
  listener_->acceptor.close(ignored);
  if (listener_->path.empty()) return;
  std::error_code ec;
  std::filesystem::remove(listener_->path, ec);
  listener_->path.clear();
}

void ControlServer::Listener::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, stream_protocol::socket s) {
    if (ec) return;
    serve(std::make_shared<stream_protocol::socket>(std::move(s)));
    accept();
  });
}

void ControlServer::Listener::serve(std::shared_ptr<stream_protocol::socket> socket) {
  auto conn = std::make_shared<ClientRequest>(server.io_);
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
        answer(
            server.handler_, line,
            [this, socket](const ControlRequest& request) { return authorize(*socket, request); },
            respond);
      });
}

Result<uint32_t> ControlServer::Listener::authorize(stream_protocol::socket& socket,
                                                    const ControlRequest& request) {
  ucred peer{};
  socklen_t len = sizeof peer;
  if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0)
    return makeError("cannot tell who is asking (SO_PEERCRED)");
  if (isMutating(request) && !authorized(peer.uid))
    return makeError(
        "permission denied: only root, uid {} and members of group '{}' may change workers or "
        "pairings",
        geteuid(), server.control_group_);
  return static_cast<uint32_t>(peer.uid);
}

bool ControlServer::Listener::authorized(uint32_t uid) const {
  if (uid == 0 || uid == geteuid()) return true;
  // The network-facing service user (funkhaus-web in system mode) never steers funkhausd,
  // whatever its groups.
  if (const passwd* service = getpwnam(kServiceUser); service != nullptr && service->pw_uid == uid)
    return false;
  const group* g = getgrnam(server.control_group_.c_str());
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
