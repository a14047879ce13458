// The control server. Each connection is a small object owned by shared_ptr: read one line (at
// most kMaxRequestBytes), decode it, check the peer's role, hand it to the handler, write the
// reply lines, then read the next request. An idle timer closes connections that say nothing for
// idle_timeout; while a request is in progress (a reload, a stream) only the unread-bytes bound
// applies.
#include "supervisor/control/server.h"

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
#include <cstring>
#include <deque>
#include <list>
#include <system_error>
#include <vector>

#include "supervisor/control/protocol.h"
#include "supervisor/control/socket_dir.h"

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
  std::vector<gid_t> groups(64);
  length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0 && errno == ERANGE) {
    groups.resize(length / sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) length = 0;
  }
  groups.resize(length / sizeof(gid_t));
  peer.groups = std::move(groups);
  return peer;
}

}  // namespace

class ControlServer::Impl : public std::enable_shared_from_this<ControlServer::Impl> {
 public:
  Impl(asio::io_context& io, ServerOptions options, Handler handler)
      : io_(io), options_(std::move(options)), handler_(std::move(handler)), acceptor_(io) {}
  ~Impl() { retry_.cancel(); }

  void open();
  void close();
  void accept();
  const std::string& path() const { return options_.path; }
  void reconfigure(const ServerOptions& options);
  std::size_t dropped() const { return dropped_; }
  int native_handle() { return acceptor_.native_handle(); }

 private:
  class Connection;
  void admit(stream_protocol::socket socket);

  asio::io_context& io_;
  ServerOptions options_;
  Handler handler_;
  stream_protocol::acceptor acceptor_;
  std::size_t clients_ = 0;
  std::size_t dropped_ = 0;
  bool created_ = false;
  // The socket file as bound: reconfigure() changes its mode and group only while the path still
  // names this inode.
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  gid_t created_gid_ = 0;  // its group when no control.group is set
  bool accept_failing_ = false;
  asio::steady_timer retry_{io_};
  // Admitted connections, oldest first, for evicting an idle one when the table is full.
  std::list<std::weak_ptr<Connection>> live_;
};

void ControlServer::Impl::open() {
  if (options_.adopt_fd >= 0) {
    acceptor_.assign(stream_protocol(), options_.adopt_fd);
    options_.adopt_fd = -1;
    created_ = true;
    struct stat st {};
    if (lstat(options_.path.c_str(), &st) == 0) {
      dev_ = st.st_dev;
      ino_ = st.st_ino;
      created_gid_ = st.st_gid;
    }
    return;
  }
  prepare_socket_path(options_.path);
  // The socket is created with its final mode (0660, or 0666 with roles for named users), with
  // no window of anything wider.
  const mode_t old_mask = umask(options_.world_connectable ? 0111 : 0117);
  std::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(options_.path), ec);
  umask(old_mask);
  if (ec) throw std::system_error(ec, "bind " + options_.path);
  created_ = true;
  struct stat st {};
  if (lstat(options_.path.c_str(), &st) != 0) {
    throw std::system_error(errno, std::system_category(), "stat " + options_.path);
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  created_gid_ = st.st_gid;
  if (options_.group && fchownat(AT_FDCWD, options_.path.c_str(), static_cast<uid_t>(-1),
                                 *options_.group, AT_SYMLINK_NOFOLLOW) != 0) {
    throw std::system_error(errno, std::system_category(), "chown " + options_.path);
  }
  acceptor_.listen(128);
}

// New limits and access list for new connections, and the socket file's group and mode to match
// (a reload that adds the first read:/admin: principals makes it 0666, one that sets or changes
// control.group hands it to that group). A socket's fd cannot fchmod/fchown its file, so this
// goes by the path, after checking that it still names the socket we bound (its directory is
// ours: see socket_dir.h). A failure is logged and the file keeps what it had.
void ControlServer::Impl::reconfigure(const ServerOptions& options) {
  options_.access = options.access;
  options_.max_clients = options.max_clients;
  options_.idle_timeout = options.idle_timeout;
  options_.max_queued_bytes = options.max_queued_bytes;
  options_.group = options.group;
  options_.world_connectable = options.world_connectable;
  if (!created_) return;
  const char* path = options_.path.c_str();
  struct stat st {};
  if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_dev != dev_ || st.st_ino != ino_) {
    spdlog::error(
        "control: {} is no longer the socket clusterd bound; its mode and group are "
        "left as they are",
        options_.path);
    return;
  }
  const gid_t group = options_.group.value_or(created_gid_);
  const mode_t mode = options_.world_connectable ? 0666 : 0660;
  if (st.st_gid != group && lchown(path, static_cast<uid_t>(-1), group) != 0) {
    spdlog::error("control: cannot give {} to group {}: {}", options_.path, group,
                  std::strerror(errno));
  }
  if ((st.st_mode & 07777) != mode && chmod(path, mode) != 0) {
    spdlog::error("control: cannot make {} mode {:04o}: {}", options_.path, mode,
                  std::strerror(errno));
  }
}

void ControlServer::Impl::close() {
  std::error_code ignored;
  retry_.cancel();
  acceptor_.close(ignored);
  if (created_) unlink(options_.path.c_str());
  created_ = false;
}

