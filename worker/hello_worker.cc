// hello-worker: clusterd's demo and reference worker. An HTTP/1.1 keep-alive server on standalone
// asio: `GET /read` answers a short body and `X-Worker: <id>/<pid>`. It takes its sockets the
// systemd way (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES) or binds its own (CLUSTER_LISTEN_<NAME>=ADDR
// in `worker` listener mode, or --listen ADDR by hand), says READY=1 with sd_notify, and drains on
// SIGTERM: stop accepting, finish in-flight requests, answer late ones with `Connection: close`,
// close idle keep-alive connections with a lingering close, exit 0. Options make tests honest
// (threads, ready delay, crash after N requests, ignore SIGTERM, a child process, exit after MS).
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio.hpp>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "systemd/notify.h"
#include "worker/hello_options.h"
#include "worker/hello_server.h"

extern char** environ;

namespace hello {

std::string g_id = "-";

void log(const char* fmt, ...) {
  char line[512];
  int n = std::snprintf(line, sizeof line, "hello-worker %s pid %d: ", g_id.c_str(), getpid());
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n), fmt, args);
  va_end(args);
  std::fprintf(stderr, "%s\n", line);  // one write per line: stderr is unbuffered
}

}  // namespace hello

namespace {

using namespace hello;

template <typename Protocol>
class Listener final : public ListenerBase {
 public:
  using Acceptor = asio::basic_socket_acceptor<Protocol, Strand>;
  Listener(Server& server, Acceptor acceptor, std::string name)
      : server_(server),
        acceptor_(std::move(acceptor)),
        retry_(server.main),
        name_(std::move(name)) {}

  void start() override { accept(); }
  void close() override {
    std::error_code ec;
    acceptor_.close(ec);
    retry_.cancel();
  }

 private:
  using Socket = typename Connection<Protocol>::Socket;

  void accept() {
    acceptor_.async_accept(asio::make_strand(server_.io),
                           [this](std::error_code ec, Socket s) { on_accept(ec, std::move(s)); });
  }

  // Runs on `main`, like close(): a socket accepted just before the drain began is still served.
  void on_accept(std::error_code ec, Socket s) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {  // EMFILE and friends: back off instead of spinning
      if (!acceptor_.is_open()) return;
      log("accept on %s: %s", name_.c_str(), ec.message().c_str());
      retry_.expires_after(100ms);
      retry_.async_wait([this](std::error_code e) {
        if (!e && acceptor_.is_open()) accept();
      });
      return;
    }
    auto conn = std::make_shared<Connection<Protocol>>(server_, std::move(s));
    asio::post(conn->executor(), [conn] { conn->start(); });
    if (acceptor_.is_open()) accept();
  }

  Server& server_;
  Acceptor acceptor_;
  Timer retry_;
  std::string name_;
};

using TcpAcceptor = Listener<asio::ip::tcp>::Acceptor;
using UnixAcceptor = Listener<asio::local::stream_protocol>::Acceptor;

template <typename Protocol>
void add_listener(Server& server, asio::basic_socket_acceptor<Protocol, Strand> a,
                  std::string name) {
  server.listeners.push_back(std::make_unique<Listener<Protocol>>(server, std::move(a), name));
}

// Binds ADDR (127.0.0.1:8080, [::1]:8080, *:8080, unix:/path) with SO_REUSEADDR + SO_REUSEPORT.
// Throws std::runtime_error naming the address on any failure.
void bind_address(Server& server, const std::string& name, const std::string& addr) {
  try {
    if (addr.rfind("unix:", 0) == 0) {
      const std::string path = addr.substr(5);
      struct stat st {};
      if (path.empty()) throw std::runtime_error("empty unix socket path");
      if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
      UnixAcceptor a(server.main);
      a.open();
      a.bind(asio::local::stream_protocol::endpoint(path));
      a.listen(kBacklog);
      return add_listener(server, std::move(a), name);
    }
    const std::size_t colon = addr.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("expected HOST:PORT or unix:/path");
    std::string host = addr.substr(0, colon);
    unsigned short port = 0;
    if (!parse_number(std::string_view(addr).substr(colon + 1), port)) {
      throw std::runtime_error("bad port");
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host.empty() || host == "*") host = "0.0.0.0";
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host), port);
    TcpAcceptor a(server.main);
    a.open(endpoint.protocol());
    a.set_option(asio::socket_base::reuse_address(true));
    a.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    a.bind(endpoint);
    a.listen(kBacklog);
    add_listener(server, std::move(a), name);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + addr + " (" + name + "): " + e.what());
  }
}

