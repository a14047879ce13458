#include "systemd/unit_file.h"

#include <algorithm>
#include <sstream>

#include "systemd/unit_template.h"  // kUnitTemplate: systemd/clusterd.service, generated

namespace clusterd::sd {
namespace {

bool under(const std::string& path, const std::string& dir) {
  return path == dir || path.starts_with(dir + "/");
}

bool in_home(const std::string& path) {
  return under(path, "/home") || under(path, "/root") || under(path, "/run/user");
}

// Writable in the shipped sandbox: ReadWritePaths=-/run -/tmp -/var/tmp and the unit's
// StateDirectory=, LogsDirectory=, CacheDirectory=.
bool writable(const std::string& path) {
  for (const char* dir : {"/run", "/tmp", "/var/tmp", "/var/lib/clusterd", "/var/log/clusterd",
                          "/var/cache/clusterd"}) {
    if (under(path, dir)) return true;
  }
  return false;
}

std::string dir_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string exec_args(const UnitInput& in, const char* first) {
  std::string out = unit_word(in.clusterd) + first + " -c " + unit_word(in.config);
  if (!in.environment.empty()) out += " --env " + unit_word(in.environment);
  return out;
}

}  // namespace

std::string unit_word(const std::string& word) {
  std::string out;
  bool quote = word.empty();
  for (const char c : word) {
    if (c == '%' || c == '$') out += c;
    if (c == '"' || c == '\\') out += '\\';
    quote = quote || c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '\\';
    out += c;
  }
  return quote ? "\"" + out + "\"" : out;
}

std::string unit_file(const UnitInput& in) {
  const bool home = std::any_of(in.app_paths.begin(), in.app_paths.end(), in_home) ||
                    std::any_of(in.written_paths.begin(), in.written_paths.end(), in_home);
  std::vector<std::string> extra;  // directories the master writes to, besides the shipped ones
  for (const std::string& path : in.written_paths) {
    const std::string dir = dir_of(path);
    if (!writable(path) && std::find(extra.begin(), extra.end(), dir) == extra.end()) {
      extra.push_back(dir);
    }
  }
  const std::string prefix = dir_of(dir_of(in.clusterd));  // PREFIX of PREFIX/bin/clusterd
  std::ostringstream out;
  out << "# Written by clusterd --print-unit for " << in.config << ", from clusterd.service.\n";
  std::istringstream lines{std::string(kUnitTemplate)};
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("# clusterd as a systemd service.")) continue;
    if (line.starts_with("Description=")) {
      out << "Description=clusterd process supervisor (" << in.config << ")\n";
    } else if (line.starts_with("Documentation=") && dir_of(in.clusterd).ends_with("/bin")) {
      out << "Documentation=file://" << (prefix == "/" ? "" : prefix)
          << "/share/doc/clusterd/systemd.md\n";
    } else if (line.starts_with("ExecStartPre=")) {
      out << "ExecStartPre=" << exec_args(in, " --check") << "\n";
    } else if (line.starts_with("ExecStart=")) {
      out << "ExecStart=" << exec_args(in, " --fd-store") << "\n";
    } else if (line.starts_with("ExecReload=")) {
      out << "ExecReload=" << unit_word(in.clusterctl) << " -c " << unit_word(in.config)
          << " reload\n";
      if (!in.path.empty()) {
        out << "# The PATH the apps' programs were found in (systemd's own lacks a directory):\n"
            << "Environment=" << unit_word("PATH=" + in.path) << "\n";
      }
    } else if (line == "ProtectHome=yes" && home) {
      out << "# An app lives under /home, /root or /run/user: readable, not writable. An app that\n"
             "# writes there needs its directory in ReadWritePaths=.\n"
             "ProtectHome=read-only\n";
    } else if (line.starts_with("ReadWritePaths=-/run") && !extra.empty()) {
      out << line << "\n# Where the apps' log files are written:\nReadWritePaths=";
      for (std::size_t i = 0; i < extra.size(); ++i) {
        out << (i == 0 ? "" : " ") << unit_word("-" + extra[i]);
      }
      out << "\n";
    } else {
      out << line << "\n";
    }
  }
  return out.str();
}

}  // namespace clusterd::sd
