// The master's side of socket adoption for the real-kernel tests: a thread that answers the
// calls of one worker's adoption filter with os/adopt.h, deciding by core/adoption.h, and keeps
// a record of each call and its answer. It holds the app's listeners (and those adopt: all makes).
#pragma once

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "supervisor/core/adoption.h"
#include "supervisor/os/adopt.h"
#include "supervisor/os/listen_socket.h"
#include "supervisor/os/unique_fd.h"

namespace adopt_test {

namespace core = clusterd::core;
namespace os = clusterd::os;

/// One call and what it got: "run", "give", "make", "zero", "fail", "listening"; `gone` when the
/// caller left before the answer.
struct Record {
  os::SocketCall call;
  std::string answer;
  std::string reason;
  core::Replacement replacement;
  bool gone = false;
};

class MasterSide {
 public:
  /// `listeners`: the app's; each is bound here (reuseport when its mode says so).
  explicit MasterSide(core::AdoptionScope scope, int backlog = 1234)
      : scope_(std::move(scope)), backlog_(backlog) {
    for (const clusterd::config::ListenerSpec& l : scope_.listeners) {
      held_.push_back(os::bind_listener(l.address, backlog_,
                                        l.mode == clusterd::config::ListenMode::ReusePort));
      inodes_.push_back(os::socket_inode(held_.back().get()));
    }
  }
  ~MasterSide() { stop(); }
  MasterSide(const MasterSide&) = delete;
  MasterSide& operator=(const MasterSide&) = delete;

