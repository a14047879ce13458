// The control side's pure parts: roles, the command table and its documentation, clusterctl's
// arguments and its status table, and the escaping of text a worker controls before it reaches a
// log or a terminal.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "supervisor/control/access.h"
#include "supervisor/control/arguments.h"
#include "supervisor/control/commands.h"
#include "supervisor/control/status_table.h"
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
    CHECK(names.insert(std::string(spec.name)).second);
    CHECK(find_command(spec.name) == &spec);
    CHECK(&spec_of(spec.command) == &spec);
  }
  CHECK(spec_of(Command::Status).role == Role::Read);
  CHECK(spec_of(Command::Reload).role == Role::Admin);
  CHECK(spec_of(Command::Reload).answer == Answer::Stream);
  CHECK(spec_of(Command::Restart).args.has(Arg::Worker));
  CHECK_FALSE(spec_of(Command::Restart).args.has(Arg::Wait));
  CHECK(find_command("explode") == nullptr);
}

TEST_CASE("docs/control-protocol.md documents exactly the verbs of the table, and their fields") {
  std::ifstream in(std::string(CLUSTERD_SOURCE_DIR) + "/docs/control-protocol.md");
  REQUIRE(in);
  std::map<std::string, std::string> documented;  // verb -> the text of its section
  std::string line;
  std::string verb;
  bool in_commands = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_commands = line == "## Commands";
    if (!in_commands) continue;
    if (line.rfind("### ", 0) == 0) {
      verb = line.substr(4);
      documented[verb];
    } else if (!verb.empty()) {
      documented[verb] += line + "\n";
    }
  }
  std::set<std::string> declared;
  for (const CommandSpec& spec : kCommands) {
    declared.insert(std::string(spec.name));
    for (const Arg arg : kArgs) {
      if (!spec.args.has(arg)) continue;
      for (const std::string_view field : wire_names(arg)) {
        if (field.empty()) continue;
        INFO(spec.name << ": field " << field);
        std::string quoted(1, '"');
        quoted.append(field).push_back('"');
        CHECK(documented[std::string(spec.name)].find(quoted) != std::string::npos);
      }
    }
  }
  std::set<std::string> verbs;
  for (const auto& [name, text] : documented) verbs.insert(name);
  CHECK(verbs == declared);
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

