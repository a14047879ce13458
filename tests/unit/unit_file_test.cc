// clusterd --print-unit: the unit written for a config, from the shipped clusterd.service.
#include "systemd/unit_file.h"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace clusterd;

namespace {

std::vector<std::string> lines_of(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(prefix)) out.push_back(line);
  }
  return out;
}

sd::UnitInput input() {
  sd::UnitInput in;
  in.clusterd = "/usr/bin/clusterd";
  in.clusterctl = "/usr/bin/clusterctl";
  in.config = "/etc/clusterd/api.yaml";
  in.app_paths = {"/srv/api", "/usr/bin/node"};
  return in;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("print-unit: the config's paths in Exec lines, the sandbox kept", "[unit]") {
  const std::string unit = sd::unit_file(input());
  CHECK(lines_of(unit, "Exec") ==
        Lines{"ExecStartPre=/usr/bin/clusterd --check -c /etc/clusterd/api.yaml",
              "ExecStart=/usr/bin/clusterd --fd-store -c /etc/clusterd/api.yaml",
              "ExecReload=/usr/bin/clusterctl -c /etc/clusterd/api.yaml reload"});
  CHECK(lines_of(unit, "Description=") ==
        Lines{"Description=clusterd process supervisor (/etc/clusterd/api.yaml)"});
  CHECK(lines_of(unit, "Documentation=") ==
        Lines{"Documentation=file:///usr/share/doc/clusterd/systemd.md"});
  CHECK(lines_of(unit, "ProtectHome=") == Lines{"ProtectHome=yes"});
  CHECK(lines_of(unit, "ReadWritePaths=") == Lines{"ReadWritePaths=-/run -/tmp -/var/tmp"});
  CHECK(lines_of(unit, "Environment=").empty());
  for (const char* kept : {"Type=notify", "NoNewPrivileges=yes", "ProtectSystem=strict",
                           "SystemCallFilter=@system-service", "Delegate=yes", "WatchdogSec=10s",
                           "RuntimeDirectory=clusterd"}) {
    INFO(kept);
    CHECK(lines_of(unit, kept).size() == 1);
  }
  CHECK(unit.starts_with(
      "# Written by clusterd --print-unit for /etc/clusterd/api.yaml, from clusterd.service.\n"));
}

TEST_CASE("print-unit: an app under /home reads its home; log files outside are writable",
          "[unit]") {
  sd::UnitInput in = input();
  in.app_paths = {"/home/ann/api", "/home/ann/.nvm/versions/node/v20.11.0/bin/node"};
  in.written_paths = {"/srv/logs/api.log", "/srv/logs/other.log", "/var/log/clusterd/x.log",
                      "/data/my logs/w.log"};
  in.environment = "production";
  in.path = "/home/ann/.nvm/versions/node/v20.11.0/bin:/usr/bin:/bin";
  const std::string unit = sd::unit_file(in);
  CHECK(lines_of(unit, "ProtectHome=") == Lines{"ProtectHome=read-only"});
  CHECK(lines_of(unit, "ReadWritePaths=") == Lines{"ReadWritePaths=-/run -/tmp -/var/tmp",
                                                   "ReadWritePaths=-/srv/logs \"-/data/my logs\""});
  CHECK(lines_of(unit, "ExecStart=") ==
        Lines{"ExecStart=/usr/bin/clusterd --fd-store -c /etc/clusterd/api.yaml --env production"});
  CHECK(lines_of(unit, "Environment=") ==
        Lines{"Environment=PATH=/home/ann/.nvm/versions/node/v20.11.0/bin:/usr/bin:/bin"});
  sd::UnitInput root = input();
  root.app_paths = {"/root/app"};
  CHECK(lines_of(sd::unit_file(root), "ProtectHome=") == Lines{"ProtectHome=read-only"});
  sd::UnitInput homes = input();
  homes.app_paths = {"/homes/x", "/rooted"};  // not under /home or /root
  CHECK(lines_of(sd::unit_file(homes), "ProtectHome=") == Lines{"ProtectHome=yes"});
}

TEST_CASE("print-unit: words are escaped as systemd reads them", "[unit]") {
  CHECK(sd::unit_word("/etc/clusterd/a.yaml") == "/etc/clusterd/a.yaml");
  CHECK(sd::unit_word("/srv/my app/c.yaml") == "\"/srv/my app/c.yaml\"");
  CHECK(sd::unit_word("/srv/100%/$HOME") == "/srv/100%%/$$HOME");
  CHECK(sd::unit_word("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(sd::unit_word("") == "\"\"");
  sd::UnitInput in = input();
  in.config = "/srv/my app/c.yaml";
  CHECK(lines_of(sd::unit_file(in), "ExecReload=") ==
        Lines{"ExecReload=/usr/bin/clusterctl -c \"/srv/my app/c.yaml\" reload"});
}