// Wraps an inherited listening socket; returns false (after logging) if it is not usable.
bool adopt_fd(Server& server, int fd, const std::string& name) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int type = 0;
  int listening = 0;
  socklen_t optlen = sizeof type;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 ||
      ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) != 0 || type != SOCK_STREAM) {
    log("fd %d (%s) is not a stream socket, ignored", fd, name.c_str());
    return false;
  }
  optlen = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 && !listening) {
    ::listen(fd, kBacklog);
  }
  std::error_code ec;
  if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
    TcpAcceptor a(server.main);
    a.assign(ss.ss_family == AF_INET ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), fd, ec);
    if (!ec) add_listener(server, std::move(a), name);
  } else if (ss.ss_family == AF_UNIX) {
    UnixAcceptor a(server.main);
    a.assign(asio::local::stream_protocol(), fd, ec);
    if (!ec) add_listener(server, std::move(a), name);
  } else {
    ec = std::make_error_code(std::errc::address_family_not_supported);
  }
  if (ec) log("fd %d (%s): %s, ignored", fd, name.c_str(), ec.message().c_str());
  return !ec;
}

// Socket activation: fds 3.. when LISTEN_PID is us; the variables are unset either way, as
// sd_listen_fds(1) does, so that our children do not believe the fds are theirs.
int take_listen_fds(Server& server) {
  const char* pid_env = std::getenv("LISTEN_PID");
  const char* fds_env = std::getenv("LISTEN_FDS");
  const char* names_env = std::getenv("LISTEN_FDNAMES");
  long pid = 0;
  int count = 0;
  const std::string names = names_env != nullptr ? names_env : "";
  const bool ours = pid_env != nullptr && fds_env != nullptr && parse_number(pid_env, pid) &&
                    pid == getpid() && parse_number(fds_env, count);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours) return 0;
  std::size_t pos = 0;
  for (int i = 0; i < count; ++i) {
    const std::size_t colon = names.find(':', pos);
    std::string name = pos <= names.size() ? names.substr(pos, colon - pos) : "";
    pos = colon == std::string::npos ? names.size() + 1 : colon + 1;
    if (name.empty()) name = "unknown";
    const int fd = 3 + i;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    adopt_fd(server, fd, name);
  }
  return count;
}

void fork_child() {
  const pid_t parent = getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    log("fork: %s", std::strerror(errno));
    std::exit(1);
  }
  if (child > 0) {
    std::signal(SIGCHLD, SIG_IGN);  // reap it automatically if it dies first
    return;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) std::_Exit(0);
  ::close_range(3, ~0U, 0);  // hold no listening socket
  for (;;) ::pause();
}

// SIGTERM / SIGINT: stop accepting, tell every connection to finish, and exit once the last one
// is gone (or at the drain deadline, whatever is still open).
void drain(Server& server, Timer& exit_timer, Timer& deadline, int signo) {
  server.draining = true;
  clusterd::sd::notify("STOPPING=1");
  for (auto& listener : server.listeners) listener->close();
  exit_timer.cancel();
  std::vector<std::shared_ptr<ConnectionBase>> live;
  {
    std::lock_guard lock(server.mu);
    for (ConnectionBase* c : server.connections) {
      if (auto sp = c->weak_from_this().lock()) live.push_back(std::move(sp));
    }
  }
  log("%s: draining %zu connections", signo == SIGTERM ? "SIGTERM" : "SIGINT", live.size());
  for (auto& c : live) c->drain();
  live.clear();
  deadline.expires_after(kDrainDeadline);
  deadline.async_wait([&server](std::error_code e) {
    if (e) return;
    std::lock_guard lock(server.mu);
    server.exiting = true;
    log("drain deadline reached with %zu connections open, exiting anyway",
        server.connections.size());
    server.io.stop();
  });
  // Posted, not called: an accept that completed before the close is queued ahead of it.
  asio::post(server.main, [&server] { server.stop_if_drained(); });
}

