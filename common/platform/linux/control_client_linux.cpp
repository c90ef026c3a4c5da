// funkhausctl's end on Linux: a unix stream socket, termios for hidden input.
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "funkhaus/common/unique_fd.h"
#include "funkhaus/supervisor/control_client.h"
#include "funkhaus/supervisor/supervisor.h"

namespace funkhaus::supervisor {

Result<std::string> callControl(const std::string& path, const std::string& request) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return makeError("socket path too long: {}", path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return makeError("cannot reach funkhausd at {}: {} (is it running?)", path,
                     std::strerror(errno));
  const std::string line = request + "\n";
  if (write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return makeError("writing to {}: {}", path, std::strerror(errno));
  std::string reply;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) return makeError("reading from {}: {}", path, std::strerror(errno));
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  if (reply.empty()) return makeError("funkhausd closed the connection without a reply");
  return reply;
}

std::string defaultControlAddress() {
  // The system funkhausd's socket if there is one, else this user's funkhausd.
  const std::string system_socket = defaultControlSocket(RunMode::kSystem);
  const std::string user_socket = defaultControlSocket(RunMode::kUser);
  return access(system_socket.c_str(), F_OK) == 0 || access(user_socket.c_str(), F_OK) != 0
             ? system_socket
             : user_socket;
}

std::string controlAddressHelp() {
  return "Control socket (default: /run/funkhaus/control.sock if it exists, else "
         "$XDG_RUNTIME_DIR/funkhaus/control.sock of a user-mode funkhausd)";
}

bool inputIsTerminal() { return isatty(STDIN_FILENO) != 0; }

Result<std::string> readInputLine(const char* prompt, bool hide) {
  termios saved{};
  const bool tty = hide && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
  if (tty) {
    std::fprintf(stderr, "%s", prompt);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string text;
  int c = 0;
  while ((c = std::getchar()) != EOF && c != '\n') text.push_back(static_cast<char>(c));
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::fprintf(stderr, "\n");
  }
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (c == EOF && text.empty()) return makeError("no password given");
  return text;
}

}  // namespace funkhaus::supervisor
