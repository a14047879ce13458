// The control server. Each connection is a small object owned by shared_ptr: read one line (at
// most kMaxRequestBytes), decode it, check the peer's role, hand it to the handler, write the
// reply lines, then take the next request. An idle timer closes connections that say nothing for
// idle_timeout; while a request is in progress (a reload, a stream) only the unread-bytes bound
// applies. A read stays pending while a request is in progress too, so a client that goes away
// in the middle of a follow is noticed at once and its place freed, not at the next line the
// stream would have sent it. Places and follow streams per role and uid are counted by
// Admission (admission.h); warnings any peer can cause are logged at most once a minute per uid
// and kind (core::WarningQuota), the rest counted.
#include "supervisor/control/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <deque>
#include <list>
#include <system_error>

#include "supervisor/control/admission.h"
#include "supervisor/control/protocol.h"
#include "supervisor/control/socket_dir.h"
#include "supervisor/control/socket_file.h"
#include "supervisor/core/throttle.h"

namespace clusterd::control {

using asio::local::stream_protocol;

class ControlServer::Impl : public std::enable_shared_from_this<ControlServer::Impl> {
 public:
  Impl(asio::io_context& io, ServerOptions options, Handler handler)
      : io_(io),
        options_(std::move(options)),
        handler_(std::move(handler)),
        acceptor_(io),
        admission_(AdmissionLimits{options_.max_clients}) {}
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
  std::shared_ptr<Connection> idle_victim(Admission::Need need) const;
  /// Logs `line` (after "control: ") unless a line of `uid`'s `kind` was logged less than a
  /// minute ago; then it is counted, and the next such line says how many were left out.
  void warn(uid_t uid, const char* kind, const std::string& line);