TEST_CASE("C1 controls and bytes that are not UTF-8 are escaped too") {
  // U+009B (CSI) and U+009D (OSC), in UTF-8 0xC2 0x9B and 0xC2 0x9D: a UTF-8 terminal obeys
  // them as it obeys ESC [ and ESC ].
  CHECK(printable("a\u009b2Kb") == "a\\xc2\\x9b2Kb");
  CHECK(printable("\u009d0;owned\u009c") == "\\xc2\\x9d0;owned\\xc2\\x9c");
  CHECK(printable("\u0080\u009f") == "\\xc2\\x80\\xc2\\x9f");    // the first and the last
  CHECK(printable("\u00a0\u00a9") == "\u00a0\u00a9");            // U+00A0, U+00A9: printable
  CHECK(printable("\u20ac \U0001F600") == "\u20ac \U0001F600");  // 3 and 4 bytes
  // A lone C1 byte (CSI to a terminal in an 8-bit mode), and other bytes that are not UTF-8.
  CHECK(printable("a\x9b[Kb") == "a\\x9b[Kb");
  CHECK(printable("bad \xff byte") == "bad \\xff byte");
  CHECK(printable("\xc3") == "\\xc3");                    // cut short
  CHECK(printable("\xc3(") == "\\xc3(");                  // a lead without its continuation
  CHECK(printable("\xc0\x9b") == "\\xc0\\x9b");           // overlong CSI
  CHECK(printable("\xe0\x82\x9b") == "\\xe0\\x82\\x9b");  // overlong CSI, 3 bytes
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a surrogate
  CHECK(printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(printable("\xe2\x82") == "\\xe2\\x82");                    // cut short
  CHECK(printable("\\\xc2\x9b") == "\\\\\\xc2\\x9b");  // a backslash before it stays apart
}

TEST_CASE("scale's argument: a count, +N, -N or auto; anything else is a usage error") {
  const auto read = [](std::string_view text) {
    Request r;
    r.command = Command::Scale;
    const std::optional<std::string> error = read_scale_target(text, r);
    return std::make_pair(r, error.value_or(""));
  };
  CHECK(read("3").first.instances == 3u);
  CHECK_FALSE(read("3").first.delta);
  CHECK(read("0").first.instances == 0u);  // the daemon says why not (use stop)
  CHECK(read("65536").first.instances == 65536u);
  CHECK(read("+1").first.delta == 1);
  CHECK_FALSE(read("+1").first.instances);
  CHECK(read("-2").first.delta == -2);
  CHECK(read("+65536").first.delta == 65536);
  CHECK(read("auto").first.instances_auto);
  const std::string expected =
      "scale: expected a number of workers (1 to 65536), +N or -N to add or remove N workers, or "
      "auto; got ";
  for (const char* bad :
       {"abc", "+", "-", "", "+-1", "-+1", "1.5", "0x10", " 1", "1 ", "++1", "Auto", "\xc2\x9b"}) {
    INFO(bad);
    CHECK(read(bad).second == expected + "'" + printable(bad) + "'");
  }
  CHECK(read("99999999999").second == "scale: '99999999999' is over the limit of 65536 workers");
  CHECK(read("65537").second == "scale: '65537' is over the limit of 65536 workers");
  CHECK(read("-65537").second == "scale: '-65537' is over the limit of 65536 workers");
  CHECK(read("+0").second == "scale: '+0' changes nothing; +N adds N workers, -N removes N");
  CHECK(read("-00").second == "scale: '-00' changes nothing; +N adds N workers, -N removes N");
}

TEST_CASE("an unknown word's near miss: a letter wrong, missing, extra, or two swapped") {
  std::vector<std::string> verbs;
  for (const CommandSpec& spec : kCommands) verbs.emplace_back(spec.name);
  verbs.emplace_back("top");
  CHECK(closest("stauts", verbs) == "status");
  CHECK(closest("statsu", verbs) == "status");
  CHECK(closest("stp", verbs) == "stop");
  CHECK(closest("lgos", verbs) == "logs");
  CHECK(closest("restrat", verbs) == "restart");
  CHECK(closest("reloadd", verbs) == "reload");
  CHECK(closest("versoin", verbs) == "version");
  CHECK_FALSE(closest("frobnicate", verbs));
  CHECK_FALSE(closest("x", verbs));
  CHECK_FALSE(closest("", verbs));
  CHECK_FALSE(closest("status", verbs));  // not a miss
  CHECK_FALSE(closest(std::string(1000, 's'), verbs));
  CHECK(closest("--jsno", {"--json", "--check", "--detail"}) == "--json");
  CHECK(closest("--detial", {"--json", "--check", "--detail"}) == "--detail");
}

TEST_CASE("the status table: PSS, USS and FDS columns with detail, '-' where unknown") {
  StatusSnapshot s;
  s.master.pid = 10;
  s.master.threads = 1;
  s.master.rss_kb = 5900;
  AppStatus app;
  app.name = "web";
  app.instances = 2;
  app.ready = 2;
  WorkerStatus w;
  w.pid = 11;
  w.state = "running";
  w.generation = 1;
  w.threads = 4;
  w.processes = 1;
  w.rss_kb = 4152;
  w.cpus = "0";
  w.status_text = "serving\u009b2J";
  w.pss_kb = 2048;
  w.uss_kb = 512;
  w.fds = 9;
  app.workers.push_back(w);
  w.id = 1;
  w.pid = 12;
  w.pss_kb = w.uss_kb = -1;  // the kernel did not say
  w.fds = -1;
  app.workers.push_back(w);
  s.apps.push_back(app);
  s.totals = {3, 9};
  const std::string plain = status_table(s, {false, false});
  CHECK(plain.find("PSS") == std::string::npos);
  CHECK(plain.rfind(
            "APP  ID  PID  STATE    GEN  UPTIME  RESTARTS  THREADS  PROCS  CPU   MEM     CPUS  "
            "LAST EXIT  STATUS\n"
            "web  0   11   running  1    0s      0         4        1      0.0%  4.1 MB  0     -  "
            "        serving\\xc2\\x9b2J\n",
            0) == 0);
  const std::string detail = status_table(s, {false, true});
  CHECK(detail.rfind(
            "APP  ID  PID  STATE    GEN  UPTIME  RESTARTS  THREADS  PROCS  CPU   MEM     PSS     "
            "USS     FDS  CPUS  LAST EXIT  STATUS\n"
            "web  0   11   running  1    0s      0         4        1      0.0%  4.1 MB  2.0 MB  "
            "512 KB  9    0     -          serving\\xc2\\x9b2J\n"
            "web  1   12   running  1    0s      0         4        1      0.0%  4.1 MB  -       "
            "-       -    0     -          serving\\xc2\\x9b2J\n",
            0) == 0);
  CHECK_THAT(detail, Catch::Contains("master pid 10, 1 thread, 5.8 MB, up 0s; whole tree: 3 "
                                     "processes, 9 threads\n"));
  s.master.fds = 12;
  CHECK_THAT(status_table(s, {false, true}), Catch::Contains("up 0s, 12 fds; whole tree"));
  CHECK(status_table(s, {false, false}).find("12 fds") == std::string::npos);
}
