// hello-worker's HTTP/1.1 server core: the process-wide Server state, and a Connection that
// parses pipelined requests, answers them, and drains (idle grace, Connection: close, lingering
// close). Included by hello_worker.cc only, which adds the listeners, sockets and main().
#pragma once

#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "worker/hello_options.h"
#include "worker/http_parse.h"

namespace hello {

using namespace std::chrono_literals;

/// "hello-worker <id> pid <pid>: <message>" on stderr, one write per line.
void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
extern std::string g_id;  // $CLUSTER_WORKER_ID

using Strand = asio::strand<asio::io_context::executor_type>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Strand>;

constexpr std::size_t kBufferSize = 32 * 1024;  // per-connection read buffer
constexpr std::size_t kMaxHead = 16 * 1024;     // larger request heads get 431
constexpr int kBacklog = 4096;
constexpr auto kLingerTimeout = 2s;
constexpr auto kDrainDeadline = 10s;

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
  std::string log_prefix;  // "worker <id> pid <pid> GET"
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
    if (server_.opt.log_requests) log_request(path);
  }

  // An access log line, one write(2) on stdout (whole lines interleave whole between threads).
  void log_request(std::string_view path) const {
    char line[512];
    const int n = std::snprintf(line, sizeof line, "%s %.*s %lld\n", server_.log_prefix.c_str(),
                                static_cast<int>(std::min<std::size_t>(path.size(), 200)),
                                path.data(), server_.answered.load() + 1);
    if (n > 0) {
      [[maybe_unused]] const ssize_t w =
          ::write(1, line, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 1));
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

}  // namespace hello
