// The control server. Each connection is a small object owned by shared_ptr: read one line (at
// most kMaxRequestBytes), check it, hand it to the handler, write the reply, read the next. An idle
// timer closes connections that say nothing (or do not read their replies) for idle_timeout.
#include "supervisor/control/server.h"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <deque>
#include <filesystem>
#include <list>
#include <system_error>
#include <vector>

#include "supervisor/control/protocol.h"

namespace clusterd::control {

using asio::local::stream_protocol;

namespace {

Peer peer_of(int fd) {
  ucred cred{};
  socklen_t length = sizeof cred;
  Peer peer;
  peer.uid = static_cast<uid_t>(-1);
  peer.gid = static_cast<gid_t>(-1);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0) {
    peer.pid = cred.pid;
    peer.uid = cred.uid;
    peer.gid = cred.gid;
  }
  return peer;
}

// True when the peer's supplementary groups (SO_PEERGROUPS) include `group`.
bool peer_in_group(int fd, gid_t group) {
  std::vector<gid_t> groups(64);
  socklen_t length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) {
    if (errno != ERANGE) return false;
    groups.resize(length / sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) return false;
  }
  groups.resize(length / sizeof(gid_t));
  for (gid_t g : groups) {
    if (g == group) return true;
  }
  return false;
}

}  // namespace

class ControlServer::Impl : public std::enable_shared_from_this<ControlServer::Impl> {
 public:
  Impl(asio::io_context& io, ServerOptions options, Handler handler)
      : io_(io), options_(std::move(options)), handler_(std::move(handler)), acceptor_(io) {}
  ~Impl() { retry_.cancel(); }

  void open() {
    namespace fs = std::filesystem;
    const fs::path path(options_.path);
    if (path.has_parent_path()) {
      std::error_code ec;
      fs::create_directories(path.parent_path(), ec);
      if (ec) {
        throw std::system_error(ec, "creating " + path.parent_path().string());
      }
    }
    struct stat st {};
    if (lstat(options_.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        throw std::runtime_error("control socket " + options_.path +
                                 " exists and is not a socket; refusing to replace it");
      }
      stream_protocol::socket probe(io_);
      std::error_code ec;
      probe.connect(stream_protocol::endpoint(options_.path), ec);
      if (!ec) {
        throw std::runtime_error("another clusterd is running on control socket " + options_.path +
                                 "; refusing to start");
      }
      unlink(options_.path.c_str());  // stale: its daemon is gone
    }
    const mode_t old_mask = umask(0117);  // the socket is created 0660, with no window of 0777
    std::error_code ec;
    acceptor_.open(stream_protocol(), ec);
    if (!ec) acceptor_.bind(stream_protocol::endpoint(options_.path), ec);
    umask(old_mask);
    if (ec) throw std::system_error(ec, "bind " + options_.path);
    created_ = true;
    if (options_.group &&
        chown(options_.path.c_str(), static_cast<uid_t>(-1), *options_.group) != 0) {
      throw std::system_error(errno, std::system_category(), "chown " + options_.path);
    }
    acceptor_.listen(128);
  }

  void close() {
    std::error_code ignored;
    retry_.cancel();
    acceptor_.close(ignored);
    if (created_) unlink(options_.path.c_str());
    created_ = false;
  }

  void accept() {
    acceptor_.async_accept(
        [self = shared_from_this()](const std::error_code& ec, stream_protocol::socket socket) {
          if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
          if (!ec) {
            self->admit(std::move(socket));
            self->accept();
            return;
          }
          // EMFILE, ENFILE, ENOBUFS...: the connection stays queued; retrying at once would
          // spin at 100% CPU, so wait a little and say so (once per streak).
          if (!self->accept_failing_) {
            spdlog::error("control: accept failed: {}; retrying every 100 ms", ec.message());
          }
          self->accept_failing_ = true;
          self->retry_.expires_after(std::chrono::milliseconds(100));
          self->retry_.async_wait([self](const std::error_code& e) {
            if (!e) self->accept();
          });
        });
  }

  const std::string& path() const { return options_.path; }

 private:
  class Connection;

  bool allowed(const Peer& peer, int fd) const {
    if (peer.uid == 0 || peer.uid == geteuid()) return true;
    if (!options_.group) return false;
    return peer.gid == *options_.group || peer_in_group(fd, *options_.group);
  }

  void admit(stream_protocol::socket socket);

  asio::io_context& io_;
  ServerOptions options_;
  Handler handler_;
  stream_protocol::acceptor acceptor_;
  std::size_t clients_ = 0;
  bool created_ = false;
  bool accept_failing_ = false;
  asio::steady_timer retry_{io_};
  // Admitted connections, oldest first, for evicting an idle one when the table is full.
  std::list<std::weak_ptr<Connection>> live_;
};

