// os::FileWatch on a real inotify instance in a temporary directory: what it reports (created,
// written, moved in and out, deleted; in new subdirectories too), what it does not enter (the
// ignored, symbolic links: a link loop is no loop for it), a watched directory deleted and made
// again, and names with a newline or escape bytes. The kernel queues inotify events during the
// system call that causes them, so each read() sees what came before it: no waiting.
#include "supervisor/os/file_watch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "failing_syscall.h"

using namespace clusterd;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/watch.XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void write(const std::string& path, const std::string& text = "x") { std::ofstream(path) << text; }

// Everything queued, read in turns as the loop would (bounded).
std::vector<os::FileWatch::Change> drain(os::FileWatch& w) {
  std::vector<os::FileWatch::Change> all;
  for (int i = 0; i < 100; ++i) {
    std::vector<os::FileWatch::Change> some = w.read();
    if (some.empty()) break;
    all.insert(all.end(), some.begin(), some.end());
  }
  return all;
}

bool saw(const std::vector<os::FileWatch::Change>& changes, const std::string& path) {
  for (const os::FileWatch::Change& c : changes) {
    if (c.path == path) return true;
  }
  return false;
}

bool ignore_modules(std::string_view rel) {
  return rel == "node_modules" || rel.starts_with("node_modules/");
}

}  // namespace

TEST_CASE("file watch: files written, created in new subdirectories, moved, deleted") {
  TempDir t;
  write(t.path + "/a.js");
  os::FileWatch w;
  REQUIRE(w.add_root(t.path, {}));
  CHECK(drain(w).empty());
  write(t.path + "/a.js", "y");
  CHECK(saw(drain(w), "a.js"));
  REQUIRE(mkdir((t.path + "/sub").c_str(), 0755) == 0);
  CHECK(saw(drain(w), "sub"));
  write(t.path + "/sub/b.js");
  CHECK(saw(drain(w), "sub/b.js"));
  // A tree moved in is watched all the way down.
  TempDir outside;
  REQUIRE(mkdir((outside.path + "/deep").c_str(), 0755) == 0);
  REQUIRE(rename(outside.path.c_str(), (t.path + "/moved").c_str()) == 0);
  CHECK(saw(drain(w), "moved"));
  write(t.path + "/moved/deep/c.js");
  CHECK(saw(drain(w), "moved/deep/c.js"));
  // Moved out: its changes are no longer ours.
  TempDir away;
  REQUIRE(rename((t.path + "/moved").c_str(), (away.path + "/m").c_str()) == 0);
  CHECK(saw(drain(w), "moved"));
  write(away.path + "/m/deep/d.js");
  CHECK(drain(w).empty());
  REQUIRE(unlink((t.path + "/a.js").c_str()) == 0);
  CHECK(saw(drain(w), "a.js"));
}

TEST_CASE("file watch: ignored paths are neither reported nor entered") {
  TempDir t;
  REQUIRE(mkdir((t.path + "/node_modules").c_str(), 0755) == 0);
  REQUIRE(mkdir((t.path + "/node_modules/pkg").c_str(), 0755) == 0);
  os::FileWatch w;
  REQUIRE(w.add_root(t.path, ignore_modules));
  const std::size_t watches = w.watches();
  CHECK(watches == 2);  // the root and its parent
  write(t.path + "/node_modules/pkg/index.js");
  write(t.path + "/node_modules/x.js");
  CHECK(drain(w).empty());
  write(t.path + "/app.js");
  CHECK(saw(drain(w), "app.js"));
}

TEST_CASE("file watch: a symbolic link loop under a root is not followed") {
  TempDir t;
  REQUIRE(mkdir((t.path + "/a").c_str(), 0755) == 0);
  REQUIRE(symlink("..", (t.path + "/a/up").c_str()) == 0);
  REQUIRE(symlink(t.path.c_str(), (t.path + "/self").c_str()) == 0);
  os::FileWatch w;
  REQUIRE(w.add_root(t.path, {}));
  CHECK(w.watches() == 3);  // the root, a, the parent: no link entered
  write(t.path + "/a/f");
  CHECK(saw(drain(w), "a/f"));
  // A link to a directory made later is a change, and not entered either.
  REQUIRE(symlink(t.path.c_str(), (t.path + "/a/again").c_str()) == 0);
  CHECK(saw(drain(w), "a/again"));
  CHECK(w.watches() == 3);
}

TEST_CASE("file watch: a watched directory deleted and made again is watched again") {
  TempDir t;
  const std::string root = t.path + "/app";
  REQUIRE(mkdir(root.c_str(), 0755) == 0);
  REQUIRE(mkdir((root + "/lib").c_str(), 0755) == 0);
  os::FileWatch w;
  REQUIRE(w.add_root(root, {}));
  std::filesystem::remove_all(root);
  CHECK(saw(drain(w), ""));  // the root itself went
  write(t.path + "/elsewhere.js");
  CHECK(drain(w).empty());  // the parent is watched for the root's name only
  REQUIRE(mkdir(root.c_str(), 0755) == 0);
  CHECK(saw(drain(w), ""));
  REQUIRE(mkdir((root + "/lib").c_str(), 0755) == 0);
  CHECK(saw(drain(w), "lib"));
  write(root + "/lib/x.js");
  CHECK(saw(drain(w), "lib/x.js"));
}

