// The daemon loop over a fake host, for the tests of tests/unit/daemon_*.cc and logs_test.cc:
// a config, the daemon started on it, and the moves a test makes (exits, notify datagrams, time,
// control requests).
#pragma once

#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>

#include "fake_host.h"
#include "supervisor/daemon/daemon.h"
#include "supervisor/daemon/upgrade_state.h"

namespace clusterd::test {

inline std::string web_config(const std::string& instances = "2", const std::string& extra = "") {
  return "control: { socket: /run/test/ctl.sock }\n"
         "apps:\n"
         "  web:\n"
         "    command: [\"/bin/web\", \"--v1\"]\n"
         "    instances: " +
         instances +
         "\n"
         "    ready: notify\n"
         "    stop_timeout: 5s\n" +
         extra +
         "    listen:\n"
         "      http: { address: \"127.0.0.1:8080\", mode: reuseport }\n";
}

struct Loop {
  test::FakeHost host;
  std::unique_ptr<daemon::Daemon> daemon;
  std::set<daemon::WorkerHandle> readied;

  explicit Loop(const std::string& yaml, const std::function<void(test::FakeHost&)>& setup = {}) {
    if (std::getenv("CLUSTERD_TEST_LOG") == nullptr) spdlog::set_level(spdlog::level::off);
    if (setup) setup(host);
    host.config_text = yaml;
    config::ParseResult parsed = host.load_config("c.yaml");
    REQUIRE(parsed.errors.empty());
    daemon::DaemonOptions options;
    options.config = std::move(*parsed.config);
    daemon = std::make_unique<daemon::Daemon>(host, std::move(options));
    daemon->start();
  }
  /// The master a live upgrade made of `state` (what the previous one handed over), on a host
  /// whose clock reads `clock`.
  Loop(daemon::UpgradeState state, core::TimePoint clock,
       const std::function<void(test::FakeHost&)>& setup = {}) {
    if (std::getenv("CLUSTERD_TEST_LOG") == nullptr) spdlog::set_level(spdlog::level::off);
    if (setup) setup(host);
    host.clock = clock;
    host.reserve_fds(state.fds());
    daemon = std::make_unique<daemon::Daemon>(host, std::move(state));
    daemon->resume("");
  }
  std::vector<daemon::WorkerHandle> alive() const {
    std::vector<daemon::WorkerHandle> out;
    for (const auto& [handle, worker] : host.workers) {
      if (worker.alive) out.push_back(handle);
    }
    return out;
  }
  void ready_all() {
    for (daemon::WorkerHandle h : alive()) {
      if (readied.insert(h).second) notify(h, "READY=1");
    }
  }
  void notify(daemon::WorkerHandle h, const std::string& text, unsigned uid = 0) {
    os::NotifySender sender;
    sender.uid = uid;
    sender.pid = host.workers.at(h).pid;
    daemon->on_notify(h, {text, sender});
  }
  void notify_from(daemon::WorkerHandle h, const std::string& text, const os::NotifySender& s) {
    daemon->on_notify(h, {text, s});
  }
  void exit(daemon::WorkerHandle h, core::ExitStatus status) {
    host.workers.at(h).alive = false;
    daemon->on_exit(h, status);
  }
  // Moves the clock and fires every timer that is due, in deadline order.
  void advance(core::Duration by) {
    host.clock += by;
    while (true) {
      auto due = host.timers.end();
      for (auto it = host.timers.begin(); it != host.timers.end(); ++it) {
        if (it->second <= host.clock && (due == host.timers.end() || it->second < due->second)) {
          due = it;
        }
      }
      if (due == host.timers.end()) return;
      const daemon::TimerKey key = due->first;
      host.timers.erase(due);
      daemon->on_timer(key);
    }
  }
  std::shared_ptr<test::RecordingReply> request(const std::string& json) {
    auto reply = std::make_shared<test::RecordingReply>();
    REQUIRE_FALSE(host.controls.empty());
    host.controls.begin()->second(control::decode_request(json), control::Peer{}, reply);
    return reply;
  }
  bool signalled(daemon::WorkerHandle h, int signal) const {
    for (const auto& [worker, sig] : host.signals) {
      if (worker == h && sig == signal) return true;
    }
    return false;
  }
  const core::AppState& web() const { return daemon->supervisor().apps()[0]; }
};

}  // namespace clusterd::test
