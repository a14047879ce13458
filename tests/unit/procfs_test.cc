#include "supervisor/os/procfs.h"

#include <unistd.h>

#include <catch2/catch.hpp>

using namespace clusterd::os;

TEST_CASE("/proc/PID/stat is parsed even with spaces and parentheses in comm") {
  const std::string text =
      "4242 (my (odd) worker) S 4000 4242 4242 0 -1 4194560 100 0 0 0 25 17 0 0 20 0 3 0 "
      "987654 12345678 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const std::optional<ProcStat> stat = parse_proc_stat(text);
  REQUIRE(stat);
  CHECK(stat->pid == 4242);
  CHECK(stat->ppid == 4000);
  CHECK(stat->state == 'S');
  CHECK(stat->cpu_ticks == 42);
  CHECK(stat->start_ticks == 987654);
  CHECK_FALSE(parse_proc_stat("garbage").has_value());
  CHECK_FALSE(parse_proc_stat("12 (x) S 1").has_value());
}

TEST_CASE("/proc/PID/status gives threads, RSS and the allowed CPUs") {
  const std::string text =
      "Name:\thello-worker\nState:\tS (sleeping)\nVmRSS:\t    5120 kB\nThreads:\t4\n"
      "Cpus_allowed:\t3\nCpus_allowed_list:\t0-1\n";
  const ProcStatus status = parse_proc_status(text);
  CHECK(status.threads == 4);
  CHECK(status.rss_kb == 5120);
  CHECK(status.cpus == "0-1");
}

TEST_CASE("the process tree finds every descendant") {
  const ProcessTree tree = ProcessTree::from({{10, 1}, {11, 10}, {12, 10}, {13, 12}, {20, 1}});
  std::vector<pid_t> sub = tree.subtree(10);
  std::sort(sub.begin(), sub.end());
  CHECK(sub == std::vector<pid_t>{10, 11, 12, 13});
  CHECK(tree.subtree(20) == std::vector<pid_t>{20});
  CHECK(tree.subtree(99) == std::vector<pid_t>{99});
}

TEST_CASE("reading our own process from /proc") {
  const std::optional<ProcStat> stat = read_proc_stat(getpid());
  REQUIRE(stat);
  CHECK(stat->pid == getpid());
  CHECK(stat->ppid == getppid());
  const std::optional<ProcStatus> status = read_proc_status(getpid());
  REQUIRE(status);
  CHECK(status->threads >= 1);
  CHECK(status->rss_kb > 0);
  const std::vector<pid_t> sub = ProcessTree::scan().subtree(getppid());
  CHECK(std::find(sub.begin(), sub.end(), getpid()) != sub.end());
}