TEST_CASE("file watch: a file root, replaced by a rename as editors save") {
  TempDir t;
  const std::string file = t.path + "/app.js";
  write(file);
  os::FileWatch w;
  REQUIRE(w.add_root(file, {}));
  write(file, "2");
  CHECK(saw(drain(w), ""));
  write(t.path + "/.app.js.swp");
  REQUIRE(rename((t.path + "/.app.js.swp").c_str(), file.c_str()) == 0);
  CHECK(saw(drain(w), ""));
  write(file, "3");  // the new file is the one watched now
  CHECK(saw(drain(w), ""));
}

TEST_CASE("file watch: names with a newline and escape bytes come back as they are") {
  TempDir t;
  os::FileWatch w;
  REQUIRE(w.add_root(t.path, {}));
  const std::string name = "evil\nname\x1b[31m.js";
  write(t.path + "/" + name);
  CHECK(saw(drain(w), name));
}

TEST_CASE("file watch: a root that does not exist is waited for through its parent") {
  TempDir t;
  os::FileWatch w;
  CHECK(w.add_root(t.path + "/later", {}));  // only its parent, for now
  REQUIRE(mkdir((t.path + "/later").c_str(), 0755) == 0);
  CHECK(saw(drain(w), ""));
  write(t.path + "/later/x");
  CHECK(saw(drain(w), "x"));
  os::FileWatch none;
  CHECK_FALSE(none.add_root("/nonexistent-dir-for-watch/a/b", {}));
  CHECK_FALSE(none.take_troubles().empty());
}

// At fs.inotify.max_user_watches, inotify_add_watch fails with ENOSPC for every directory: the
// walk stops at the first (not one failure per directory of a big tree), nothing throws, and
// the failure is there to be said (the loop says it once, with the limit).
TEST_CASE("file watch: the inotify watch limit reached stops the walk, nothing throws") {
  static std::string root;
  TempDir t;
  root = t.path;
  for (int i = 0; i < 50; ++i)
    REQUIRE(mkdir((t.path + "/d" + std::to_string(i)).c_str(), 0755) == 0);
  const int rc = test::with_syscall_failing(
      SYS_inotify_add_watch,
      [] {
        try {
          os::FileWatch w;
          if (w.add_root(root, {})) return 1;
          const std::vector<os::FileWatch::Trouble> troubles = w.take_troubles();
          if (troubles.empty() || troubles.size() > 2) return 2;  // the root and its parent
          for (const os::FileWatch::Trouble& trouble : troubles) {
            if (trouble.error != ENOSPC) return 3;
          }
          if (!w.read().empty() || w.watches() != 0) return 4;
          return 0;
        } catch (...) {
          return 5;
        }
      },
      ENOSPC);
  CHECK(rc == 0);  // 100: no seccomp filter could be installed
}

// At fs.inotify.max_user_instances, no inotify instance: an error the loop says, not a crash.
TEST_CASE("file watch: no inotify instance is an error, said") {
  const int rc = test::with_syscall_failing(
      SYS_inotify_init1,
      [] {
        try {
          os::FileWatch w;
          return 1;
        } catch (const std::system_error& e) {
          return e.code().value() == EMFILE ? 0 : 2;
        }
      },
      EMFILE);
  CHECK(rc == 0);  // 100: no seccomp filter could be installed
}

TEST_CASE("file watch: a flood of overflows walks the tree at most once per gap, the rest owed") {
  std::ifstream limit_file("/proc/sys/fs/inotify/max_queued_events");
  long limit = 0;
  if (!(limit_file >> limit) || limit <= 0 || limit > 1000000) {
    WARN("fs.inotify.max_queued_events unreadable or huge: not checked");
    return;
  }
  TempDir t;
  os::FileWatch w(std::chrono::hours(1));  // the second flood comes within it, however slow
  REQUIRE(w.add_root(t.path, {}));
  // A file made and removed: two events that do not merge, until the queue overflows.
  const auto flood = [&] {
    for (long i = 0; i < limit / 2 + 64; ++i) {
      const std::string f = t.path + "/f" + std::to_string(i % 8);
      write(f);
      std::remove(f.c_str());
    }
  };
  flood();
  std::vector<os::FileWatch::Change> first = drain(w);
  CHECK(saw(first, ""));  // the overflow: a change of the root
  CHECK(w.walks() == 1);
  CHECK_FALSE(w.walk_owed());
  // At once again: reported, but the walk waits for the gap.
  flood();
  std::vector<os::FileWatch::Change> second = drain(w);
  CHECK(saw(second, ""));
  CHECK(w.walks() == 1);
  CHECK(w.walk_owed());
  CHECK(w.next_walk() > std::chrono::steady_clock::now());
  // The owed walk, when the caller runs it, watches what came meanwhile.
  std::filesystem::create_directory(t.path + "/late");
  drain(w);
  w.walk_all();
  CHECK(w.walks() == 2);
  CHECK_FALSE(w.walk_owed());
  write(t.path + "/late/x.js");
  CHECK(saw(drain(w), "late/x.js"));
}
