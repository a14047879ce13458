// The control side's pure parts: roles, the command table and its documentation, and the escaping
// of text a worker controls before it reaches a log or a terminal.
#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "supervisor/control/access.h"
#include "supervisor/control/commands.h"
#include "text/printable.h"

using namespace clusterd::control;
using clusterd::printable;

TEST_CASE("roles: root and the daemon's uid are admin; the lists grant read or admin") {
  AccessList access;
  access.read_users = {1000};
  access.admin_groups = {50};
  access.read_groups = {60};
  CHECK(role_of(Peer{1, 0, 0, {}}, access, 0) == Role::Admin);
  CHECK(role_of(Peer{1, 990, 990, {}}, access, 990) == Role::Admin);  // the daemon's own uid
  CHECK(role_of(Peer{1, 1000, 1000, {}}, access, 0) == Role::Read);
  CHECK(role_of(Peer{1, 1001, 50, {}}, access, 0) == Role::Admin);        // primary group
  CHECK(role_of(Peer{1, 1002, 1002, {7, 60}}, access, 0) == Role::Read);  // supplementary
  CHECK_FALSE(role_of(Peer{1, 1003, 1003, {7}}, access, 0));
}

TEST_CASE("the command table: reads need read, changes need admin, names are unique") {
  std::set<std::string> names;
  for (const CommandSpec& spec : kCommands) {
    CHECK(names.insert(spec.name).second);
    CHECK(find_command(spec.name) == &spec);
    CHECK(&spec_of(spec.command) == &spec);
  }
  CHECK(spec_of(Command::Status).role == Role::Read);
  CHECK(spec_of(Command::Reload).role == Role::Admin);
  CHECK(spec_of(Command::Reload).streams);
  CHECK(find_command("explode") == nullptr);
}

TEST_CASE("docs/control-protocol.md documents exactly the verbs of the command table") {
  std::ifstream in(std::string(CLUSTERD_SOURCE_DIR) + "/docs/control-protocol.md");
  REQUIRE(in);
  std::set<std::string> documented;
  std::string line;
  bool in_commands = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_commands = line == "## Commands";
    if (in_commands && line.rfind("### ", 0) == 0) documented.insert(line.substr(4));
  }
  std::set<std::string> declared;
  for (const CommandSpec& spec : kCommands) declared.insert(spec.name);
  CHECK(documented == declared);
}

TEST_CASE("text from workers cannot drive a terminal or forge a log line") {
  CHECK(printable("serving 4 sockets") == "serving 4 sockets");
  CHECK(printable("a\nfake line") == "a\\x0afake line");
  CHECK(printable("a\nb", true) == "a\nb");
  CHECK(printable("\x1b]0;owned\x07") == "\\x1b]0;owned\\x07");              // window title
  CHECK(printable("\x1b]52;c;ZXZpbA==\x07") == "\\x1b]52;c;ZXZpbA==\\x07");  // OSC 52
  CHECK(printable("back\\slash") == "back\\\\slash");
  CHECK(printable("del\x7f") == "del\\x7f");
  CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 stays
}
