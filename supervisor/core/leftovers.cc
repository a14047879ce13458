#include "supervisor/core/leftovers.h"

#include <algorithm>

namespace clusterd::core {

namespace {

constexpr std::size_t kNamed = 5;  // holders named in a message; the rest are counted

std::string named(const Occupant& o) {
  return "pid " + std::to_string(o.pid) + " (" + o.command + ")";
}

std::string list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < kNamed; ++i)
    out += (i == 0 ? "" : "; ") + items[i];
  if (items.size() > kNamed) out += "; and " + std::to_string(items.size() - kNamed) + " more";
  return out;
}

}  // namespace

std::optional<std::string> not_a_leftover(const Occupant& o,
                                          const std::optional<PreviousMaster>& previous,
                                          const std::vector<unsigned>& uids) {
  if (!o.instance) {
    return std::string(
        "not started by clusterd (no CLUSTER_INSTANCE in its environment, or it cannot be read)");
  }
  const std::string mark = "CLUSTER_INSTANCE=" + *o.instance;
  if (!previous) {
    return "started by a clusterd (" + mark +
           "), but no previous master of this config is on "
           "record";
  }
  if (*o.instance != previous->instance) {
    return "started by another clusterd (" + mark + "; the previous master of this config was " +
           previous->instance + ")";
  }
  if (!previous->running) {
    return "its clusterd (" + mark + ") cannot be told to be gone (another pid namespace)";
  }
  if (*previous->running) return "its clusterd (" + mark + ") is still running";
  if (std::find(uids.begin(), uids.end(), o.uid) == uids.end() || !o.one_uid) {
    return "runs as uid " + std::to_string(o.uid) + (o.one_uid ? "" : " (among others)") +
           ", not only as clusterd's or the app's user";
  }
  return std::nullopt;
}

AddressInUse judge_address_in_use(const std::vector<Occupant>& holders,
                                  const std::vector<Occupant>& group,
                                  const std::optional<PreviousMaster>& previous,
                                  const std::vector<unsigned>& uids,
                                  const std::optional<std::string>& not_now) {
  AddressInUse out;
  if (holders.empty()) return out;  // nobody found (another uid's, unreadable): nothing to add
  std::vector<std::string> refusals;
  std::vector<std::string> names;
  for (const Occupant& o : holders) {
    names.push_back(named(o));
    if (std::optional<std::string> why = not_a_leftover(o, previous, uids)) {
      refusals.push_back(named(o) + ": " + *why);
    }
  }
  if (!refusals.empty()) {
    out.message = "by " + list(refusals);
    return out;
  }
  if (not_now) {
    out.message = "by " + list(names) +
                  ": left by the previous clusterd (CLUSTER_INSTANCE=" + previous->instance +
                  "), which is gone; " + *not_now;
    return out;
  }
  out.end = true;
  for (const Occupant& o : holders) out.pids.push_back(o.pid);
  std::size_t more = 0;
  for (const Occupant& o : group) {
    if (not_a_leftover(o, previous, uids)) continue;
    out.pids.push_back(o.pid);
    ++more;
  }
  out.message =
      "held by " + list(names) +
      ", left by the previous clusterd (CLUSTER_INSTANCE=" + previous->instance +
      "), which is gone: ending " + (holders.size() == 1 ? "it" : "them") +
      (more == 0 ? "" : " and " + std::to_string(more) + " more of the same process group");
  return out;
}

}  // namespace clusterd::core
