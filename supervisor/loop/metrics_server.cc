#include "supervisor/loop/metrics_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>
#include <cctype>
#include <functional>
#include <list>
#include <type_traits>
#include <variant>

#include "supervisor/loop/guard.h"
#include "supervisor/os/listen_socket.h"

namespace clusterd::loop {

namespace {

constexpr std::size_t kMaxRequest = 8 * 1024;
constexpr std::size_t kMaxClients = 16;
constexpr auto kClientTimeout = std::chrono::seconds(10);

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

bool contains_nocase(std::string_view text, std::string_view what) {
  for (std::size_t i = 0; i + what.size() <= text.size(); ++i) {
    bool same = true;
    for (std::size_t k = 0; k < what.size() && same; ++k) {
      same = std::tolower(static_cast<unsigned char>(text[i + k])) ==
             std::tolower(static_cast<unsigned char>(what[k]));
    }
    if (same) return true;
  }
  return false;
}

// "GET /metrics?x HTTP/1.1\r\nAccept: ...\r\n\r\n" -> method, path, Accept. False if malformed.
bool parse_request(std::string_view text, std::string& method, daemon::HttpRequest& out) {
  const std::size_t line_end = text.find("\r\n");
  const std::string_view line = text.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = line.find(' ', sp1 == std::string_view::npos ? 0 : sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return false;
  method = std::string(line.substr(0, sp1));
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out.path = std::string(target.substr(0, target.find('?')));
  for (std::size_t at = line_end; at != std::string_view::npos && at + 2 < text.size();) {
    const std::size_t next = text.find("\r\n", at + 2);
    const std::string_view header = text.substr(at + 2, next - at - 2);
    if (header.size() > 7 && contains_nocase(header.substr(0, 7), "accept:")) {
      out.openmetrics = contains_nocase(header, "application/openmetrics-text");
    }
    at = next;
  }
  return true;
}

// Who is asking, for its rate: a TCP peer's address, a unix peer's uid. Root and the daemon's
// own user on a unix socket are trusted (they may stop the daemon anyway).
template <class Socket>
void identify(Socket& socket, daemon::HttpRequest& request) {
  if constexpr (std::is_same_v<Socket, asio::ip::tcp::socket>) {
    std::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    request.peer = ec ? "unknown" : endpoint.address().to_string();
  } else {
    ucred cred{};
    socklen_t length = sizeof cred;
    if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
      request.peer = "unknown";
      return;
    }
    request.peer = "uid " + std::to_string(cred.uid);
    request.trusted = cred.uid == 0 || cred.uid == geteuid();
  }
}

}  // namespace

class MetricsServer::Impl : public std::enable_shared_from_this<MetricsServer::Impl> {
 public:
  using Tcp = asio::ip::tcp::acceptor;
  using Local = asio::local::stream_protocol::acceptor;

  Impl(asio::io_context& io, daemon::HttpHandler handler) : io_(io), handler_(std::move(handler)) {}

  void open(const config::Address& address, int adopt_fd) {
    os::UniqueFd fd =
        adopt_fd >= 0 ? os::UniqueFd(adopt_fd) : os::bind_listener(address, 64, false);
    if (address.family == config::Address::Family::Unix) {
      auto acceptor = std::make_unique<Local>(io_);
      acceptor->assign(asio::local::stream_protocol(), fd.release());
      acceptor_ = std::move(acceptor);
    } else {
      // The kernel hands over a TCP connection only once its request has arrived (or after
      // kClientTimeout): connections that never send cannot take a place at all, and an
      // accepted scraper already has bytes waiting, so evict_oldest_idle() never picks it.
      const int defer = static_cast<int>(kClientTimeout.count());
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
      auto acceptor = std::make_unique<Tcp>(io_);
      acceptor->assign(address.family == config::Address::Family::Ipv6 ? asio::ip::tcp::v6()
                                                                       : asio::ip::tcp::v4(),
                       fd.release());
      acceptor_ = std::move(acceptor);
    }
  }
  void start() {
    std::visit([this](auto& a) { accept(*a); }, acceptor_);
  }
  int native_handle() {
    return std::visit([](auto& a) { return static_cast<int>(a->native_handle()); }, acceptor_);
  }
  void stop() {
    std::visit(
        [](auto& a) {
          std::error_code ignored;
          a->close(ignored);
        },
        acceptor_);
  }

