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
#include "worker/http_parse.h"

extern char** environ;

namespace {

using hello::Options;
using hello::parse_number;
using hello::parse_options;
using namespace std::chrono_literals;
using Strand = asio::strand<asio::io_context::executor_type>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Strand>;

constexpr std::size_t kBufferSize = 32 * 1024;  // per-connection read buffer
constexpr std::size_t kMaxHead = 16 * 1024;     // larger request heads get 431
constexpr int kBacklog = 4096;
constexpr auto kLingerTimeout = 2s;
constexpr auto kDrainDeadline = 10s;

std::string g_id = "-";  // $CLUSTER_WORKER_ID

void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log(const char* fmt, ...) {
  char line[512];
  int n = std::snprintf(line, sizeof line, "hello-worker %s pid %d: ", g_id.c_str(), getpid());
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n), fmt, args);
  va_end(args);
  std::fprintf(stderr, "%s\n", line);  // one write per line: stderr is unbuffered
}

class ConnectionBase;
class ListenerBase {
 public:
  virtual ~ListenerBase() = default;
  virtual void start() = 0;
  virtual void close() = 0;
};

// Process-wide state. Acceptors, signals and timers live on `main`; each connection on its own
// strand, so any number of threads may run `io`. Member order matters: destroying `io` destroys
// the connections still owned by pending handlers, and they use `mu` and `connections`.
struct Server {
  explicit Server(const Options& o) : opt(o), io(o.threads), main(asio::make_strand(io)) {}

  const Options& opt;
  std::atomic<bool> draining{false};
  std::atomic<bool> exiting{false};  // io stopped: connections must not post anything
  std::atomic<long long> answered{0};
  std::string x_worker;    // "X-Worker: <id>/<pid>\r\n"
  std::string hello_body;  // "hello from worker <id>\n"
  std::mutex mu;
  std::unordered_set<ConnectionBase*> connections;  // guarded by mu
  asio::io_context io;
  Strand main;
  std::vector<std::unique_ptr<ListenerBase>> listeners;

  // Called on `main` once draining: exit when the last connection is gone.
  void stop_if_drained() {
    std::lock_guard lock(mu);
    if (connections.empty() && !exiting.exchange(true)) {
      log("drained, exiting");
      io.stop();
    }
  }
};

class ConnectionBase : public std::enable_shared_from_this<ConnectionBase> {
 public:
  explicit ConnectionBase(Server& server) : server_(server) {
    std::lock_guard lock(server_.mu);
    server_.connections.insert(this);
  }
  virtual ~ConnectionBase() {
    bool last = false;
    {
      std::lock_guard lock(server_.mu);
      server_.connections.erase(this);
      last = server_.connections.empty();
    }
    if (last && server_.draining && !server_.exiting)
      asio::post(server_.main, [&s = server_] { s.stop_if_drained(); });
  }
  ConnectionBase(const ConnectionBase&) = delete;
  ConnectionBase& operator=(const ConnectionBase&) = delete;
  virtual void drain() = 0;  // thread-safe: the drain began, close if idle

 protected:
  Server& server_;
};

template <typename Protocol>
class Connection final : public ConnectionBase {
 public:
  using Socket = asio::basic_stream_socket<Protocol, Strand>;

