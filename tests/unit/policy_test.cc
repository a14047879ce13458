#include "supervisor/core/policy.h"

#include <catch2/catch.hpp>

using namespace clusterd;
using namespace std::chrono_literals;
using core::ExitStatus;

TEST_CASE("should_restart follows the restart policy") {
  const ExitStatus ok{ExitStatus::Kind::Exited, 0, {}};
  const ExitStatus code1{ExitStatus::Kind::Exited, 1, {}};
  const ExitStatus term{ExitStatus::Kind::Signaled, 15, {}};
  const ExitStatus segv{ExitStatus::Kind::Signaled, 11, {}};
  const ExitStatus spawn{ExitStatus::Kind::SpawnFailed, 127, "execve: No such file or directory"};
  const ExitStatus timeout{ExitStatus::Kind::ReadyTimeout, 0, {}};
  using P = config::RestartPolicy;
  CHECK(core::should_restart(P::Always, ok).yes);
  CHECK(core::should_restart(P::Always, segv).yes);
  CHECK_FALSE(core::should_restart(P::Never, segv).yes);
  CHECK_FALSE(core::should_restart(P::OnFailure, ok).yes);
  CHECK_FALSE(core::should_restart(P::OnFailure, term).yes);
  CHECK(core::should_restart(P::OnFailure, code1).yes);
  CHECK(core::should_restart(P::OnFailure, segv).yes);
  CHECK(core::should_restart(P::OnFailure, spawn).yes);
  CHECK(core::should_restart(P::OnFailure, timeout).yes);
  CHECK(core::should_restart(P::OnFailure, ok).reason ==
        "restart: on-failure, and it ended cleanly");
}

TEST_CASE("restart_delay doubles from initial up to max") {
  CHECK(core::restart_delay(100ms, 30s, 1) == 100ms);
  CHECK(core::restart_delay(100ms, 30s, 2) == 200ms);
  CHECK(core::restart_delay(100ms, 30s, 3) == 400ms);
  CHECK(core::restart_delay(100ms, 30s, 9) == 25600ms);
  CHECK(core::restart_delay(100ms, 30s, 10) == 30s);
  CHECK(core::restart_delay(100ms, 30s, 4000000000u) == 30s);
  CHECK(core::restart_delay(1s, 500ms, 1) == 500ms);
}

TEST_CASE("crash_loop counts quick deaths inside the window only") {
  std::vector<core::TimePoint> history;
  const core::TimePoint t0{};
  for (int i = 0; i < 3; ++i) CHECK_FALSE(core::crash_loop(history, t0 + i * 1s, 10s, 3));
  CHECK(core::crash_loop(history, t0 + 3s, 10s, 3));  // the 4th within 10 s
  history.clear();
  for (int i = 0; i < 10; ++i) CHECK_FALSE(core::crash_loop(history, t0 + i * 11s, 10s, 1));
  CHECK(history.size() == 1);                                   // older ones are forgotten
  CHECK(core::crash_loop(history, t0 + 9 * 11s + 5s, 10s, 1));  // two within 10 s
}

TEST_CASE("exit statuses read well") {
  CHECK(ExitStatus{ExitStatus::Kind::Exited, 3, {}}.to_string() == "exit 3");
  CHECK(ExitStatus{ExitStatus::Kind::Signaled, 9, {}}.to_string() == "signal SIGKILL");
  CHECK(ExitStatus{ExitStatus::Kind::SpawnFailed, 127, "execve: x"}.to_string() ==
        "spawn failed: execve: x");
  CHECK(core::signal_name(15) == "SIGTERM");
  CHECK(core::signal_name(200) == "SIG200");
}