  asio::io_context& io_;
  ServerOptions options_;
  Handler handler_;
  stream_protocol::acceptor acceptor_;
  Admission admission_;
  core::WarningQuota quota_;
  std::size_t dropped_ = 0;
  bool created_ = false;
  // The socket file as bound: reconfigure() changes its mode and group only while the path still
  // names this inode.
  SocketFile file_;  // its gid: the group when no control.group is set
  bool accept_failing_ = false;
  asio::steady_timer retry_{io_};
  // Admitted connections, oldest first, for evicting an idle one when the places are taken.
  std::list<std::weak_ptr<Connection>> live_;
};

void ControlServer::Impl::warn(uid_t uid, const char* kind, const std::string& line) {
  const std::string key = "uid " + std::to_string(uid) + ": " + kind;
  const std::optional<std::uint64_t> left_out = quota_.admit(key, std::chrono::steady_clock::now());
  if (!left_out) return;
  if (*left_out == 0) {
    spdlog::warn("control: {}", line);
  } else {
    spdlog::warn("control: {} ({} more like it from uid {} since the last such line)", line,
                 *left_out, uid);
  }
}

void ControlServer::Impl::open() {
  if (options_.adopt_fd >= 0) {
    acceptor_.assign(stream_protocol(), options_.adopt_fd);
    options_.adopt_fd = -1;
    created_ = true;
    file_ = socket_file(options_.path).value_or(SocketFile{});
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
  file_ = bound_socket_file(options_.path, options_.group);
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
  admission_.set_limits(AdmissionLimits{options_.max_clients});
  options_.idle_timeout = options.idle_timeout;
  options_.max_queued_bytes = options.max_queued_bytes;
  options_.group = options.group;
  options_.world_connectable = options.world_connectable;
  if (!created_) return;
  for (const std::string& problem :
       set_socket_mode(options_.path, file_, options_.group.value_or(file_.gid),
                       options_.world_connectable ? 0666 : 0660)) {
    spdlog::error("control: {}", problem);
  }
}

void ControlServer::Impl::close() {
  std::error_code ignored;
  retry_.cancel();
  acceptor_.close(ignored);
  if (created_) unlink(options_.path.c_str());
  created_ = false;
  // What the quota kept out of the log is not lost with the server.
  for (const auto& [key, count] : quota_.drain()) {
    spdlog::warn("control: {} warnings left out of the log since the last one about {}", count,
                 key);
  }
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
        role_(role) {}
  ~Connection() override { release(); }

  // Takes a place (the role's) and a line in the eviction list.
  void enlist() {
    server_->admission_.enter(*role_);
    position_ = server_->live_.insert(server_->live_.end(), weak_from_this());
    placed_ = true;
  }
  bool busy() const { return busy_; }
  Role role() const { return *role_; }
  void evict(const Peer& newcomer) {
    server_->warn(newcomer.uid, "evicted an idle client",
                  fmt::format("too many clients; closing the longest-idle one (pid {}) for uid {} "
                              "pid {}",
                              peer_.pid, newcomer.uid, newcomer.pid));
    shutdown();
  }
  void start() {
    arm_idle();
    read();
  }
  // Writes one reply and closes the connection (refusals).
  void refuse(ReplyLine reply) {
    closing_ = true;
    queue_line(std::move(reply.text), true);
  }

  // ReplyStream
  void send(ReplyLine line) override {
    if (!open()) return;
    if (queued_bytes_ + line.text.size() > server_->options_.max_queued_bytes) {
      ++server_->dropped_;
      server_->warn(peer_.uid, "dropped, not reading",
                    fmt::format("client uid {} pid {} does not read its replies ({} bytes "
                                "unread); dropped",
                                peer_.uid, peer_.pid, queued_bytes_));
      shutdown();
      return;
    }
    queue_line(std::move(line.text), false);
  }
  void finish(ReplyLine line) override {
    if (!open()) return;
    finished_ = true;
    end_follow();
    queue_line(std::move(line.text), true);
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
  void on_read(const std::error_code& ec, std::size_t length);
  void next();
  void dispatch(const std::string& line);
  bool start_follow(const CommandSpec& spec, const Request& request);
  void queue_line(std::string line, bool last);
  void write_next();
  void written(bool last);
  void end_follow() {
    if (following_) server_->admission_.end_follow(*role_, peer_.uid);
    following_ = false;
  }
  // Gives back the place and the follow stream, at once: whoever still holds this object (a
  // list of followers until its next line) holds no place.
  void release() {
    end_follow();
    if (placed_) {
      server_->admission_.leave(*role_);
      server_->live_.erase(position_);
    }
    placed_ = false;
  }
  void shutdown() {
    std::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    release();
    // The line being written stays until its write completes (aborted now); the rest goes.
    if (queue_.size() > 1) queue_.erase(std::next(queue_.begin()), queue_.end());
    std::string().swap(in_);
  }

  std::shared_ptr<Impl> server_;
  stream_protocol::socket socket_;
  asio::steady_timer timer_;
  Peer peer_;
  std::optional<Role> role_;
  std::string in_;                                  // bytes read, not yet taken as a request
  std::array<char, 4096> chunk_{};                  // what one read fills
  std::deque<std::pair<std::string, bool>> queue_;  // reply lines waiting to be written, last?
  std::size_t queued_bytes_ = 0;
  std::list<std::weak_ptr<Connection>>::iterator position_;
  bool placed_ = false;     // holds a place (admission) and a line in live_
  bool reading_ = false;    // a read is pending
  bool busy_ = false;       // a request is being handled: no idle timeout until its last line
  bool finished_ = false;   // the current request's last line is queued
  bool following_ = false;  // the current request is a follow stream, counted by admission
  bool ended_ = false;      // the client sends nothing more (EOF)
  bool closing_ = false;    // close once the queue is written
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
  if (reading_ || !socket_.is_open()) return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](
                                                    const std::error_code& ec, std::size_t length) {
    self->reading_ = false;
    self->on_read(ec, length);
  });
}

void ControlServer::Impl::Connection::on_read(const std::error_code& ec, std::size_t length) {
  if (!socket_.is_open()) return;
  if (ec) {
    // The client sends nothing more. Idle, or in a follow (which only ends this way), it is
    // gone: close now, which frees its place and its follow stream. A request in progress is
    // answered first (a client may shut down its sending side and wait for the reply).
    if (ec != asio::error::eof || !busy_ || following_) {
      shutdown();
    } else {
      ended_ = true;
    }
    return;
  }
  // A follow takes no further request: what the client sends meanwhile is read and dropped.
  if (!following_) in_.append(chunk_.data(), length);
  next();
}

// Takes the next request when none is in progress and one is complete, refuses one that is too
// long, and reads on: always while idle or in a follow; while another request is in progress, only
// until the next request is complete (so its sender waits, as a pipe would make it).
void ControlServer::Impl::Connection::next() {
  if (!socket_.is_open() || closing_) return;
  if (!busy_) {
    const std::size_t newline = in_.find('\n');
    if (newline < kMaxRequestBytes) {
      const std::string line = in_.substr(0, newline);
      in_.erase(0, newline + 1);
      dispatch(line);
      if (!socket_.is_open() || closing_) return;
    } else if (in_.size() >= kMaxRequestBytes) {
      refuse(encode_error("request longer than " + std::to_string(kMaxRequestBytes) + " bytes"));
      return;
    } else if (ended_) {
      shutdown();
      return;
    }
  }
  const bool waiting = busy_ && !following_ &&
                       (in_.find('\n') != std::string::npos || in_.size() >= kMaxRequestBytes);
  if (!ended_ && !waiting) read();
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
    server_->warn(peer_.uid, "refused, needs a role",
                  fmt::format("refused {} from uid {} pid {}: needs the {} role", spec.name,
                              peer_.uid, peer_.pid, to_string(spec.role)));
    finish(encode_error("permission denied: '" + std::string(spec.name) + "' needs the " +
                        to_string(spec.role) + " role, which uid " + std::to_string(peer_.uid) +
                        " does not have"));
    return;
  }
  if (!start_follow(spec, request)) return;
  try {
    server_->handler_(request, peer_, shared_from_this());
  } catch (const std::exception& e) {
    spdlog::critical("control: {} failed: {}", spec.name, e.what());
    finish(encode_error(std::string("internal error: ") + e.what()));
  }
}