  Connection(Server& server, Socket socket)
      : ConnectionBase(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buf_(std::make_unique_for_overwrite<char[]>(kBufferSize)) {
    out_.reserve(512);
  }

  Strand executor() { return socket_.get_executor(); }
  void start() { read(); }

  void drain() override {
    asio::post(socket_.get_executor(), [self = shared_from_this(), this] {
      if (reading_ && idle()) grace();
    });
  }

 private:
  // Before the first request or between two: nothing buffered, nothing owed. A connection that
  // has not sent its first request is idle too (as nginx treats it at shutdown): otherwise one
  // that never sends anything would hold the drain until the stop timeout kills the worker.
  bool idle() const { return start_ == end_ && body_left_ == 0 && !lingering_; }

  void read() {
    if (server_.draining && idle() && !grace_) grace();
    reading_ = true;
    socket_.async_read_some(asio::buffer(buf_.get() + end_, kBufferSize - end_),
                            [self = shared_from_this(), this](std::error_code ec, std::size_t n) {
                              reading_ = false;
                              on_read(ec, n);
                            });
  }

  void on_read(std::error_code ec, std::size_t n) {
    if (lingering_) {  // discard everything until EOF, error or the linger timeout
      if (ec) return close();
      start_ = end_ = 0;
      return read();
    }
    if (ec) return close();
    end_ += n;
    process();
  }

  // Answers every complete request in the buffer (pipelining), then writes them all at once.
  void process() {
    while (!closing_) {
      if (body_left_ > 0) {  // skip a request body
        const std::size_t take = static_cast<std::size_t>(
            std::min<std::uint64_t>(body_left_, static_cast<std::uint64_t>(end_ - start_)));
        start_ += take;
        body_left_ -= take;
        if (body_left_ > 0) break;
      }
      if (start_ == end_) break;
      const auto r = clusterd::http::parse_request({buf_.get() + start_, end_ - start_});
      using clusterd::http::ParseStatus;
      if (r.status == ParseStatus::kIncomplete && end_ - start_ <= kMaxHead) break;
      if (r.status != ParseStatus::kComplete || r.consumed > kMaxHead) {
        respond_error(r.status == ParseStatus::kError ? r.error : 431);
        break;
      }
      start_ += r.consumed;
      respond(r.request);
      body_left_ = r.request.content_length;
    }
    if (start_ == end_) {
      start_ = end_ = 0;
    } else if (start_ > 0) {  // keep the partial request at the front
      std::memmove(buf_.get(), buf_.get() + start_, end_ - start_);
      end_ -= start_;
      start_ = 0;
    }
    if (!out_.empty()) return write();
    read();
  }

  void respond(const clusterd::http::Request& req) {
    const bool keep = req.keep_alive && !server_.draining;
    client_closes_ = !req.keep_alive;
    if (req.expect_continue && !req.http10 && req.content_length > end_ - start_) {
      out_ += "HTTP/1.1 100 Continue\r\n\r\n";
    }
    const bool head = req.method == clusterd::http::Method::kHead;
    const std::string_view path = req.target.substr(0, req.target.find('?'));
    if (req.method == clusterd::http::Method::kOther) {
      append("405 Method Not Allowed", "method not allowed\n", keep, req.http10, head,
             "Allow: GET, HEAD\r\n");
    } else if (path == "/read") {
      append("200 OK", server_.hello_body, keep, req.http10, head);
    } else {
      append("404 Not Found", "not found\n", keep, req.http10, head);
    }
  }

  // The stream cannot be framed any more: answer, then close.
  void respond_error(int status) {
    client_closes_ = false;  // the client may still be sending: linger
    if (status == 431) return append("431 Request Header Fields Too Large", "header too large\n");
    if (status == 501) return append("501 Not Implemented", "chunked bodies not supported\n");
    if (status == 505) return append("505 HTTP Version Not Supported", "bad http version\n");
    append("400 Bad Request", "bad request\n");
  }

  void append(std::string_view status, std::string_view body, bool keep = false,
              bool http10 = false, bool head = false, std::string_view extra = {}) {
    char num[24];
    out_ += "HTTP/1.1 ";
    out_ += status;
    out_ += "\r\nContent-Type: text/plain\r\nContent-Length: ";
    out_.append(num, std::to_chars(num, num + sizeof num, body.size()).ptr);
    out_ += "\r\n";
    out_ += server_.x_worker;
    out_ += extra;
    if (!keep) {
      out_ += "Connection: close\r\n";
    } else if (http10) {
      out_ += "Connection: keep-alive\r\n";
    }
    out_ += "\r\n";
    if (!head) out_ += body;
    ++pending_;
    closing_ = !keep;
  }

  void write() {
    // TCP_NODELAY once the connection stays open for more requests, as nginx does: a connection
    // that closes after this response gains nothing from it and would pay a system call.
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      if (!closing_ && !no_delay_) {
        std::error_code ignored;
        socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
        no_delay_ = true;
      }
    }
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this(), this](std::error_code ec, std::size_t) { on_write(ec); });
  }

  void on_write(std::error_code ec) {
    if (ec) return close();
    out_.clear();
    served_ += pending_;
    const long long total = server_.answered += pending_;
    pending_ = 0;
    if (server_.opt.crash_after > 0 && total >= server_.opt.crash_after) {
      log("answered %lld requests, crashing as asked (--crash-after)", total);
      std::abort();
    }
    if (closing_) {
      // A client that sent "Connection: close" sends nothing more (RFC 9112, 9.6): with nothing
      // left unread, close at once, as nginx does. Otherwise linger, so that what it still
      // sends cannot turn our FIN into a reset that destroys the response.
      if (client_closes_ && start_ == end_ && body_left_ == 0) return close();
      return linger();
    }
    read();
  }

  // Draining, between two requests (or before the first): a client under load sends its next
  // request at any moment, and a close now would race it (the request finds a closed connection
  // and is lost). So wait up to --drain-idle for it, answer it with Connection: close, and only
  // close a connection that stays idle all that time.
  void grace() {
    grace_ = true;
    timer_.expires_after(std::chrono::milliseconds(server_.opt.drain_idle_ms));
    timer_.async_wait([self = shared_from_this(), this](std::error_code e) {
      if (!e && idle()) linger();
    });
  }

  // Lingering close: send FIN, then read and discard until the peer's EOF or a timeout, so that a
  // request racing the close finds a FIN rather than a RST that would destroy our last response.
  void linger() {
    lingering_ = true;
    start_ = end_ = 0;
    std::error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
    if (ec) return close();
    timer_.expires_after(kLingerTimeout);
    timer_.async_wait([self = shared_from_this(), this](std::error_code e) {
      if (!e) close();
    });
    if (!reading_) read();
  }

  void close() {
    std::error_code ec;
    timer_.cancel();
    socket_.close(ec);
  }

  Socket socket_;
  Timer timer_;
  std::unique_ptr<char[]> buf_;
  std::size_t start_ = 0;  // unparsed data is buf_[start_, end_)
  std::size_t end_ = 0;
  std::uint64_t body_left_ = 0;  // request body bytes still to skip
  std::string out_;              // responses not yet written
  int pending_ = 0;              // responses in out_
  long long served_ = 0;
  bool reading_ = false;
  bool closing_ = false;        // the last response said Connection: close
  bool client_closes_ = false;  // ... because the client's request said so
  bool no_delay_ = false;       // TCP_NODELAY is set
  bool lingering_ = false;
  bool grace_ = false;  // the drain's idle grace timer is armed (or was)
};

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
      if (ec) return;
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
      deadline.async_wait([&](std::error_code e) {
        if (e) return;
        std::lock_guard lock(server.mu);
        server.exiting = true;
        log("drain deadline reached with %zu connections open, exiting anyway",
            server.connections.size());
        server.io.stop();
      });
      // Posted, not called: an accept that completed before the close is queued ahead of it.
      asio::post(server.main, [&server] { server.stop_if_drained(); });
    });
  }

  if (opt.ready_delay_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(opt.ready_delay_ms));

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
