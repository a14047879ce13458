// Users and groups written as numbers: config::numeric_id(), what os::resolve_ids() and
// os::lookup_names() make of them against this machine's user database (as the daemon does at
// start, and in a child process at a reload), and the credentials daemon::ids_for() gives a worker.
#include "supervisor/daemon/names.h"

#include <grp.h>
#include <pwd.h>

#include <catch2/catch.hpp>
#include <string>

#include "config/check.h"
#include "supervisor/os/process.h"

namespace cfg = clusterd::config;
namespace os = clusterd::os;

namespace {

// A uid (and gid) that has no passwd (and no group) entry on this machine.
unsigned unused_id() {
  for (unsigned id = 54321;; ++id) {
    if (getpwuid(id) == nullptr && getgrgid(id) == nullptr) return id;
  }
}

cfg::AppSpec app_as(const std::string& user, const std::string& group) {
  cfg::AppSpec spec;
  spec.name = "web";
  spec.user = user;
  spec.group = group;
  return spec;
}

}  // namespace

TEST_CASE("numeric_id: digits within uid_t are an id, anything else a name", "[names]") {
  CHECK(cfg::numeric_id("0") == 0u);
  CHECK(cfg::numeric_id("1001") == 1001u);
  CHECK(cfg::numeric_id("001001") == 1001u);
  CHECK(cfg::numeric_id("4294967294") == 4294967294u);
  CHECK_FALSE(cfg::numeric_id("4294967295"));  // (uid_t)-1: "unchanged" to setresuid
  CHECK_FALSE(cfg::numeric_id("99999999999999999999999"));
  CHECK(cfg::all_digits("4294967295"));  // out of range, but not a name either
  CHECK_FALSE(cfg::numeric_id("www"));
  CHECK_FALSE(cfg::numeric_id("12a"));
  CHECK_FALSE(cfg::numeric_id("-1"));
  CHECK_FALSE(cfg::numeric_id("+1"));
  CHECK_FALSE(cfg::numeric_id(" 1"));
  CHECK_FALSE(cfg::numeric_id(""));
  CHECK_FALSE(cfg::all_digits(""));
}

TEST_CASE("resolve_ids takes a uid with a passwd entry as that user", "[names]") {
  const passwd* root = getpwuid(0);
  REQUIRE(root != nullptr);
  const std::string name = root->pw_name;
  const std::string home = root->pw_dir;
  const os::Ids by_number = os::resolve_ids("0", "");
  const os::Ids by_name = os::resolve_ids(name, "");
  CHECK(by_number.uid == 0);
  CHECK(by_number.gid == by_name.gid);
  CHECK(by_number.groups == by_name.groups);
  CHECK(by_number.user == name);
  CHECK(by_number.home == home);
  CHECK(by_number.shell == by_name.shell);
}

TEST_CASE("resolve_ids takes a uid without a passwd entry as the id alone", "[names]") {
  const unsigned id = unused_id();
  const std::string digits = std::to_string(id);
  const os::Ids ids = os::resolve_ids(digits, "");
  CHECK(ids.uid == id);
  CHECK(ids.gid == id);  // the same number as its primary group
  CHECK(ids.groups.empty());
  CHECK(ids.user == digits);
  CHECK(ids.home == "/");
  CHECK(ids.shell == "/bin/sh");
  // `group:` replaces the primary group, with or without a group entry.
  CHECK(os::resolve_ids(digits, "0").gid == 0);
  CHECK(os::resolve_ids(digits, "0").groups.empty());
  const os::Ids group_only = os::resolve_ids("", digits);
  CHECK(group_only.gid == id);
  CHECK(group_only.groups == std::vector<gid_t>{id});
}

TEST_CASE("resolve_ids refuses digits beyond uid_t, and names that do not exist", "[names]") {
  CHECK_THROWS_WITH(os::resolve_ids("4294967295", ""),
                    "user id 4294967295 is out of range (at most 4294967294)");
  CHECK_THROWS_WITH(os::resolve_ids("", "99999999999"),
                    "group id 99999999999 is out of range (at most 4294967294)");
  CHECK_THROWS_WITH(os::resolve_ids("no-such-user-xyz", ""),
                    "user 'no-such-user-xyz' does not exist");
}

TEST_CASE("lookup_names answers numeric names, also through a child's text", "[names]") {
  const unsigned id = unused_id();
  const std::string digits = std::to_string(id);
  os::NameQueries queries;
  queries.users = {digits, "0", "4294967295"};
  queries.groups = {digits};
  // At a reload the lookup runs in a child process, which hands its answers back as text.
  const os::ResolvedNames names = os::decode_names(os::encode_names(os::lookup_names(queries)));
  REQUIRE(names.users.count(digits) == 1);
  const os::Ids& ids = names.users.at(digits);
  CHECK(ids.uid == id);
  CHECK(ids.gid == id);
  CHECK(ids.groups.empty());
  CHECK(ids.user == digits);
  CHECK(ids.home == "/");
  CHECK(names.users.at("0").uid == 0);
  CHECK(names.groups.at(digits) == id);
  CHECK(names.failed ==
        std::map<std::string, std::string>{
            {"user 4294967295", "user id 4294967295 is out of range (at most 4294967294)"}});
}

TEST_CASE("a worker with a numeric user: that uid, its gid or group:'s, no other groups",
          "[names]") {
  const unsigned id = unused_id();
  const std::string digits = std::to_string(id);
  os::NameQueries queries;
  queries.users = {digits};
  queries.groups = {"0"};
  const os::ResolvedNames names = os::lookup_names(queries);
  const std::optional<os::Ids> alone = clusterd::daemon::ids_for(app_as(digits, ""), names, 4242);
  REQUIRE(alone);
  CHECK(alone->uid == id);
  CHECK(alone->gid == id);
  CHECK(alone->groups.empty());
  CHECK(alone->home == "/");
  const std::optional<os::Ids> with_group =
      clusterd::daemon::ids_for(app_as(digits, "0"), names, 4242);
  REQUIRE(with_group);
  CHECK(with_group->uid == id);
  CHECK(with_group->gid == 0);
  CHECK(with_group->groups.empty());
  cfg::Config config;
  config.apps = {app_as(digits, "0")};
  CHECK(clusterd::daemon::name_errors(config, names).empty());
}