 private:
  template <class Acceptor>
  void accept(Acceptor& acceptor) {
    acceptor.async_accept(
        [self = shared_from_this(), &acceptor](const std::error_code& ec,
                                               typename Acceptor::protocol_type::socket s) {
          if (ec == asio::error::operation_aborted) return;
          if (!ec) {
            // Full: the connection that has waited longest without sending its request makes
            // room (a scraper sends at once; idle connections must not lock scrapers out).
            const bool room = self->clients_ < kMaxClients || self->evict_oldest_idle();
            if (room) {
              self->serve(std::make_shared<typename Acceptor::protocol_type::socket>(std::move(s)));
            }  // else: the socket closes as it goes out of scope
          }
          self->accept(acceptor);
        });
  }

  // A connection still reading its request, oldest first in `reading_`.
  struct Reading {
    std::function<void()> close;
    std::function<bool()> has_bytes;  // request bytes wait in the kernel: not idle
    bool evicted = false;
  };
  // The oldest connection with nothing to read goes. One whose request already arrived (a
  // scraper accepted in the same loop turn as a burst of idle connections) is never chosen.
  bool evict_oldest_idle() {
    for (auto it = reading_.begin(); it != reading_.end(); ++it) {
      if ((*it)->has_bytes()) continue;
      (*it)->evicted = true;
      (*it)->close();  // its read ends with an error and lets its place go
      reading_.erase(it);
      return true;
    }
    return false;
  }

  template <class Socket>
  void serve(std::shared_ptr<Socket> socket) {
    ++clients_;
    auto reading = std::make_shared<Reading>();
    reading->close = [socket] {
      std::error_code ignored;
      socket->close(ignored);
    };
    reading->has_bytes = [socket] {
      std::error_code ec;
      return socket->available(ec) > 0;
    };
    reading_.push_back(reading);
    const auto place = std::prev(reading_.end());
    auto buffer = std::make_shared<asio::streambuf>(kMaxRequest);
    auto timer = std::make_shared<asio::steady_timer>(io_, kClientTimeout);
    timer->async_wait([socket](const std::error_code& ec) {
      if (ec) return;
      std::error_code ignored;
      socket->close(ignored);
    });
    asio::async_read_until(
        *socket, *buffer, "\r\n\r\n",
        [self = shared_from_this(), socket, buffer, timer, reading, place](
            const std::error_code& ec, std::size_t) {
          if (!reading->evicted) self->reading_.erase(place);
          daemon::HttpResponse response{400, "text/plain; charset=utf-8", "bad request\n"};
          std::string method;
          daemon::HttpRequest request;
          if (ec) {
            --self->clients_;
            timer->cancel();
            return;  // closed, timed out, or over 8 KiB
          }
          const std::string text(asio::buffers_begin(buffer->data()),
                                 asio::buffers_end(buffer->data()));
          if (parse_request(text, method, request)) {
            identify(*socket, request);
            if (method != "GET" && method != "HEAD") {
              response = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
            } else {
              guard("metrics request", [&] { response = self->handler_(request); });
            }
          }
          self->reply(socket, timer, response, method == "HEAD");
        });
  }

  template <class Socket>
  void reply(std::shared_ptr<Socket> socket, std::shared_ptr<asio::steady_timer> timer,
             const daemon::HttpResponse& response, bool head) {
    auto out = std::make_shared<std::string>(
        "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) +
        "\r\nContent-Type: " + response.content_type +
        "\r\nContent-Length: " + std::to_string(response.body.size()) +
        (response.status == 429 ? "\r\nRetry-After: 1" : "") + "\r\nConnection: close\r\n\r\n");
    if (!head) *out += response.body;
    asio::async_write(
        *socket, asio::buffer(*out),
        [self = shared_from_this(), socket, timer, out](const std::error_code&, std::size_t) {
          --self->clients_;
          timer->cancel();
          std::error_code ignored;
          socket->shutdown(Socket::shutdown_both, ignored);
          socket->close(ignored);
        });
  }

  asio::io_context& io_;
  daemon::HttpHandler handler_;
  std::variant<std::unique_ptr<Tcp>, std::unique_ptr<Local>> acceptor_;
  std::size_t clients_ = 0;
  std::list<std::shared_ptr<Reading>> reading_;
};

MetricsServer::MetricsServer(asio::io_context& io, const config::Address& address,
                             daemon::HttpHandler handler, int adopt_fd)
    : impl_(std::make_shared<Impl>(io, std::move(handler))) {
  impl_->open(address, adopt_fd);
  impl_->start();
}

int MetricsServer::native_handle() const { return impl_->native_handle(); }

MetricsServer::~MetricsServer() { impl_->stop(); }

}  // namespace clusterd::loop
