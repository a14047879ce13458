#include "supervisor/loop/probes.h"

#include <array>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "supervisor/loop/guard.h"

namespace clusterd::loop {

using Kind = core::ProbeReply::Kind;

struct ProbeRunner::Try {
  explicit Try(asio::io_context& io) : socket(io), timer(io) {}
  asio::ip::tcp::socket socket;
  asio::steady_timer timer;
  std::string request;  // empty: tcp
  std::string head;
  std::array<char, 1024> buffer{};
  bool connected = false;
  bool done = false;
};

ProbeRunner::~ProbeRunner() {
  for (auto& [handle, t] : tries_) t->done = true;
}

void ProbeRunner::probe(daemon::WorkerHandle handle, const daemon::ProbeTry& attempt) {
  cancel(handle);
  auto t = std::make_shared<Try>(io_);
  t->request = attempt.request;
  tries_[handle] = t;
  std::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(attempt.address.host, ec);
  if (ec) {
    finish(handle, t, {Kind::ConnectFailed, "bad address " + attempt.address.text, {}});
    return;
  }
  t->timer.expires_after(attempt.limit);
  t->timer.async_wait([this, handle, t](const std::error_code& e) {
    if (e || t->done) return;
    finish(handle, t, {t->connected ? Kind::NoAnswer : Kind::ConnectTimeout, {}, {}});
  });
  t->socket.async_connect({ip, attempt.address.port}, [this, handle, t](const std::error_code& e) {
    if (t->done) return;
    if (e) {
      finish(handle, t, {Kind::ConnectFailed, e.message(), {}});
      return;
    }
    t->connected = true;
    connected(handle, t);
  });
}

void ProbeRunner::connected(daemon::WorkerHandle handle, const std::shared_ptr<Try>& t) {
  if (t->request.empty()) {
    finish(handle, t, {Kind::Connected, {}, {}});
    return;
  }
  asio::async_write(t->socket, asio::buffer(t->request),
                    [this, handle, t](const std::error_code& e, std::size_t) {
                      if (t->done) return;
                      if (e) {
                        finish(handle, t, {Kind::IoFailed, "write: " + e.message(), {}});
                        return;
                      }
                      read(handle, t);
                    });
}

// Reads until the first line ends, the peer closes, or kProbeHeadMax bytes came.
void ProbeRunner::read(daemon::WorkerHandle handle, const std::shared_ptr<Try>& t) {
  t->socket.async_read_some(asio::buffer(t->buffer), [this, handle, t](const std::error_code& e,
                                                                       std::size_t n) {
    if (t->done) return;
    t->head.append(t->buffer.data(), std::min(n, core::kProbeHeadMax - t->head.size()));
    if (e && e != asio::error::eof) {
      finish(handle, t, {Kind::IoFailed, "read: " + e.message(), {}});
      return;
    }
    if (e || t->head.find("\r\n") != std::string::npos || t->head.size() >= core::kProbeHeadMax) {
      finish(handle, t, {Kind::Answered, {}, t->head});
      return;
    }
    read(handle, t);
  });
}

void ProbeRunner::finish(daemon::WorkerHandle handle, const std::shared_ptr<Try>& t,
                         core::ProbeReply reply) {
  t->done = true;
  t->timer.cancel();
  std::error_code ignored;
  t->socket.close(ignored);
  const auto it = tries_.find(handle);
  if (it == tries_.end() || it->second != t) return;
  tries_.erase(it);
  if (events_) guard("a ready probe", [&] { events_->on_probe(handle, reply); });
}

void ProbeRunner::cancel(daemon::WorkerHandle handle) {
  const auto it = tries_.find(handle);
  if (it == tries_.end()) return;
  const std::shared_ptr<Try> t = it->second;
  tries_.erase(it);
  t->done = true;
  t->timer.cancel();
  std::error_code ignored;
  t->socket.close(ignored);
}

}  // namespace clusterd::loop
