#include "supervisor/os/procfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>

using namespace clusterd::os;

TEST_CASE("/proc/PID/stat is parsed even with spaces and parentheses in comm") {
  const std::string text =
      "4242 (my (odd) worker) S 4000 4242 4242 0 -1 4194560 100 0 0 0 25 17 0 0 20 0 3 0 "
      "987654 12345678 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const std::optional<ProcStat> stat = parse_proc_stat(text);
  REQUIRE(stat);
  CHECK(stat->pid == 4242);
  CHECK(stat->ppid == 4000);
  CHECK(stat->pgrp == 4242);
  CHECK(stat->state == 'S');
  CHECK(stat->cpu_ticks == 42);
  CHECK(stat->start_ticks == 987654);
  CHECK(stat->threads == 3);
  CHECK_FALSE(parse_proc_stat("garbage").has_value());
  CHECK_FALSE(parse_proc_stat("12 (x) S 1").has_value());
}

TEST_CASE("/proc/PID/statm gives the resident set") {
  CHECK(parse_statm_resident("2871 1234 567 80 0 300 0\n") == 1234u);
  CHECK_FALSE(parse_statm_resident("2871").has_value());
  CHECK_FALSE(parse_statm_resident("2871 x 1").has_value());
}

TEST_CASE("threads, RSS and CPUs from stat, statm and sched_getaffinity match /proc/PID/status") {
  // The RSS first, read back to back with the status file, before anything else allocates.
  char text[8192];
  const int fd = open("/proc/self/status", O_RDONLY);
  REQUIRE(fd >= 0);
  const std::optional<std::uint64_t> rss = read_rss_kb(getpid());
  const ssize_t n = read(fd, text, sizeof text);
  close(fd);
  REQUIRE(n > 0);
  REQUIRE(rss);
  std::istringstream file(std::string(text, static_cast<std::size_t>(n)));
  std::string line;
  std::map<std::string, std::string> status;
  while (std::getline(file, line)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::size_t value = line.find_first_not_of(" \t", colon + 1);
    status[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
  }
  const std::optional<ProcStat> stat = read_proc_stat(getpid());
  REQUIRE(stat);
  CHECK(std::to_string(stat->threads) == status["Threads"]);
  const std::uint64_t vm_rss = std::stoull(status["VmRSS"]);  // "5120 kB"
  // statm reads the kernel's per-CPU RSS counters as they stand (percpu_counter_read), which may
  // lag the sum that status adds up by up to the counters' batch on each CPU: max(32, 2 x CPUs)
  // pages per CPU (lib/percpu_counter.c). A page fault or two between the reads comes on top.
  const auto cpus = static_cast<std::uint64_t>(sysconf(_SC_NPROCESSORS_CONF));
  const std::uint64_t slack_kb = (std::max<std::uint64_t>(32, 2 * cpus) * cpus + 4) *
                                 static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
  CHECK(*rss + slack_kb >= vm_rss);
  CHECK(*rss <= vm_rss + slack_kb);
  CHECK(allowed_cpus(getpid()) == status["Cpus_allowed_list"]);
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
  CHECK(stat->threads >= 1);
  CHECK(read_rss_kb(getpid()).value_or(0) > 0);
  // We started after boot, so our start time in ticks lies within the system's uptime.
  CHECK(system_uptime_s() > 0);
  CHECK(static_cast<double>(stat->start_ticks) / clock_ticks_per_second() <= system_uptime_s());
  const std::vector<pid_t> sub = ProcessTree::scan().subtree(getppid());
  CHECK(std::find(sub.begin(), sub.end(), getpid()) != sub.end());
}
