// os::NotifyDir with a real directory: named after the master's pid (so one left behind by a
// killed master says whose it was), private (0711), removed with the NotifyDir.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "supervisor/os/notify_socket.h"

using namespace clusterd::os;
namespace fs = std::filesystem;

TEST_CASE("a notify directory is named after its master and goes with it") {
  char pattern[] = "/tmp/clusterd-notify-test.XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  const fs::path parent = pattern;
  std::string path;
  {
    const NotifyDir dir(parent.string());
    path = dir.path();
    const std::string prefix = "notify." + std::to_string(getpid()) + ".";
    const std::string name = fs::path(path).filename().string();
    CHECK(name.rfind(prefix, 0) == 0);
    CHECK(name.size() == prefix.size() + 6);
    struct stat st {};
    REQUIRE(lstat(path.c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == 0711);
    const NotifySocket socket = dir.open(geteuid());
    CHECK(fs::is_socket(socket.path));
  }
  CHECK_FALSE(fs::exists(path));
  fs::remove_all(parent);
}
