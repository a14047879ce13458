#include "supervisor/control/ecosystem.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <vector>

#include "config/pm2_import.h"
#include "text/printable.h"

extern char** environ;

namespace clusterd::control {
namespace {

constexpr std::size_t kMaxText = 1 << 20;  // config::kMaxConfigBytes
constexpr std::size_t kMaxError = 2048;

// Prints the value of the module named by argv[1] (module.exports, or an ES module's default) as
// JSON: what `pm2 start ecosystem.config.js` reads.
constexpr const char* kPrint =
    "const path=require('path'),url=require('url');"
    "import(url.pathToFileURL(path.resolve(process.argv[1])).href).then(m=>{"
    "const v=m.default!==undefined?m.default:m;"
    "process.stdout.write(JSON.stringify(v===undefined?null:v))},"
    "e=>{process.stderr.write(String(e&&e.stack||e));process.exit(1)})";

bool javascript(const std::string& path) {
  for (const char* ext : {".js", ".cjs", ".mjs"}) {
    const std::string e = ext;
    if (path.size() > e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0) {
      return true;
    }
  }
  return false;
}

EcosystemText read_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return {"", "cannot read " + path + ": " + std::strerror(errno)};
  if (!S_ISREG(st.st_mode)) return {"", path + ": not a regular file"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return {"", "cannot read " + path + ": " + std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxText) return {"", path + ": larger than 1 MiB"};
  return {text.str(), ""};
}

// The first lines of node's complaint.
std::string first_lines(std::string text) {
  std::size_t end = 0;
  for (int lines = 0; lines < 4 && end != std::string::npos; ++lines) {
    end = text.find('\n', end == 0 ? 0 : end + 1);
  }
  if (end != std::string::npos) text.resize(end);
  return text;
}

struct Pipes {
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  ~Pipes() {
    for (int fd : {out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) close(fd);
    }
  }
};

// Reads node's stdout and stderr until both close, the output is too long or time is up.
std::string drain(Pipes& p, std::string& out, std::string& err,
                  std::chrono::steady_clock::time_point deadline) {
  pollfd fds[2] = {{p.out[0], POLLIN, 0}, {p.err[0], POLLIN, 0}};
  char buf[65536];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "node took longer than the time allowed";
    const int n = poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("poll: ") + std::strerror(errno);
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        fds[i].fd = -1;
        continue;
      }
      std::string& into = i == 0 ? out : err;
      into.append(buf, static_cast<std::size_t>(got));
      if (i == 0 && out.size() > kMaxText) return "node printed more than 1 MiB";
      if (i == 1 && err.size() > kMaxError) err.resize(kMaxError);
    }
  }
  return {};
}

EcosystemText run_node(const std::string& path, std::chrono::milliseconds timeout) {
  Pipes p;
  if (pipe2(p.out, O_CLOEXEC) != 0 || pipe2(p.err, O_CLOEXEC) != 0) {
    return {"", std::string("pipe: ") + std::strerror(errno)};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, p.out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, p.err[1], 2);
  std::vector<std::string> args = {"node", "-e", kPrint, path};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, "node", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == ENOENT) {
    return {"",
            path +
                " is JavaScript: evaluating it needs node, which is not in PATH; install "
                "nodejs, or write the file's value as JSON (node -p 'JSON.stringify(require(\"./" +
                path.substr(path.rfind('/') + 1) + "\"))' > ecosystem.json) and import that"};
  }
  if (rc != 0) return {"", std::string("cannot run node: ") + std::strerror(rc)};
  close(p.out[1]);
  close(p.err[1]);
  p.out[1] = p.err[1] = -1;
  std::string out;
  std::string err;
  const std::string failed = drain(p, out, err, std::chrono::steady_clock::now() + timeout);
  if (!failed.empty()) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!failed.empty()) return {"", "node " + path + ": " + failed};
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return {"", "node could not evaluate " + path + ": " + first_lines(err)};
  }
  return {out, ""};
}

}  // namespace

EcosystemText read_ecosystem(const std::string& path, std::chrono::milliseconds timeout) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {"", "cannot read " + path + ": " + std::strerror(errno)};
  }
  if (!S_ISREG(st.st_mode)) return {"", path + ": not a regular file"};
  return javascript(path) ? run_node(path, timeout) : read_file(path);
}

int run_import(const std::string& path, std::ostream& out, std::ostream& err) {
  const EcosystemText in = read_ecosystem(path, std::chrono::seconds(30));
  if (!in.error.empty()) {
    err << "clusterctl: import: " << printable(in.error, true) << "\n";
    return 1;
  }
  const std::filesystem::path file = std::filesystem::absolute(path).lexically_normal();
  const config::ImportResult result =
      config::import_pm2(in.text, file.filename().string(), file.parent_path().string());
  unsigned counts[3] = {0, 0, 0};
  for (const config::ImportNote& note : result.notes) {
    ++counts[static_cast<int>(note.kind)];
    err << printable(note.to_string()) << "\n";
  }
  if (!result.errors.empty()) {
    for (const std::string& error : result.errors) {
      err << "clusterctl: import: " << printable(error) << "\n";
    }
    return 1;
  }
  out << result.yaml;
  err << file.filename().string() << ": " << counts[0] << " mapped, " << counts[1]
      << " approximated, " << counts[2] << " not supported; check the config with clusterd "
      << "--check -c FILE\n";
  return 0;
}

}  // namespace clusterd::control