void ControlServer::Impl::accept() {
  acceptor_.async_accept(
      [self = shared_from_this()](const std::error_code& ec, stream_protocol::socket socket) {
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (!ec) {
          self->accept_failing_ = false;
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

class ControlServer::Impl::Connection : public ReplyStream,
                                        public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Impl> server, stream_protocol::socket socket, Peer peer,
             std::optional<Role> role)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        peer_(std::move(peer)),
        role_(role) {
    ++server_->clients_;
  }
  ~Connection() override {
    --server_->clients_;
    if (listed_) server_->live_.erase(position_);
  }

  void enlist() {
    position_ = server_->live_.insert(server_->live_.end(), weak_from_this());
    listed_ = true;
  }
  bool busy() const { return busy_; }
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
    closing_ = true;
    queue_line(std::move(reply), true);
  }

  // ReplyStream
  void send(std::string line) override {
    if (!open()) return;
    if (queued_bytes_ + line.size() > server_->options_.max_queued_bytes) {
      ++server_->dropped_;
      spdlog::warn("control: client pid {} does not read its replies ({} bytes unread); dropped",
                   peer_.pid, queued_bytes_);
      shutdown();
      return;
    }
    queue_line(std::move(line), false);
  }
  void finish(std::string line) override {
    if (!open()) return;
    finished_ = true;
    queue_line(std::move(line), true);
  }
  bool open() const override { return socket_.is_open() && busy_ && !finished_; }
  int handover_fd() const override {
    return open() && queued_bytes_ == 0
               ? const_cast<stream_protocol::socket&>(socket_).native_handle()
               : -1;
  }

 private:
  void arm_idle();
  void read();
  void dispatch(const std::string& line);
  void queue_line(std::string line, bool last);
  void write_next();
  void shutdown() {
    std::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  std::shared_ptr<Impl> server_;
  stream_protocol::socket socket_;
  asio::steady_timer timer_;
  Peer peer_;
  std::optional<Role> role_;
  std::string in_;
  std::deque<std::pair<std::string, bool>> queue_;  // reply lines waiting to be written, last?
  std::size_t queued_bytes_ = 0;
  std::list<std::weak_ptr<Connection>>::iterator position_;
  bool listed_ = false;
  bool busy_ = false;      // a request is being handled: no idle timeout until its last line
  bool finished_ = false;  // the current request's last line is queued
  bool closing_ = false;   // close once the queue is written
};

void ControlServer::Impl::Connection::arm_idle() {
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

void ControlServer::Impl::Connection::read() {
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

void ControlServer::Impl::Connection::dispatch(const std::string& line) {
  busy_ = true;
  finished_ = false;
  timer_.cancel();
  Request request;
  try {
    request = decode_request(line);
  } catch (const ProtocolError& e) {
    finish(encode_error(e.what()));
    return;
  }
  const CommandSpec& spec = spec_of(request.command);
  if (!role_ || (spec.role == Role::Admin && *role_ != Role::Admin)) {
    spdlog::warn("control: refused {} from uid {} pid {}: needs the {} role", spec.name, peer_.uid,
                 peer_.pid, to_string(spec.role));
    finish(encode_error(std::string("permission denied: '") + spec.name + "' needs the " +
                        to_string(spec.role) + " role, which uid " + std::to_string(peer_.uid) +
                        " does not have"));
    return;
  }
  try {
    server_->handler_(request, peer_, shared_from_this());
  } catch (const std::exception& e) {
    spdlog::critical("control: {} failed: {}", spec.name, e.what());
    finish(encode_error(std::string("internal error: ") + e.what()));
  }
}

void ControlServer::Impl::Connection::queue_line(std::string line, bool last) {
  if (!socket_.is_open()) return;
  queued_bytes_ += line.size();
  queue_.emplace_back(std::move(line), last);
  if (queue_.size() == 1) write_next();
}

void ControlServer::Impl::Connection::write_next() {
  asio::async_write(socket_, asio::buffer(queue_.front().first),
                    [self = shared_from_this()](const std::error_code& ec, std::size_t) {
                      if (ec) {
                        self->shutdown();
                        return;
                      }
                      const bool last = self->queue_.front().second;
                      self->queued_bytes_ -= self->queue_.front().first.size();
                      self->queue_.pop_front();
                      if (!self->queue_.empty()) {
                        self->write_next();
                      } else if (self->closing_) {
                        self->shutdown();
                      } else if (last) {
                        self->busy_ = false;
                        self->arm_idle();
                        self->read();
                      }
                    });
}

void ControlServer::Impl::admit(stream_protocol::socket socket) {
  const int fd = socket.native_handle();
  Peer peer = peer_of(fd);
  const std::optional<Role> role = role_of(peer, options_.access, geteuid());
  const uid_t uid = peer.uid;
  const pid_t pid = peer.pid;
  auto connection =
      std::make_shared<Connection>(shared_from_this(), std::move(socket), std::move(peer), role);
  if (!role) {
    spdlog::warn("control: refused uid {} pid {}: no role on this control socket", uid, pid);
    connection->refuse(encode_error("permission denied: uid " + std::to_string(uid) +
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
void ControlServer::reconfigure(const ServerOptions& options) { impl_->reconfigure(options); }
std::size_t ControlServer::dropped() const { return impl_->dropped(); }
int ControlServer::native_handle() const { return impl_->native_handle(); }

}  // namespace clusterd::control
