#include "supervisor/os/cpus.h"

#include <catch2/catch.hpp>

using namespace clusterd::os;

TEST_CASE("cgroup v2 cpu.max is parsed") {
  CHECK_FALSE(parse_cpu_max("max 100000\n").has_value());
  CHECK(*parse_cpu_max("150000 100000\n") == Approx(1.5));
  CHECK(*parse_cpu_max("50000 100000") == Approx(0.5));
  CHECK_FALSE(parse_cpu_max("garbage").has_value());
  CHECK_FALSE(parse_cpu_max("").has_value());
}

TEST_CASE("cgroup v1 cfs quota is parsed") {
  CHECK_FALSE(parse_cfs_quota("-1\n", "100000\n").has_value());
  CHECK(*parse_cfs_quota("400000\n", "100000\n") == Approx(4.0));
}

TEST_CASE("cpu lists are formatted as ranges") {
  CHECK(format_cpu_list({0, 1, 2, 5}) == "0-2,5");
  CHECK(format_cpu_list({3}) == "3");
  CHECK(format_cpu_list({}) == "");
  CHECK(format_cpu_list({0, 2, 4, 5}) == "0,2,4-5");
}

TEST_CASE("an affinity mask gives its CPUs in order, across words") {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : {0, 1, 63, 64, 130, CPU_SETSIZE - 1}) CPU_SET(cpu, &set);
  CHECK(cpus_in(set) == std::vector<int>{0, 1, 63, 64, 130, CPU_SETSIZE - 1});
  CPU_ZERO(&set);
  CHECK(cpus_in(set).empty());
}

TEST_CASE("the budget is the affinity capped by the rounded-up quota") {
  CHECK(make_budget({0, 1, 2, 3}, std::nullopt, "").count == 4);
  CHECK(make_budget({0, 1, 2, 3}, 1.5, "f").count == 2);
  CHECK(make_budget({0, 1}, 4.0, "f").count == 2);
  CHECK(make_budget({0, 1}, 0.2, "f").count == 1);
  CHECK(make_budget({}, std::nullopt, "").count == 1);
  CHECK(make_budget({0, 1}, 4.0, "f").reason == "2: affinity 0-1, cgroup quota 4.00");
  CHECK(make_budget({0, 1}, std::nullopt, "").reason == "2: affinity 0-1, no cgroup quota");
}

TEST_CASE("detect_cpus never exceeds the affinity mask") {
  const CpuBudget budget = detect_cpus();
  CHECK(budget.count >= 1);
  CHECK(budget.count <= budget.allowed.size());
}