// The sockets to serve: LISTEN_FDS, else CLUSTER_LISTEN_<NAME>=ADDR, and --listen. Returns an
// exit code: 0 when there is something to serve.
int open_sockets(Server& server, const Options& opt) {
  try {
    if (take_listen_fds(server) == 0) {
      for (char** env = environ; *env != nullptr; ++env) {
        const std::string_view var = *env;
        constexpr std::string_view kPrefix = "CLUSTER_LISTEN_";
        const std::size_t eq = var.find('=');
        if (var.substr(0, kPrefix.size()) != kPrefix || eq == std::string_view::npos) continue;
        bind_address(server, std::string(var.substr(kPrefix.size(), eq - kPrefix.size())),
                     std::string(var.substr(eq + 1)));
      }
    }
    for (const std::string& addr : opt.listen) bind_address(server, "cli", addr);
  } catch (const std::exception& e) {
    log("%s", e.what());
    return 1;
  }
  for (auto& listener : server.listeners) listener->start();
  if (server.listeners.empty()) {
    std::fprintf(stderr,
                 "hello-worker: no socket to serve: expected LISTEN_FDS (socket activation), "
                 "CLUSTER_LISTEN_<NAME>=ADDR or --listen ADDR\n");
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_options(argc, argv);
  if (const char* id = std::getenv("CLUSTER_WORKER_ID"); id != nullptr && id[0] != '\0') g_id = id;
  std::signal(SIGPIPE, SIG_IGN);
  if (opt.ignore_term) {
    std::signal(SIGTERM, SIG_IGN);
    std::signal(SIGINT, SIG_IGN);
  }
  if (opt.fork_child) fork_child();

  Server server(opt);
  server.x_worker = "X-Worker: " + g_id + "/" + std::to_string(getpid()) + "\r\n";
  server.hello_body = "hello from worker " + g_id + "\n";
  server.log_prefix = "worker " + g_id + " pid " + std::to_string(getpid()) + " GET";
  // Signals first: a SIGTERM during the ready delay is queued and drains right after start.
  Timer exit_timer(server.main);
  if (opt.exit_after_ms > 0) {
    exit_timer.expires_after(std::chrono::milliseconds(opt.exit_after_ms));
    exit_timer.async_wait([](std::error_code ec) {
      if (ec) return;
      log("exiting with code 3 as asked (--exit-after)");
      std::_Exit(3);
    });
  }

  Timer deadline(server.main);
  asio::signal_set signals(server.main);
  if (!opt.ignore_term) {
    signals.add(SIGTERM);
    signals.add(SIGINT);
    signals.async_wait([&](std::error_code ec, int signo) {
      if (!ec) drain(server, exit_timer, deadline, signo);
    });
  }

  if (opt.ready_delay_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(opt.ready_delay_ms));

  if (const int rc = open_sockets(server, opt); rc != 0) return rc;

  const std::size_t n = server.listeners.size();
  clusterd::sd::notify("READY=1\nSTATUS=serving on " + std::to_string(n) + " sockets");
  std::fprintf(stderr, "hello-worker %s pid %d serving %zu sockets\n", g_id.c_str(), getpid(), n);

  std::vector<std::thread> threads;
  for (int i = 1; i < opt.threads; ++i) threads.emplace_back([&server] { server.io.run(); });
  server.io.run();
  for (auto& t : threads) t.join();
  server.exiting = true;
  return 0;
}