// A follow stream (logs or events with follow) takes one of its uid's and its role's; false when
// none is left, and the request is answered with the refusal.
bool ControlServer::Impl::Connection::start_follow(const CommandSpec& spec,
                                                   const Request& request) {
  if (!spec.args.has(Arg::History) || !request.follow) return true;
  if (std::optional<std::string> refused = server_->admission_.start_follow(*role_, peer_.uid)) {
    server_->warn(peer_.uid, "follow refused",
                  fmt::format("refused {} --follow from uid {} pid {}: {}", spec.name, peer_.uid,
                              peer_.pid, *refused));
    finish(encode_error(*refused));
    return false;
  }
  following_ = true;
  return true;
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
                      self->written(last);
                    });
}

void ControlServer::Impl::Connection::written(bool last) {
  if (!socket_.is_open()) return;
  if (!queue_.empty()) {
    write_next();
  } else if (closing_) {
    shutdown();
  } else if (last) {
    busy_ = false;
    arm_idle();
    next();
  }
}

std::shared_ptr<ControlServer::Impl::Connection> ControlServer::Impl::idle_victim(
    Admission::Need need) const {
  // The oldest connection with no request in progress (idle, or dribbling a partial line) of the
  // read role; for an admin, then the oldest idle one of any role.
  for (const bool any : {false, true}) {
    if (any && need != Admission::Need::AnyPlace) break;
    for (const std::weak_ptr<Connection>& weak : live_) {
      std::shared_ptr<Connection> candidate = weak.lock();
      if (candidate && !candidate->busy() && (any || candidate->role() == Role::Read)) {
        return candidate;
      }
    }
  }
  return nullptr;
}

void ControlServer::Impl::admit(stream_protocol::socket socket) {
  const int fd = socket.native_handle();
  Peer peer = peer_of(fd);
  const std::optional<Role> role = role_of(peer, options_.access, geteuid());
  const Peer who = peer;
  auto connection =
      std::make_shared<Connection>(shared_from_this(), std::move(socket), std::move(peer), role);
  if (!role) {
    warn(who.uid, "refused, no role",
         fmt::format("refused uid {} pid {}: no role on this control socket", who.uid, who.pid));
    connection->refuse(encode_error("permission denied: uid " + std::to_string(who.uid) +
                                    " may not use this control socket"));
    return;
  }
  const Admission::Need need = admission_.need(*role);
  if (need != Admission::Need::Nothing) {
    // Full: make room by closing an idle connection, so stuck clients cannot lock everyone else
    // out; a read-role newcomer never takes an admin's place.
    const std::shared_ptr<Connection> victim = idle_victim(need);
    if (!victim) {
      const std::string why = admission_.full(*role);
      warn(who.uid, "refused, full",
           fmt::format("refused uid {} pid {}: {}", who.uid, who.pid, why));
      connection->refuse(encode_error(why));
      return;
    }
    victim->evict(who);
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
