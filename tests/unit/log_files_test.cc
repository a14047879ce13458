// os::LogFiles and the opening of log files (log_open.h) on the real kernel, in a temporary
// directory: what a worker that may write to the log directory can put in the way (a FIFO, a
// symbolic link, a hard link), rotation through the directory the file was opened in, a removed
// file, and a file whose write does not return (held by a hook, as a hung disk would).
#include "supervisor/os/log_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "supervisor/os/log_open.h"

using namespace clusterd::os;
namespace fs = std::filesystem;

namespace {

class Scratch {
 public:
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "logfiles-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
  }
  ~Scratch() { fs::remove_all(dir); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::string dir;
};

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string all(const std::deque<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

// Why opening `path` as a log file is refused; "" when it is not.
std::string refusal(const std::string& path, bool openat2) {
  try {
    const LogPath where = split_log_path(path);
    const UniqueFd dir = open_log_dir(where.dir);
    open_log_file(dir.get(), where.name, path, openat2);
    return {};
  } catch (const LogRefused& e) {
    return e.what();
  }
}

// Holds a file's thread in its write, as a disk that does not answer would, until released.
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool open = false;
  bool held = false;
  void release() {
    std::lock_guard lock(mutex);
    open = true;
    cv.notify_all();
  }
};

bool wait_until(const std::function<bool()>& done) {
  for (int i = 0; i < 1000; ++i) {  // 10 s at most
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

TEST_CASE("log files: lines are appended to a regular file, created 0640") {
  Scratch s;
  const std::string path = s.dir + "/app.log";
  LogFiles files;
  REQUIRE(files.write(path, 0, 0, "one\n"));
  REQUIRE(files.write(path, 0, 0, "two\n"));
  files.flush();
  CHECK(read(path) == "one\ntwo\n");
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0137) == 0);
  CHECK(files.take_errors().empty());
  CHECK(files.take_lost().empty());
}

TEST_CASE("log files: a FIFO is refused without blocking, said once, its lines counted lost") {
  const bool openat2 = GENERATE(true, false);
  Scratch s;
  const std::string path = s.dir + "/app.log";
  REQUIRE(mkfifo(path.c_str(), 0666) == 0);
  LogFiles::Options options;
  options.openat2 = openat2;
  LogFiles files(options);
  // No reader: an open without O_NONBLOCK would wait for one.
  REQUIRE(files.write(path, 0, 0, "one\n"));
  REQUIRE(files.write(path, 0, 0, "two\n"));
  files.flush();
  // A reader that never reads: the open succeeds, a write would block once the pipe is full.
  const UniqueFd reader(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  REQUIRE(reader);
  REQUIRE(files.write(path, 0, 0, std::string(100000, 'x') + "\n"));
  files.flush();
  const std::deque<std::string> errors = files.take_errors();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == path + " is a FIFO: only a regular file is written");
  CHECK(files.take_lost() == std::map<std::string, std::uint64_t>{{path, 8 + 100001}});
  char byte = 0;
  CHECK(::read(reader.get(), &byte, 1) <= 0);  // nothing entered the pipe
  struct stat st {};
  REQUIRE(lstat(path.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));  // left as it is
}

TEST_CASE("log files: a symbolic link is followed only where no one else could have made it") {
  const bool openat2 = GENERATE(true, false);
  Scratch s;
  fs::create_directories(s.dir + "/real");
  fs::create_directories(s.dir + "/open");
  REQUIRE(chmod((s.dir + "/open").c_str(), 0777) == 0);
  fs::create_directory_symlink(s.dir + "/real", s.dir + "/open/link");
  fs::create_directory_symlink(s.dir + "/real", s.dir + "/ours");
  fs::create_directory_symlink("../real", s.dir + "/open/relative");
  CHECK(refusal(s.dir + "/ours/app.log", openat2).empty());
  CHECK(fs::exists(s.dir + "/real/app.log"));
  CHECK(refusal(s.dir + "/open/link/app.log", openat2) ==
        s.dir + "/open/link is a symbolic link and its directory is writable by other users " +
            "(mode 0777)");
  CHECK(refusal(s.dir + "/open/relative/x.log", openat2).find("is a symbolic link") !=
        std::string::npos);
  // Sticky, as /tmp: a link of ours (root's) is followed.
  REQUIRE(chmod((s.dir + "/open").c_str(), 01777) == 0);
  CHECK(refusal(s.dir + "/open/link/app.log", openat2).empty());
  // The file itself a link, even where only we write: refused.
  fs::create_symlink(s.dir + "/real/app.log", s.dir + "/real/other.log");
  CHECK(refusal(s.dir + "/real/other.log", openat2) ==
        s.dir + "/real/other.log is a symbolic link: only a regular file is written");
  CHECK(refusal(s.dir + "/real/app.log/x.log", openat2) ==
        s.dir + "/real/app.log is not a directory");
}

TEST_CASE("log files: a link in a directory of another user is not followed") {
  if (geteuid() != 0) return;  // needs root to give a directory to another user
  Scratch s;
  fs::create_directories(s.dir + "/real");
  fs::create_directories(s.dir + "/theirs");
  REQUIRE(chown((s.dir + "/theirs").c_str(), 65534, 65534) == 0);
  REQUIRE(chmod((s.dir + "/theirs").c_str(), 0755) == 0);
  fs::create_directory_symlink(s.dir + "/real", s.dir + "/theirs/link");
  CHECK(refusal(s.dir + "/theirs/link/app.log", true) ==
        s.dir + "/theirs/link is a symbolic link and its directory belongs to uid 65534");
  CHECK_FALSE(fs::exists(s.dir + "/real/app.log"));
  // A real directory in it is fine: the walk holds each directory it went through.
  fs::create_directories(s.dir + "/theirs/sub");
  CHECK(refusal(s.dir + "/theirs/sub/app.log", true).empty());
}

TEST_CASE("log files: a hard link to another file is refused") {
  const bool openat2 = GENERATE(true, false);
  Scratch s;
  std::ofstream(s.dir + "/secret") << "secret\n";
  REQUIRE(link((s.dir + "/secret").c_str(), (s.dir + "/app.log").c_str()) == 0);
  CHECK(refusal(s.dir + "/app.log", openat2) ==
        s.dir + "/app.log has 2 names (a hard link to another file): not written");
  CHECK(read(s.dir + "/secret") == "secret\n");
}

TEST_CASE("log files: a path that names no file is refused") {
  CHECK_THROWS_AS(split_log_path("/var/log/"), LogRefused);
  CHECK_THROWS_AS(split_log_path("/var/log/.."), LogRefused);
  CHECK(split_log_path("app.log").dir == ".");
  CHECK(split_log_path("/app.log").dir == "/");
}

TEST_CASE("log files: rotation renames in the directory the file was opened in") {
  Scratch s;
  fs::create_directories(s.dir + "/logs");
  const std::string path = s.dir + "/logs/app.log";
  LogFiles files;
  for (const char* lines : {"aaaaaaa\n", "bbbbbbb\n", "ccccccc\n"}) {
    REQUIRE(files.write(path, 10, 2, lines));
    files.flush();
  }
  CHECK(read(path) == "ccccccc\n");
  CHECK(read(path + ".1") == "bbbbbbb\n");
  CHECK(read(path + ".2") == "aaaaaaa\n");
  // The directory moves (and something else takes its name): the open file and its rotations
  // stay in the directory it was opened in, until a reopen.
  fs::rename(s.dir + "/logs", s.dir + "/moved");
  fs::create_directories(s.dir + "/logs");
  REQUIRE(files.write(path, 10, 2, "ddddddd\n"));
  files.flush();
  CHECK(read(s.dir + "/moved/app.log") == "ddddddd\n");
  CHECK(read(s.dir + "/moved/app.log.1") == "ccccccc\n");
  CHECK(fs::is_empty(s.dir + "/logs"));
  files.reopen();
  REQUIRE(files.write(path, 10, 2, "eeeeeee\n"));
  files.flush();
  CHECK(read(path) == "eeeeeee\n");
  CHECK(files.take_errors().empty());
}

TEST_CASE("log files: a removed file is created again at the next line") {
  Scratch s;
  const std::string path = s.dir + "/app.log";
  LogFiles files;
  REQUIRE(files.write(path, 0, 0, "one\n"));
  files.flush();
  REQUIRE(unlink(path.c_str()) == 0);
  REQUIRE(files.write(path, 0, 0, "two\n"));
  files.flush();
  CHECK(read(path) == "two\n");
}

TEST_CASE("log files: a file whose write does not return stalls no other, nor the stop") {
  Scratch s;
  const std::string stuck = s.dir + "/stuck.log";
  const std::string other = s.dir + "/other.log";
  const auto gate = std::make_shared<Gate>();
  LogFiles::Options options;
  options.max_queued_bytes = 100;
  options.give_up_after = std::chrono::milliseconds(200);
  options.before_write = [gate, stuck](const std::string& path) {
    if (path != stuck) return;
    std::unique_lock lock(gate->mutex);
    gate->held = true;
    gate->cv.notify_all();
    gate->cv.wait(lock, [&] { return gate->open; });
  };
  {
    LogFiles files(options);
    REQUIRE(files.write(stuck, 0, 0, std::string(39, 's') + "\n"));
    {
      std::unique_lock lock(gate->mutex);
      REQUIRE(gate->cv.wait_for(lock, std::chrono::seconds(10), [&] { return gate->held; }));
    }
    REQUIRE(files.write(stuck, 0, 0, std::string(39, 't') + "\n"));
    CHECK_FALSE(files.write(stuck, 0, 0, std::string(39, 'u') + "\n"));  // over its bound
    for (int i = 0; i < 10; ++i) REQUIRE(files.write(other, 0, 0, "other\n"));
    CHECK(wait_until([&] { return read(other).size() == 10 * 6; }));
    files.stop();
    CHECK_FALSE(files.write(other, 0, 0, "after\n"));
    CHECK(all(files.take_errors()) ==
          "writing " + stuck +
              ": a write, open or close has not returned for 200 ms: 80 bytes left unwritten "
              "at exit\n");
    CHECK(files.take_lost() == std::map<std::string, std::uint64_t>{{stuck, 80}});
  }
  gate->release();  // the thread left behind ends on its own
}

TEST_CASE("log files: news is told once until taken") {
  Scratch s;
  const std::string path = s.dir + "/app.log";
  REQUIRE(mkfifo(path.c_str(), 0666) == 0);
  LogFiles files;
  std::atomic<int> told = 0;
  files.on_news([&] { ++told; });
  REQUIRE(files.write(path, 0, 0, "one\n"));
  files.flush();
  REQUIRE(files.write(path, 0, 0, "two\n"));
  files.flush();
  CHECK(told == 1);
  files.take_errors();
  files.take_lost();
  REQUIRE(files.write(path, 0, 0, "three\n"));
  files.flush();
  CHECK(told == 2);
}

TEST_CASE("a truncate empties the file after what was queued before it, and later lines follow") {
  Scratch scratch;
  const std::string path = scratch.dir + "/app.log";
  {
    std::ofstream old(path);
    old << "from an earlier run\n";
  }
  LogFiles files;
  REQUIRE(files.write(path, 0, 0, "one\n"));
  REQUIRE(files.truncate(path));
  REQUIRE(files.write(path, 0, 0, "two\n"));
  files.flush();
  CHECK(read(path) == "two\n");
  REQUIRE(files.truncate(scratch.dir + "/never-written.log"));  // opened, as a write would
  files.flush();
  CHECK(fs::exists(scratch.dir + "/never-written.log"));
  CHECK(fs::file_size(scratch.dir + "/never-written.log") == 0);
}
