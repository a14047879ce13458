// Where per-worker cgroups go, decided from what the machine says (docs/cgroups.md). The OS layer
// reads the facts (the cgroup v2 mount, the master's own cgroup and whether it may write there),
// this decides, and the loop carries it out: prepares the tree, and when that fails, asks again
// with the failure among the facts. A table test walks every rule
// (tests/unit/cgroup_choice_test.cc).
#pragma once

#include <string>

namespace clusterd::core {

struct CgroupFacts {
  std::string setting;  // the config's `cgroups:`: "auto", "off" or an absolute parent path
  std::string mount;    // where the cgroup v2 hierarchy is mounted; empty: nowhere
  std::string own;      // the master's own cgroup, "/system.slice/clusterd.service" ("/": the root)
  bool own_writable = false;   // the master may create directories in its own cgroup
  bool delegated = false;      // systemd delegated it (the trusted.delegate / user.delegate xattr)
  bool own_namespace = false;  // the master runs in a cgroup namespace of its own (a container)
  std::string unusable;        // the chosen tree could not be prepared: why ("" before trying)
};

struct CgroupChoice {
  enum class Kind {
    PerWorker,  // a cgroup per worker under `root`/workers
    Without,    // no per-worker cgroups (`auto` or `off`): `reason` says why, for status
    Refuse,     // the config names a parent that cannot be used: nothing starts
  };
  Kind kind = Kind::Without;
  std::string root;    // PerWorker: the tree's directory
  bool own = false;    // PerWorker: root is the master's own cgroup (it moves into root/master)
  std::string reason;  // PerWorker: why it may; otherwise: why not
  /// The line for the log and status ("per-worker cgroups under ROOT/workers (REASON)", "no
  /// per-worker cgroups: REASON", "cgroups: PATH cannot be used: REASON").
  std::string text(const std::string& setting) const;
};

/// Auto takes the master's own cgroup when systemd delegated it or when it is the root of a
/// cgroup namespace of its own; never the host's root cgroup otherwise. A named parent must lie
/// under the v2 mount, or nothing starts: a config that asks for cgroups and silently runs
/// without them would hide escapees. `auto` and `off` fall back to no cgroups, with the reason.
CgroupChoice choose_cgroups(const CgroupFacts& facts);

}  // namespace clusterd::core
