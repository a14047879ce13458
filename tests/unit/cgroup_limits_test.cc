// os::apply_limits against a scratch directory laid out like a cgroup v2 tree (this machine's v2
// hierarchy has no memory, cpu or pids controller to try them on): the controllers are enabled in
// cgroup.subtree_control from the root down to the slot, then the limits are written into the
// worker's cgroup; what cannot be applied is reported by key, naming the file. Then the reading
// side over the same kind of scratch tree: cpu.stat, and a worker's tree from its cgroup's files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "supervisor/os/cgroup.h"
#include "supervisor/os/procfs.h"

namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// ROOT/workers/web/0/7 with the files a cgroup directory has (empty).
struct FakeTree {
  FakeTree() {
    std::string tmpl = (fs::temp_directory_path() / "cglimits-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    root = tmpl;
    leaf = root + "/workers/web/0/7";
    fs::create_directories(leaf);
    for (const std::string& dir :
         {root, root + "/workers", root + "/workers/web", root + "/workers/web/0", leaf}) {
      std::ofstream(dir + "/cgroup.subtree_control").flush();
    }
    for (const char* file : {"memory.max", "cpu.weight", "pids.max"}) {
      std::ofstream(leaf + "/" + file).flush();
    }
  }
  ~FakeTree() { fs::remove_all(root); }
  std::string root, leaf;
};

}  // namespace

TEST_CASE("apply_limits enables each controller from the root down, then writes the leaf") {
  FakeTree t;
  clusterd::config::CgroupLimits limits;
  limits.memory_max = 256 * 1024 * 1024;
  limits.cpu_weight = 50;
  limits.pids_max = 64;
  CHECK(clusterd::os::apply_limits(t.root, t.leaf, limits).empty());
  CHECK(slurp(t.leaf + "/memory.max") == "268435456");
  CHECK(slurp(t.leaf + "/cpu.weight") == "50");
  CHECK(slurp(t.leaf + "/pids.max") == "64");
  for (const std::string& dir :
       {t.root, t.root + "/workers", t.root + "/workers/web", t.root + "/workers/web/0"}) {
    CHECK(slurp(dir + "/cgroup.subtree_control") == "+memory+cpu+pids");
  }
  CHECK(slurp(t.leaf + "/cgroup.subtree_control").empty());  // the leaf holds processes only
  // Controllers already on are not written again.
  CHECK(clusterd::os::apply_limits(t.root, t.leaf, limits).empty());
  CHECK(slurp(t.root + "/cgroup.subtree_control") == "+memory+cpu+pids");
}

TEST_CASE("apply_limits reports what it could not apply, by key, and applies the rest") {
  FakeTree t;
  fs::remove(t.leaf + "/memory.max");  // no memory controller in the leaf
  clusterd::config::CgroupLimits limits;
  limits.memory_max = 1 << 20;
  limits.pids_max = 10;
  const std::vector<std::string> problems = clusterd::os::apply_limits(t.root, t.leaf, limits);
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0], Catch::StartsWith("memory_max not applied (the memory controller): "));
  CHECK_THAT(problems[0], Catch::Contains(t.leaf + "/memory.max"));
  CHECK(slurp(t.leaf + "/pids.max") == "10");
  CHECK(clusterd::os::apply_limits(t.root, t.leaf, {}).empty());  // nothing asked, nothing done
}

TEST_CASE("cpu.stat gives the cgroup's usage, user and system time") {
  const auto cpu = clusterd::os::parse_cgroup_cpu(
      "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n");
  REQUIRE(cpu);
  CHECK(cpu->usage_usec == 2500000);
  CHECK(cpu->user_usec == 2000000);
  CHECK(cpu->system_usec == 500000);
  CHECK_FALSE(clusterd::os::parse_cgroup_cpu("user_usec 1\n"));  // no usage: not a cpu.stat
  CHECK_FALSE(clusterd::os::parse_cgroup_cpu(""));
}

// sample_processes reads a worker's tree from its cgroup's files, through the directory fd when
// it has one; cgroup.threads only when the tree holds more than the worker itself.
TEST_CASE("a worker's tree comes from its cgroup's files, by path or by directory fd") {
  FakeTree t;
  const pid_t self = getpid();
  std::ofstream(t.leaf + "/cpu.stat") << "usage_usec 3000000\nuser_usec 1000000\nsystem_usec "
                                         "2000000\n";
  std::ofstream(t.leaf + "/cgroup.procs") << self << "\n";
  std::ofstream(t.leaf + "/cgroup.threads") << "1\n2\n3\n4\n5\n6\n7\n";  // not read: alone
  const int dir = open(t.leaf.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dir >= 0);
  for (const std::vector<int>& dirs : {std::vector<int>{dir}, std::vector<int>{}}) {
    const auto sample = clusterd::os::sample_processes({self}, {t.leaf}, false, true, dirs);
    REQUIRE(sample.workers.size() == 1);
    const auto& facts = sample.workers[0].second;
    CHECK(facts.tree_processes == 1);
    CHECK(facts.tree_threads == facts.threads);
    REQUIRE(facts.tree_cpu);
    CHECK(facts.tree_cpu->system_usec == 2000000);
  }
  // Two members (the test and its parent): the threads are cgroup.threads' lines.
  std::ofstream(t.leaf + "/cgroup.procs") << self << "\n" << getppid() << "\n";
  const auto sample = clusterd::os::sample_processes({self}, {t.leaf}, false, false, {dir});
  CHECK(sample.workers[0].second.tree_processes == 2);
  CHECK(sample.workers[0].second.tree_threads == 7);
  CHECK_FALSE(sample.workers[0].second.tree_cpu);  // cpu.stat is read for detail only
  CHECK(sample.total_processes == 3);              // the master (this process) and both
  close(dir);
}

TEST_CASE("max_memory becomes memory.high, and memory.events says when the tree went over it") {
  FakeTree t;
  std::ofstream(t.leaf + "/memory.high").flush();
  CHECK(clusterd::os::apply_limits(t.root, t.leaf, {}, 64U << 20).empty());
  CHECK(slurp(t.leaf + "/memory.high") == "67108864");
  CHECK(slurp(t.root + "/cgroup.subtree_control") == "+memory");
  fs::remove(t.leaf + "/memory.high");  // no memory controller: said by the key
  const std::vector<std::string> problems = clusterd::os::apply_limits(t.root, t.leaf, {}, 1);
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0], Catch::StartsWith("max_memory not applied (the memory controller): "));

  const auto events = clusterd::os::parse_memory_events(
      "low 0\nhigh 12\nmax 1\noom 0\noom_kill 0\noom_group_kill 0\n");
  REQUIRE(events);
  CHECK(events->high == 12);
  CHECK(events->max == 1);
  CHECK_FALSE(clusterd::os::parse_memory_events("populated 1\n"));
  std::ofstream(t.leaf + "/memory.events") << "low 0\nhigh 3\nmax 0\n";
  std::ofstream(t.leaf + "/memory.current") << "70000000\n";
  const int fd = open((t.leaf + "/memory.events").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK(clusterd::os::read_memory_events(fd)->high == 3);
  std::ofstream(t.leaf + "/memory.events") << "low 0\nhigh 4\nmax 0\n";
  CHECK(clusterd::os::read_memory_events(fd)->high == 4);  // read again from the start
  close(fd);
  CHECK(clusterd::os::read_memory_current(t.leaf) == 70000000U);
}
