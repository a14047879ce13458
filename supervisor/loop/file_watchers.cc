#include "supervisor/loop/file_watchers.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <system_error>

#include "supervisor/core/watch_rules.h"
#include "supervisor/loop/guard.h"

namespace clusterd::loop {

FileWatchers::~FileWatchers() = default;

unsigned FileWatchers::watch(std::size_t app, const std::vector<std::string>& paths,
                             const std::vector<std::string>& ignore, Changed changed) {
  unwatch(app);
  std::unique_ptr<os::FileWatch> files;
  try {
    files = std::make_unique<os::FileWatch>();
  } catch (const std::system_error& e) {
    spdlog::error("watch: {}: {}: no file is watched for this app{}", paths.front(), e.what(),
                  e.code().value() == EMFILE ? " (fs.inotify.max_user_instances reached?)" : "");
    return 0;
  }
  auto watch = std::make_shared<Watch>(io_, std::move(files));
  watch->changed = std::move(changed);
  unsigned count = 0;
  for (const std::string& path : paths) {
    if (watch->files->add_root(
            path, [ignore](std::string_view rel) { return core::watch_ignored(rel, ignore); })) {
      ++count;
    }
    watch->roots.push_back(path);
  }
  say_troubles(*watch);
  watch->stream.non_blocking(true);
  watches_[app] = watch;
  wait(app, watch);
  return count;
}

// The pending wait holds the watch too: cancelled, its handler runs (with an error) and lets go,
// so the inotify instance closes now, not at its next event (which a quiet tree never has).
void FileWatchers::unwatch(std::size_t app) {
  const auto it = watches_.find(app);
  if (it == watches_.end()) return;
  std::error_code ignored;
  it->second->stream.cancel(ignored);
  it->second->walk.cancel();
  watches_.erase(it);
}

// Each kind of failure once per app: a tree past the inotify limit fails for every directory.
void FileWatchers::say_troubles(Watch& watch) {
  for (const os::FileWatch::Trouble& t : watch.files->take_troubles()) {
    if (!watch.said.insert(t.error).second) continue;
    if (t.error == ENOSPC) {
      spdlog::error(
          "watch: cannot watch {}: the inotify watch limit is reached "
          "(fs.inotify.max_user_watches = {}); changes under it and under directories not yet "
          "watched are not seen (raise it with sysctl, or ignore more)",
          t.path, os::inotify_watch_limit());
    } else {
      spdlog::warn("watch: cannot watch {}: {} (said once per kind of failure)", t.path,
                   std::strerror(t.error));
    }
  }
}

void FileWatchers::wait(std::size_t app, const std::shared_ptr<Watch>& watch) {
  watch->stream.async_wait(
      asio::posix::stream_descriptor::wait_read, [this, app, watch](const std::error_code& ec) {
        if (ec) return;
        const auto it = watches_.find(app);
        if (it == watches_.end() || it->second != watch) return;  // unwatched meanwhile
        std::vector<os::FileWatch::Change> changes;
        guard("reading watched files' changes", [&] { changes = watch->files->read(); });
        say_troubles(*watch);
        walk_later(app, watch);
        if (!changes.empty()) {
          const os::FileWatch::Change& first = changes.front();
          std::string what = first.root < watch->roots.size() ? watch->roots[first.root] : "";
          if (!first.path.empty()) what += "/" + first.path;
          guard("a watched file changed", [&] { watch->changed(what); });
        }
        // The callback may have unwatched (or watched anew): only the same watch waits again.
        const auto again = watches_.find(app);
        if (again != watches_.end() && again->second == watch) wait(app, watch);
      });
}

// An overflow whose walk the FileWatch put off: the walk runs when the gap is over, once.
void FileWatchers::walk_later(std::size_t app, const std::shared_ptr<Watch>& watch) {
  if (!watch->files->walk_owed() || watch->walk_armed) return;
  watch->walk_armed = true;
  watch->walk.expires_at(watch->files->next_walk());
  watch->walk.async_wait([this, app, watch](const std::error_code& ec) {
    watch->walk_armed = false;
    if (ec) return;
    const auto it = watches_.find(app);
    if (it == watches_.end() || it->second != watch) return;  // unwatched meanwhile
    guard("walking a watched tree again", [&] { watch->files->walk_all(); });
    say_troubles(*watch);
  });
}

}  // namespace clusterd::loop
