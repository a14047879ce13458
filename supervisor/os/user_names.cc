// Looking up users and groups for the workers (NSS), and the lookup's answer as text, for a
// lookup done in a child process.
#include <grp.h>
#include <pwd.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/check.h"
#include "supervisor/os/process.h"

namespace clusterd::os {

Ids resolve_ids(const std::string& user, const std::string& group) {
  Ids ids;
  ids.uid = getuid();
  ids.gid = getgid();
  std::vector<char> buffer(16384);
  if (!user.empty()) {
    // Digits are a uid: its passwd entry when it has one, else the id alone (config/check.h).
    const std::optional<std::uint32_t> uid = config::numeric_id(user);
    if (!uid && config::all_digits(user)) {
      throw std::runtime_error(config::id_out_of_range("user", user));
    }
    passwd pw{};
    passwd* found = nullptr;
    const int rc = uid ? getpwuid_r(*uid, &pw, buffer.data(), buffer.size(), &found)
                       : getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found);
    if (found == nullptr && (!uid || !config::lookup_not_found(rc))) {
      throw std::runtime_error(
          "user '" + user + "' " +
          (config::lookup_not_found(rc) ? "does not exist" : std::strerror(rc)));
    }
    if (found == nullptr) {
      // No entry: that uid, a primary group of the same number, no supplementary groups; for the
      // environment, the number as the name, HOME=/ and SHELL=/bin/sh.
      ids.uid = ids.gid = *uid;
      ids.user = user;
      ids.home = "/";
      ids.shell = "/bin/sh";
    } else {
      ids.uid = pw.pw_uid;
      ids.gid = pw.pw_gid;
      ids.user = pw.pw_name;
      ids.home = pw.pw_dir != nullptr && pw.pw_dir[0] != '\0' ? pw.pw_dir : "/";
      ids.shell = pw.pw_shell != nullptr && pw.pw_shell[0] != '\0' ? pw.pw_shell : "/bin/sh";
      int count = 64;
      ids.groups.resize(static_cast<std::size_t>(count));
      if (getgrouplist(ids.user.c_str(), pw.pw_gid, ids.groups.data(), &count) < 0) {
        ids.groups.resize(static_cast<std::size_t>(count));
        getgrouplist(ids.user.c_str(), pw.pw_gid, ids.groups.data(), &count);
      }
      ids.groups.resize(static_cast<std::size_t>(count));
    }
  }
  if (!group.empty()) {
    // Digits are a gid, with or without a group entry.
    const std::optional<std::uint32_t> gid = config::numeric_id(group);
    if (!gid && config::all_digits(group)) {
      throw std::runtime_error(config::id_out_of_range("group", group));
    }
    struct group gr {};
    struct group* found = nullptr;
    const int rc = gid ? 0 : getgrnam_r(group.c_str(), &gr, buffer.data(), buffer.size(), &found);
    if (!gid && found == nullptr) {
      throw std::runtime_error("group '" + group + "' " +
                               (rc != 0 ? std::strerror(rc) : "does not exist"));
    }
    ids.gid = gid ? *gid : gr.gr_gid;
    if (user.empty()) ids.groups = {ids.gid};
  }
  return ids;
}

ResolvedNames lookup_names(const NameQueries& queries) {
  ResolvedNames out;
  for (const std::string& user : queries.users) {
    try {
      out.users[user] = resolve_ids(user, "");
    } catch (const std::exception& e) {
      out.failed["user " + user] = e.what();
    }
  }
  for (const std::string& group : queries.groups) {
    try {
      out.groups[group] = resolve_ids("", group).gid;
    } catch (const std::exception& e) {
      out.failed["group " + group] = e.what();
    }
  }
  return out;
}

void decode_line(const std::vector<std::string>& fields, ResolvedNames& out);

// One line per answer, tab-separated: U name uid gid user home shell g1,g2 / G name gid /
// F what why. Names with tabs or newlines do not exist (useradd refuses them).
std::string encode_names(const ResolvedNames& names) {
  std::string out;
  for (const auto& [name, ids] : names.users) {
    out += "U\t" + name + "\t" + std::to_string(ids.uid) + "\t" + std::to_string(ids.gid) + "\t" +
           ids.user + "\t" + ids.home + "\t" + ids.shell + "\t";
    for (std::size_t i = 0; i < ids.groups.size(); ++i) {
      out += (i ? "," : "") + std::to_string(ids.groups[i]);
    }
    out += "\n";
  }
  for (const auto& [name, gid] : names.groups) {
    out += "G\t" + name + "\t" + std::to_string(gid) + "\n";
  }
  for (const auto& [what, why] : names.failed) out += "F\t" + what + "\t" + why + "\n";
  return out;
}

ResolvedNames decode_names(const std::string& text) {
  ResolvedNames out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::vector<std::string> f;
    for (std::size_t at = start; at <= end;) {
      const std::size_t tab = std::min(text.find('\t', at), end);
      f.push_back(text.substr(at, tab - at));
      at = tab + 1;
    }
    start = end + 1;
    try {
      decode_line(f, out);
    } catch (const std::exception&) {  // a malformed line: its name stays unanswered
    }
  }
  return out;
}

void decode_line(const std::vector<std::string>& f, ResolvedNames& out) {
  {
    if (f[0] == "U" && f.size() == 8) {
      Ids ids;
      ids.uid = static_cast<uid_t>(std::stoul(f[2]));
      ids.gid = static_cast<gid_t>(std::stoul(f[3]));
      ids.user = f[4];
      ids.home = f[5];
      ids.shell = f[6];
      for (std::size_t at = 0; at < f[7].size();) {
        const std::size_t comma = std::min(f[7].find(',', at), f[7].size());
        ids.groups.push_back(static_cast<gid_t>(std::stoul(f[7].substr(at, comma - at))));
        at = comma + 1;
      }
      out.users[f[1]] = std::move(ids);
    } else if (f[0] == "G" && f.size() == 3) {
      out.groups[f[1]] = static_cast<gid_t>(std::stoul(f[2]));
    } else if (f[0] == "F" && f.size() == 3) {
      out.failed[f[1]] = f[2];
    }
  }
}

}  // namespace clusterd::os