class ControlServer::Impl::Connection
    : public std::enable_shared_from_this<ControlServer::Impl::Connection> {
 public:
  Connection(std::shared_ptr<Impl> server, stream_protocol::socket socket, Peer peer)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        peer_(peer) {
    ++server_->clients_;
  }
  ~Connection() {
    --server_->clients_;
    if (listed_) server_->live_.erase(position_);
  }

  // Joins the server's list of live connections (oldest first).
  void enlist() {
    position_ = server_->live_.insert(server_->live_.end(), weak_from_this());
    listed_ = true;
  }
  bool busy() const { return busy_; }

  // Closes the connection to make room for a newer one.
  void evict() {
    spdlog::warn("control: too many clients; closing the longest-idle one (pid {})", peer_.pid);
    shutdown();
  }

  void start() {
    arm_idle();
    read();
  }

  // Writes one reply and closes the connection (refusals).
  void refuse(std::string reply) {
    arm_idle();
    out_ = std::move(reply);
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this()](const std::error_code&, std::size_t) { self->shutdown(); });
  }

 private:
  void arm_idle() {
    if (busy_) return;
    timer_.expires_after(server_->options_.idle_timeout);
    timer_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        spdlog::debug("control: closing client pid {} after {} ms idle", self->peer_.pid,
                      self->server_->options_.idle_timeout.count());
        self->shutdown();
      }
    });
  }

  void read() {
    asio::async_read_until(
        socket_, asio::dynamic_buffer(in_, kMaxRequestBytes), '\n',
        [self = shared_from_this()](const std::error_code& ec, std::size_t length) {
          if (ec == asio::error::not_found) {  // the line is longer than the limit
            self->refuse(
                encode_error("request longer than " + std::to_string(kMaxRequestBytes) + " bytes"));
            return;
          }
          if (ec) {
            self->shutdown();
            return;
          }
          std::string line = self->in_.substr(0, length - 1);
          self->in_.erase(0, length);
          self->dispatch(line);
        });
  }

  void dispatch(const std::string& line) {
    busy_ = true;  // a long request (reload) is not idleness: no timeout until its final reply
    timer_.cancel();
    Request request;
    try {
      request = decode_request(line);
    } catch (const ProtocolError& e) {
      send(encode_error(e.what()));
      return;
    }
    auto self = shared_from_this();
    try {
      server_->handler_(request, peer_, [self](std::string reply, bool final) {
        asio::post(self->socket_.get_executor(), [self, reply = std::move(reply), final]() mutable {
          self->send(std::move(reply), final);
        });
      });
    } catch (const std::exception& e) {
      spdlog::error("control: {} failed: {}", line, e.what());
      send(encode_error(std::string("internal error: ") + e.what()));
    }
  }

  // Queues a reply line; after the final one the next request is read. Lines go out in order,
  // one write at a time.
  void send(std::string reply, bool final = true) {
    if (!socket_.is_open()) return;
    if (final) busy_ = false;
    queue_.emplace_back(std::move(reply), final);
    if (queue_.size() == 1) write_next();
  }

  void write_next() {
    arm_idle();
    asio::async_write(socket_, asio::buffer(queue_.front().first),
                      [self = shared_from_this()](const std::error_code& ec, std::size_t) {
                        if (ec) {
                          self->shutdown();
                          return;
                        }
                        const bool final = self->queue_.front().second;
                        self->queue_.pop_front();
                        if (!self->queue_.empty()) {
                          self->write_next();
                        } else if (final) {
                          self->read();
                        }
                      });
  }

  void shutdown() {
    std::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  std::shared_ptr<Impl> server_;
  stream_protocol::socket socket_;
  asio::steady_timer timer_;
  Peer peer_;
  std::string in_;
  std::string out_;  // a refusal
  std::deque<std::pair<std::string, bool>> queue_;
  std::list<std::weak_ptr<Connection>>::iterator position_;
  bool listed_ = false;
  bool busy_ = false;  // a request is being handled  // reply lines waiting to be written, final?
};

void ControlServer::Impl::admit(stream_protocol::socket socket) {
  const int fd = socket.native_handle();
  const Peer peer = peer_of(fd);
  const bool permitted = allowed(peer, fd);
  auto connection = std::make_shared<Connection>(shared_from_this(), std::move(socket), peer);
  if (!permitted) {
    spdlog::warn("control: refused uid {} pid {}: not root, the daemon's user or in control.group",
                 peer.uid, peer.pid);
    connection->refuse(encode_error("permission denied: uid " + std::to_string(peer.uid) +
                                    " may not use this control socket"));
    return;
  }
  if (clients_ > options_.max_clients) {
    // Full: make room by closing the oldest connection that has no request in progress (idle or
    // dribbling a partial line), so stuck clients cannot lock everyone else out.
    std::shared_ptr<Connection> victim;
    for (const std::weak_ptr<Connection>& weak : live_) {
      std::shared_ptr<Connection> candidate = weak.lock();
      if (candidate && !candidate->busy()) {
        victim = std::move(candidate);
        break;
      }
    }
    if (!victim) {
      connection->refuse(encode_error("too many clients (" + std::to_string(options_.max_clients) +
                                      "); try again later"));
      return;
    }
    victim->evict();
  }
  connection->enlist();
  connection->start();
}

ControlServer::ControlServer(asio::io_context& io, ServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(handler))) {
  impl_->open();
  impl_->accept();
}

ControlServer::~ControlServer() { impl_->close(); }

const std::string& ControlServer::path() const { return impl_->path(); }

}  // namespace clusterd::control