  /// Answers the calls of `listeners` (Child::adopt_listener of each worker; taken) from now on.
  void start(std::vector<os::UniqueFd> listeners) {
    listeners_ = std::move(listeners);
    thread_ = std::thread([this] { run(); });
  }
  void start(os::UniqueFd listener) {
    std::vector<os::UniqueFd> one;
    one.push_back(std::move(listener));
    start(std::move(one));
  }
  void stop() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  int socket(std::size_t listener) const { return held_[listener].get(); }
  int made_socket(std::size_t i) {
    const std::lock_guard<std::mutex> lock(mutex_);
    return made_[i].get();
  }
  std::vector<Record> records() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return records_;
  }
  /// Waits (bounded) until `done(records)` holds; false on timeout.
  bool wait_for(const std::function<bool(const std::vector<Record>&)>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return done(records_); });
  }
  bool closed() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

 private:
  // Until stopped, or every listener closed (its worker and all it started have exited).
  void run() {
    std::vector<bool> open(listeners_.size(), true);
    for (int turn = 0; turn < 1'000'000; ++turn) {
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
      }
      std::vector<pollfd> ready;
      for (std::size_t i = 0; i < listeners_.size(); ++i) {
        ready.push_back({open[i] ? listeners_[i].get() : -1, POLLIN, 0});
      }
      if (poll(ready.data(), ready.size(), 20) <= 0) continue;
      for (std::size_t l = 0; l < listeners_.size(); ++l) {
        for (int i = 0; open[l] && i < 64; ++i) {
          const os::Received received = os::receive(listeners_[l].get());
          if (received.status == os::Received::Status::Nothing) break;
          if (received.status == os::Received::Status::Closed) open[l] = false;
          if (received.status == os::Received::Status::Call)
            answer_or_record(listeners_[l].get(), received.call);
        }
      }
      if (std::find(open.begin(), open.end(), true) == open.end()) {
        const std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        changed_.notify_all();
        return;
      }
    }
  }

  std::optional<core::HeldSocket> held_by(const os::SocketCall& call) {
    if (!call.socket) return std::nullopt;
    for (std::size_t i = 0; i < inodes_.size(); ++i) {
      if (inodes_[i] == call.socket->inode)
        return core::HeldSocket{core::HeldSocket::Kind::Listener, i};
    }
    for (std::size_t i = 0; i < made_inodes_.size(); ++i) {
      if (made_inodes_[i] == call.socket->inode)
        return core::HeldSocket{core::HeldSocket::Kind::Made, i};
    }
    return std::nullopt;
  }

  int fd_of(const core::HeldSocket& held) {
    return held.kind == core::HeldSocket::Kind::Listener ? held_[held.index].get()
                                                         : made_[held.index].get();
  }

  // An exception here (os::replace() answers the call, then throws) is recorded, not thrown
  // out of the thread.
  void answer_or_record(int listener, const os::SocketCall& call) {
    try {
      answer(listener, call);
    } catch (const std::exception& e) {
      const std::lock_guard<std::mutex> lock(mutex_);
      records_.push_back({call, "error", e.what(), {}, false});
      changed_.notify_all();
    }
  }

  void answer(int listener, const os::SocketCall& call) {
    Record record{call, "", "", {}, false};
    std::optional<core::CallerSocket> caller;
    if (call.socket) {
      caller = core::CallerSocket{call.socket->tcp, call.socket->ipv6, call.socket->v6only,
                                  call.socket->nonblocking, call.socket->cloexec};
    }
    // The record is kept before the answer goes out: a caller that prints once its call
    // returned must find its call recorded.
    std::function<os::Delivery()> deliver;
    if (call.kind == os::SocketCall::Kind::Bind) {
      const core::BindCall bind{call.address, caller, held_by(call), call.unseen};
      core::BindAnswer decision = core::decide_bind(scope_, bind);
      if (const auto* make = std::get_if<core::MakeSocket>(&decision)) {
        try {
          os::UniqueFd fd = os::bind_listener(make->address, backlog_, false, {}, make->v6only);
          const std::lock_guard<std::mutex> lock(mutex_);
          made_inodes_.push_back(os::socket_inode(fd.get()));
          made_.push_back(std::move(fd));
          scope_.made.push_back(make->address);
          record.answer = "make";
          decision = core::GiveSocket{
              {core::HeldSocket::Kind::Made, made_.size() - 1}, make->replacement, make->reason};
        } catch (const std::system_error& e) {
          decision = core::made_socket_failed(*make, e.code().value(), e.what());
        }
      }
      std::visit(
          [&](const auto& a) {
            using A = std::decay_t<decltype(a)>;
            record.reason = a.reason;
            if constexpr (std::is_same_v<A, core::LetRun>) {
              record.answer = "run";
              deliver = [=] { return os::proceed(listener, call.id); };
            } else if constexpr (std::is_same_v<A, core::GiveSocket>) {
              if (record.answer.empty()) record.answer = "give";
              record.replacement = a.replacement;
              const int fd = fd_of(a.socket);
              const os::Replacement flags{a.replacement.nonblocking, a.replacement.cloexec};
              deliver = [=] { return os::replace(listener, call, fd, flags); };
            } else if constexpr (std::is_same_v<A, core::ReturnZero>) {
              record.answer = "zero";
              deliver = [=] { return os::succeed(listener, call.id); };
            } else if constexpr (std::is_same_v<A, core::FailCall>) {
              record.answer = "fail";
              const int error = a.error;
              deliver = [=] { return os::refuse(listener, call.id, error); };
            }
          },
          decision);
    } else {
      const core::ListenAnswer decision = core::decide_listen({held_by(call), call.backlog});
      if (const auto* listening = std::get_if<core::Listening>(&decision)) {
        record.answer = "listening";
        record.reason = listening->reason;
        deliver = [=] { return os::succeed(listener, call.id); };
      } else {
        record.answer = "run";
        record.reason = std::get<core::LetRun>(decision).reason;
        deliver = [=] { return os::proceed(listener, call.id); };
      }
    }
    std::size_t index = 0;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      index = records_.size();
      records_.push_back(std::move(record));
      changed_.notify_all();
    }
    const bool gone = deliver() == os::Delivery::Gone;
    const std::lock_guard<std::mutex> lock(mutex_);
    records_[index].gone = gone;
  }

  core::AdoptionScope scope_;
  int backlog_;
  std::vector<os::UniqueFd> held_;
  std::vector<std::uint64_t> inodes_;
  std::vector<os::UniqueFd> made_;
  std::vector<std::uint64_t> made_inodes_;
  std::vector<os::UniqueFd> listeners_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Record> records_;
  bool stopping_ = false;
  bool closed_ = false;
};

}  // namespace adopt_test
