// Workers' ready probes (ready: http, tcp), one try at a time per worker: a non-blocking connect
// to its own address and, for http, the request and its answer's status line, all within the
// try's limit. What each try did goes to HostEvents::on_probe as facts (core::ProbeReply); the
// core judges them and decides when to try again.
#pragma once

#include <asio/io_context.hpp>
#include <map>
#include <memory>

#include "supervisor/daemon/host.h"

namespace clusterd::loop {

class ProbeRunner {
 public:
  explicit ProbeRunner(asio::io_context& io) : io_(io) {}
  ~ProbeRunner();
  ProbeRunner(const ProbeRunner&) = delete;
  ProbeRunner& operator=(const ProbeRunner&) = delete;
  void start(daemon::HostEvents& events) { events_ = &events; }
  /// Starts a try for `handle`, cancelling the one under way.
  void probe(daemon::WorkerHandle handle, const daemon::ProbeTry& attempt);
  /// Cancels `handle`'s try under way: it reports nothing.
  void cancel(daemon::WorkerHandle handle);
  /// Tries under way (for tests of their end).
  std::size_t active() const { return tries_.size(); }

 private:
  struct Try;
  void connected(daemon::WorkerHandle handle, const std::shared_ptr<Try>& t);
  void read(daemon::WorkerHandle handle, const std::shared_ptr<Try>& t);
  void finish(daemon::WorkerHandle handle, const std::shared_ptr<Try>& t, core::ProbeReply reply);

  asio::io_context& io_;
  daemon::HostEvents* events_ = nullptr;
  std::map<daemon::WorkerHandle, std::shared_ptr<Try>> tries_;
};

}  // namespace clusterd::loop
