#include "systemd/libsystemd.h"

#include <dlfcn.h>

#include <cstdio>

namespace clusterd::sd {

namespace {

template <typename F>
bool resolve(void* handle, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(handle, name));
  return out != nullptr;
}

Libsystemd load() {
  Libsystemd lib;
  void* handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    std::fprintf(stderr, "clusterd: cannot load libsystemd.so.0 to talk to systemd: %s\n",
                 dlerror());
    return lib;
  }
  // The handle stays open for the life of the process.
  if (!resolve(handle, "sd_notify", lib.notify) ||
      !resolve(handle, "sd_pid_notify_with_fds", lib.pid_notify_with_fds) ||
      !resolve(handle, "sd_watchdog_enabled", lib.watchdog_enabled) ||
      !resolve(handle, "sd_listen_fds_with_names", lib.listen_fds_with_names)) {
    std::fprintf(stderr, "clusterd: libsystemd.so.0 lacks a function it needs: %s\n", dlerror());
    return {};
  }
  return lib;
}

}  // namespace

const Libsystemd* libsystemd() {
  static const Libsystemd lib = load();  // thread-safe, once
  return lib.notify != nullptr ? &lib : nullptr;
}

}  // namespace clusterd::sd
