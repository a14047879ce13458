#include "supervisor/os/system.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include "supervisor/os/unique_fd.h"

extern char** environ;

namespace clusterd::os {

unsigned long nofile_hard_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return static_cast<unsigned long>(limit.rlim_max);
}

bool sysctl_enabled(const char* path) {
  const UniqueFd fd(open((std::string("/proc/sys/") + path).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  char c = 0;
  return read(fd.get(), &c, 1) == 1 && c == '1';
}

std::optional<long> sysctl_number(const char* path) {
  const UniqueFd fd(open((std::string("/proc/sys/") + path).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  char text[32] = {};
  const ssize_t n = read(fd.get(), text, sizeof text - 1);
  if (n <= 0) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (errno != 0 || end == text) return std::nullopt;
  return value;
}

std::string sysctl_enable(const char* path) {
  const UniqueFd fd(open((std::string("/proc/sys/") + path).c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || write(fd.get(), "1\n", 2) != 2) return std::strerror(errno);
  return {};
}

std::vector<std::string> environment() {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == static_cast<unsigned long long>(st.st_dev) &&
         ino == static_cast<unsigned long long>(st.st_ino);
}

void make_private_dir(const std::string& path, unsigned uid, unsigned gid) {
  if (mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
    throw std::system_error(errno, std::system_category(), "mkdir " + path);
  }
  const UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) throw std::system_error(errno, std::system_category(), "open " + path);
  if (fchown(fd.get(), uid, gid) != 0 || fchmod(fd.get(), 0750) != 0) {
    throw std::system_error(errno, std::system_category(), "chown " + path);
  }
}

void trim_memory() { malloc_trim(0); }

void fix_mmap_threshold() { mallopt(M_MMAP_THRESHOLD, 128 * 1024); }

}  // namespace clusterd::os
