#include "supervisor/control/status_table.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "text/printable.h"

namespace clusterd::control {

namespace {

std::string human_duration(double seconds) {
  const long s = static_cast<long>(seconds);
  char text[32];
  if (s < 60) {
    std::snprintf(text, sizeof text, "%lds", s);
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%ldm%lds", s / 60, s % 60);
  } else if (s < 86400) {
    std::snprintf(text, sizeof text, "%ldh%ldm", s / 3600, (s % 3600) / 60);
  } else {
    std::snprintf(text, sizeof text, "%ldd%ldh", s / 86400, (s % 86400) / 3600);
  }
  return text;
}

std::string human_kb(std::uint64_t kb) {
  char text[32];
  if (kb < 1024) {
    std::snprintf(text, sizeof text, "%llu KB", static_cast<unsigned long long>(kb));
  } else if (kb < 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(kb) / 1024.0);
  } else {
    std::snprintf(text, sizeof text, "%.2f GB", static_cast<double>(kb) / 1048576.0);
  }
  return text;
}

// A figure the daemon may not know (-1): "-" then.
template <typename T>
std::string known(T value, bool kb) {
  if (value < 0) return "-";
  return kb ? human_kb(static_cast<std::uint64_t>(value)) : std::to_string(value);
}

// Rows as columns padded to the widest cell; `colour[r]` wraps row r's state cell.
std::string columns(std::vector<std::vector<std::string>> rows,
                    const std::vector<std::string>& colour, std::size_t state_column) {
  std::vector<std::size_t> width;
  for (auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size());
    for (std::size_t c = 0; c < row.size(); ++c) {
      row[c] = printable(row[c]);
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      std::string cell = rows[r][c];
      const std::size_t pad = width[c] - cell.size();
      if (c == state_column && !colour[r].empty()) cell = colour[r] + cell + "\033[0m";
      out += cell;
      if (c + 1 < rows[r].size()) out += std::string(pad + 2, ' ');
    }
    out += '\n';
  }
  return out;
}

std::vector<std::string> worker_row(const AppStatus& app, const WorkerStatus& w, bool detail) {
  char cpu[16];
  std::snprintf(cpu, sizeof cpu, "%.1f%%", w.cpu_percent);
  const bool live = w.pid != 0;
  const bool bad = w.state == "failed" || w.state == "backoff";
  std::string state = w.state;
  if (bad && !w.last_exit.empty()) state += " (" + w.last_exit + ")";
  std::vector<std::string> row = {app.name,
                                  std::to_string(w.id),
                                  live ? std::to_string(w.pid) : "-",
                                  state,
                                  std::to_string(w.generation),
                                  live ? human_duration(w.uptime_s) : "-",
                                  std::to_string(w.restarts),
                                  live ? std::to_string(w.threads) : "-",
                                  live ? std::to_string(w.processes) : "-",
                                  live ? cpu : "-",
                                  live ? human_kb(w.rss_kb) : "-"};
  if (detail) {
    row.push_back(live ? known(w.pss_kb, true) : "-");
    row.push_back(live ? known(w.uss_kb, true) : "-");
    row.push_back(live ? known(w.fds, false) : "-");
  }
  row.push_back(live ? w.cpus : "-");
  row.push_back(w.last_exit.empty() ? "-" : w.last_exit);
  row.push_back(w.status_text);
  return row;
}

std::string state_colour(const std::string& state) {
  if (state == "running") return "\033[32m";
  if (state == "starting" || state == "stopping") return "\033[33m";
  if (state == "failed" || state == "backoff") return "\033[31;1m";
  return "";
}

}  // namespace

std::string status_table(const StatusSnapshot& status, const TableOptions& options) {
  std::vector<std::string> header = {"APP",      "ID",      "PID",   "STATE", "GEN", "UPTIME",
                                     "RESTARTS", "THREADS", "PROCS", "CPU",   "MEM"};
  if (options.detail) header.insert(header.end(), {"PSS", "USS", "FDS"});
  header.insert(header.end(), {"CPUS", "LAST EXIT", "STATUS"});
  std::vector<std::vector<std::string>> rows = {header};
  std::vector<std::string> colour = {options.colour ? "\033[1m" : ""};
  for (const auto& app : status.apps) {
    for (const auto& w : app.workers) {
      rows.push_back(worker_row(app, w, options.detail));
      colour.push_back(options.colour ? state_colour(w.state) : "");
    }
  }
  std::string out = columns(std::move(rows), colour, 3);
  for (const auto& app : status.apps) {
    out += printable(app.name) + ": " + (app.stopped ? "stopped (`start` starts it), " : "") +
           std::to_string(app.ready) + "/" + std::to_string(app.instances) + " ready, instances " +
           printable(app.instances_reason) + ", logs " + printable(app.logs);
    if (app.log_dropped_bytes > 0) {
      out += " (" + std::to_string(app.log_dropped_bytes) + " bytes dropped)";
    }
    out += "\n";
    if (!app.adopted.empty()) {
      std::string list;
      for (const std::string& address : app.adopted) list += (list.empty() ? "" : ", ") + address;
      out += "  " + printable(app.name) + ": adopt: all holds " + printable(list) + "\n";
    }
    if (!app.next_restart.empty()) {
      out += "  " + printable(app.name) + ": restart_schedule next " + printable(app.next_restart) +
             "\n";
    }
    // The cause of a LAST EXIT, where it matters (a slot that failed or backs off) or asked for.
    for (const auto& w : app.workers) {
      const bool bad = w.state == "failed" || w.state == "backoff";
      if (w.last_words.empty() || (!bad && !options.detail)) continue;
      out += "  " + printable(app.name) + "[" + std::to_string(w.id) + "] " +
             printable(w.last_exit) + ": " + printable(w.last_words) + "\n";
    }
  }
  out += "master pid " + std::to_string(status.master.pid) + ", " +
         std::to_string(status.master.threads) +
         (status.master.threads == 1 ? " thread, " : " threads, ") +
         human_kb(status.master.rss_kb) + ", up " + human_duration(status.master.uptime_s);
  if (options.detail && status.master.fds >= 0) {
    out += ", " + std::to_string(status.master.fds) + " fds";
  }
  out += "; whole tree: " + std::to_string(status.totals.processes) + " processes, " +
         std::to_string(status.totals.threads) + " threads\n";
  if (!status.master.cgroups.empty()) out += printable(status.master.cgroups) + "\n";
  return out;
}

std::string ready_check(const StatusSnapshot& status, bool& all) {
  std::string out;
  for (const auto& app : status.apps) {
    const bool ready = !app.stopped && app.ready >= app.instances;
    all = all && ready;
    out += printable(app.name) + ": " + std::to_string(app.ready) + "/" +
           std::to_string(app.instances) + " ready" +
           (app.stopped ? " (stopped)"
            : ready     ? ""
                        : " (not ready)");
    // Why not: the last words of a worker that failed or backs off.
    for (const auto& w : app.workers) {
      if (ready || app.stopped || w.last_exit.empty()) continue;
      if (w.state != "failed" && w.state != "backoff") continue;
      out += "; worker " + std::to_string(w.id) + ": " + printable(w.last_exit) +
             (w.last_words.empty() ? "" : ": " + printable(w.last_words));
      break;
    }
    out += "\n";
  }
  return out;
}

}  // namespace clusterd::control
