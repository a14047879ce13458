// `watch:` decided: which changed paths count (the ignore globs), and when changes become a
// rolling restart (debounce, and one restart owed while a rollout rolls). Pure: the daemon's
// Watches carries it out (daemon/watches.h), the host's file watches ask watch_ignored().
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/core/types.h"

namespace clusterd::core {

/// Whether `glob` matches all of `text`: `*` any run of characters but `/`, `**` any run,
/// `/` included, `?` one character but `/`, `[abc]` `[a-z]` `[!abc]` one of (or none of) a set,
/// `\c` the character c itself. Bounded: no backtracking blow-up on hostile globs.
bool glob_match(std::string_view glob, std::string_view text);

/// Whether a change at `path` (relative to the watched root, `/` between its components, empty
/// for the root itself) is ignored by one of `globs`. A glob without `/` is matched against each
/// component of the path: `node_modules` ignores that directory wherever it is and everything
/// under it, `*.log` every file or directory so named. A glob with `/` is matched against the path
/// from the root and each of its leading directories: `build/*` ignores every entry of the
/// root's `build` and everything under them, `**/tmp` every `tmp` directory. A leading `./` and
/// a trailing `/` of a glob are dropped. The root itself is never ignored.
bool watch_ignored(std::string_view path, const std::vector<std::string>& globs);

/// One app's watch: when changes become a restart. Changes closer together than `debounce` are
/// one burst, and a burst is one restart, due once no change has come for `debounce`. A restart
/// due while the app is being rolled out (by anything) waits for the end of that rollout; however
/// many changes come meanwhile, they owe one restart.
class WatchDebounce {
 public:
  explicit WatchDebounce(Duration debounce) : debounce_(debounce) {}

  /// A change at `now`. Returns the time to look again (arm the timer for it) when no look is
  /// pending; nullopt when the timer is already armed (the look re-arms itself, see due()).
  std::optional<TimePoint> changed(TimePoint now);

  enum class Verdict {
    Wait,          // a change came since: look again at `again`
    Restart,       // replace the app's workers through the rollout now
    AfterRollout,  // the app is being rolled out: one restart owed when it is over
    Skip,          // the app is stopped: nothing to replace; the burst is dropped
    Nothing,       // no change pending (a look the host could not cancel)
  };
  struct Look {
    Verdict verdict = Verdict::Nothing;
    TimePoint again{};  // with Wait
  };
  /// The timer fired at `now`. `rolling`: the app has a rollout in progress; `stopped`: it is
  /// stopped on purpose.
  Look due(TimePoint now, bool rolling, bool stopped);

  /// Anything may have ended a rollout: true when the restart owed is due now (`rolling`: the
  /// app still has one). A burst still settling takes the owed restart's place; an app stopped
  /// meanwhile owes nothing.
  bool rollout_over(bool rolling, bool stopped);

  /// Forgets every change (the app is no longer watched).
  void reset();
  void set_debounce(Duration debounce) { debounce_ = debounce; }
  bool armed() const { return quiet_at_.has_value(); }
  bool owed() const { return owed_; }

 private:
  Duration debounce_;
  std::optional<TimePoint> quiet_at_;  // a burst is pending: due when nothing came by then
  bool owed_ = false;
};

}  // namespace clusterd::core
