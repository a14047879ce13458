#include "supervisor/control/top.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "supervisor/control/client.h"
#include "supervisor/control/protocol.h"
#include "text/printable.h"

namespace clusterd::control {
namespace {

volatile std::sig_atomic_t g_quit = 0;     // the signal that asks to quit, 0 if none
volatile std::sig_atomic_t g_resized = 0;  // SIGWINCH since the last frame

extern "C" void on_quit_signal(int signal) { g_quit = signal; }
extern "C" void on_resize(int) { g_resized = 1; }

// The terminal in the state top needs (no echo, keys one at a time, the alternate screen, no
// cursor) for as long as it lives; the previous state comes back however top ends.
class Terminal {
 public:
  Terminal() {
    if (tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);  // ISIG stays: Ctrl-C is SIGINT
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      restore_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    write_all("\033[?1049h\033[?25l\033[H\033[2J");
  }
  ~Terminal() {
    write_all("\033[0m\033[?25h\033[?1049l");
    if (restore_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  static void write_all(std::string_view text) {
    while (!text.empty()) {
      const ssize_t n = ::write(STDOUT_FILENO, text.data(), text.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  static std::pair<unsigned, unsigned> size() {  // columns, rows
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
      return {ws.ws_col, ws.ws_row};
    }
    return {80, 24};
  }

 private:
  termios saved_{};
  bool restore_ = false;
};

// Handlers for as long as top runs; the previous ones come back after.
class Signals {
 public:
  Signals() {
    struct sigaction quit {};
    quit.sa_handler = on_quit_signal;
    sigemptyset(&quit.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &quit, &saved_[s]);
    struct sigaction resize {};
    resize.sa_handler = on_resize;
    sigemptyset(&resize.sa_mask);
    sigaction(SIGWINCH, &resize, &saved_[SIGWINCH]);
  }
  ~Signals() {
    for (auto& [s, action] : saved_) sigaction(s, &action, nullptr);
  }

 private:
  std::map<int, struct sigaction> saved_;
};

// One refresh: the status and the last events.
struct Frame {
  StatusSnapshot status;
  std::vector<EventRecord> events;
  std::time_t at = 0;
};

Frame fetch(const TopOptions& options) {
  Frame frame;
  frame.at = std::time(nullptr);
  Request status;
  status.command = Command::Status;
  status.app = options.app;
  status.detail = true;
  const Reply reply =
      decode_reply(call(options.socket_path, encode_request(status), options.timeout));
  if (!reply.ok) throw std::runtime_error(reply.error);
  if (!reply.status) throw std::runtime_error("the daemon's reply has no status");
  frame.status = std::move(*reply.status);
  Request events;
  events.command = Command::Events;
  events.app = options.app;
  events.lines = 8;
  call(options.socket_path, encode_request(events), options.timeout,
       [&frame](const std::string& line) {
         try {
           Reply r = decode_reply(line);
           if (r.event) frame.events.push_back(std::move(*r.event));
           return !r.more();
         } catch (const std::exception&) {
           return true;
         }
       });
  return frame;
}

// CPU% of each pid between two frames, from its CPU seconds: top's own interval, whatever other
// clients ask for in between.
class CpuMeter {
 public:
  double percent(const WorkerStatus& w, double fallback) {
    const double cpu = w.cpu_user_s + w.cpu_system_s;
    const auto now = std::chrono::steady_clock::now();
    double result = fallback;
    const auto it = last_.find(w.pid);
    if (it != last_.end()) {
      const double wall = std::chrono::duration<double>(now - it->second.second).count();
      if (wall > 0.05 && cpu >= it->second.first) result = 100.0 * (cpu - it->second.first) / wall;
    }
    next_[w.pid] = {cpu, now};
    return result;
  }
  void end_frame() { last_.swap(next_), next_.clear(); }

 private:
  using Sample = std::pair<double, std::chrono::steady_clock::time_point>;
  std::map<int, Sample> last_, next_;
};

std::string human_kb(std::int64_t kb) {
  if (kb < 0) return "-";
  char text[32];
  if (kb < 10 * 1024) {
    std::snprintf(text, sizeof text, "%lldK", static_cast<long long>(kb));
  } else if (kb < 10 * 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.1fM", static_cast<double>(kb) / 1024.0);
  } else {
    std::snprintf(text, sizeof text, "%.2fG", static_cast<double>(kb) / 1048576.0);
  }
  return text;
}

struct Row {
  const AppStatus* app;
  const WorkerStatus* worker;
  double cpu;
  long queued;  // -1: no socket of its own
};

const char* sort_name(char sort) {
  switch (sort) {
    case 'c':
      return "cpu";
    case 'm':
      return "memory";
    case 'r':
      return "restarts";
    case 'a':
      return "accept queue";
    default:
      return "app, id";
  }
}

void sort_rows(std::vector<Row>& rows, char sort) {
  auto key = [sort](const Row& r) -> double {
    switch (sort) {
      case 'c':
        return r.cpu;
      case 'm':
        return static_cast<double>(r.worker->pss_kb >= 0 ? r.worker->pss_kb : r.worker->rss_kb);
      case 'r':
        return r.worker->restarts;
      case 'a':
        return static_cast<double>(r.queued);
      default:
        return 0;
    }
  };
  std::stable_sort(rows.begin(), rows.end(),
                   [&key](const Row& x, const Row& y) { return key(x) > key(y); });
}

// The table as lines (header first), cells escaped and padded.
std::vector<std::string> table(const std::vector<Row>& rows, bool colour) {
  std::vector<std::vector<std::string>> cells = {{"APP", "ID", "PID", "STATE", "GEN", "CPU%", "RSS",
                                                  "PSS", "THR", "PROCS", "FDS", "QUEUE", "RESTARTS",
                                                  "LAST EXIT"}};
  for (const Row& r : rows) {
    const WorkerStatus& w = *r.worker;
    const bool live = w.pid != 0;
    char cpu[16];
    std::snprintf(cpu, sizeof cpu, "%.1f", r.cpu);
    cells.push_back({printable(r.app->name), std::to_string(w.id),
                     live ? std::to_string(w.pid) : "-", w.state, std::to_string(w.generation),
                     live ? cpu : "-", live ? human_kb(static_cast<std::int64_t>(w.rss_kb)) : "-",
                     live ? human_kb(w.pss_kb) : "-", live ? std::to_string(w.tree_threads) : "-",
                     live ? std::to_string(w.processes) : "-",
                     live && w.fds >= 0 ? std::to_string(w.fds) : "-",
                     r.queued >= 0 ? std::to_string(r.queued) : "-", std::to_string(w.restarts),
                     w.last_exit.empty() ? "-" : printable(w.last_exit)});
  }
  std::vector<std::size_t> width(cells[0].size(), 0);
  for (const auto& row : cells) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::vector<std::string> lines;
  for (std::size_t r = 0; r < cells.size(); ++r) {
    std::string line;
    for (std::size_t c = 0; c < cells[r].size(); ++c) {
      std::string cell = cells[r][c];
      const bool last = c + 1 == cells[r].size();
      const std::string pad = last ? "" : std::string(width[c] - cell.size() + 2, ' ');
      if (colour && c == 3 && r > 0) {
        const std::string& s = cell;
        const char* code = s == "running"                       ? "\033[32m"
                           : s == "starting" || s == "stopping" ? "\033[33m"
                           : s == "failed" || s == "backoff"    ? "\033[31;1m"
                                                                : "";
        if (*code != '\0') cell = code + cell + "\033[0m";
      }
      line += cell + pad;
    }
    lines.push_back(colour && r == 0 ? "\033[7m" + line + "\033[0m" : line);
  }
  return lines;
}

// Per app: ready/wanted, generation, rollout, shared queues, and the totals of its workers' rows
// (CPU%, PSS where known else RSS, threads, processes, restarts).
std::vector<std::string> app_lines(const StatusSnapshot& s, const std::vector<Row>& rows) {
  std::vector<std::string> lines;
  for (const AppStatus& a : s.apps) {
    double cpu = 0;
    std::int64_t memory_kb = 0;
    unsigned threads = 0, processes = 0, restarts = 0;
    for (const Row& r : rows) {
      if (r.app != &a) continue;
      cpu += r.cpu;
      memory_kb +=
          r.worker->pss_kb >= 0 ? r.worker->pss_kb : static_cast<std::int64_t>(r.worker->rss_kb);
      threads += r.worker->tree_threads;
      processes += r.worker->processes;
      restarts += r.worker->restarts;
    }
    char totals[128];
    std::snprintf(totals, sizeof totals,
                  "; cpu %.1f%%, mem %s, %u threads, %u processes, %u restarts", cpu,
                  human_kb(memory_kb).c_str(), threads, processes, restarts);
    std::string line = printable(a.name) + ": " + std::to_string(a.ready) + "/" +
                       std::to_string(a.instances) + " ready, gen " + std::to_string(a.generation);
    if (!a.rollout.empty()) line += ", rollout " + printable(a.rollout);
    for (const QueueStatus& q : a.queues) {
      line += ", " + printable(q.listener) + " queue " + std::to_string(q.queued) + "/" +
              std::to_string(q.limit);
    }
    line += ", instances " + printable(a.instances_reason);
    if (a.log_dropped_bytes > 0)
      line += ", " + std::to_string(a.log_dropped_bytes) + " log bytes dropped";
    lines.push_back(line + totals);
  }
  char master[160];
  std::snprintf(master, sizeof master,
                "master pid %d: %u threads, %s, cpu %.1fs; tree: %u processes, %u threads",
                s.master.pid, s.master.threads,
                human_kb(static_cast<std::int64_t>(s.master.rss_kb)).c_str(),
                s.master.cpu_user_s + s.master.cpu_system_s, s.totals.processes, s.totals.threads);
  lines.emplace_back(master);
  return lines;
}

std::string event_line(const EventRecord& e) {
  const std::time_t t = static_cast<std::time_t>(e.time_ms / 1000);
  std::tm local{};
  localtime_r(&t, &local);
  char when[16];
  std::strftime(when, sizeof when, "%H:%M:%S", &local);
  std::string who = e.app.empty() ? "clusterd" : printable(e.app);
  if (e.worker >= 0) who += "[" + std::to_string(e.worker) + "]";
  return std::string(when) + " " + printable(e.kind) + " " + who + ": " + printable(e.reason);
}

// Cuts a line to `columns` printed cells (escape sequences take none), never inside a UTF-8
// character.
std::string fit(const std::string& line, unsigned columns) {
  std::string out;
  unsigned shown = 0;
  for (std::size_t i = 0; i < line.size();) {
    if (line[i] == '\033') {
      const std::size_t end = line.find('m', i);
      if (end == std::string::npos) break;
      out.append(line, i, end + 1 - i);
      i = end + 1;
      continue;
    }
    std::size_t n = 1;
    while (i + n < line.size() && (static_cast<unsigned char>(line[i + n]) & 0xC0) == 0x80) ++n;
    if (shown == columns) break;
    out.append(line, i, n);
    ++shown;
    i += n;
  }
  return out;
}

std::vector<Row> rows_of(const Frame& frame, CpuMeter& meter) {
  std::vector<Row> rows;
  for (const AppStatus& a : frame.status.apps) {
    for (const WorkerStatus& w : a.workers) {
      long queued = -1;
      for (const QueueStatus& q : w.queues) queued = std::max(0L, queued) + q.queued;
      rows.push_back({&a, &w, w.pid != 0 ? meter.percent(w, w.cpu_percent) : 0.0, queued});
    }
  }
  meter.end_frame();
  return rows;
}

void draw(const Frame& frame, const std::vector<Row>& rows, const TopOptions& options) {
  const auto [columns, height] = Terminal::size();
  std::vector<std::string> lines;
  char head[64];
  std::tm local{};
  localtime_r(&frame.at, &local);
  std::strftime(head, sizeof head, "%H:%M:%S", &local);
  lines.push_back(std::string("clusterd top  ") + head + "  sort: " + sort_name(options.sort) +
                  "  keys: q quit, c cpu, m memory, r restarts, a queue, n id");
  for (std::string& l : app_lines(frame.status, rows)) lines.push_back(std::move(l));
  lines.emplace_back();
  const std::size_t events = std::min<std::size_t>(frame.events.size(), 5);
  const std::vector<std::string> t = table(rows, true);
  const std::size_t room =
      height > lines.size() + events + 2 ? height - lines.size() - events - 2 : 1;
  for (std::size_t i = 0; i < t.size() && i < room; ++i) lines.push_back(t[i]);
  if (t.size() > room) lines.back() = "... " + std::to_string(t.size() - room) + " more workers";
  lines.emplace_back();
  for (std::size_t i = frame.events.size() - events; i < frame.events.size(); ++i) {
    lines.push_back(event_line(frame.events[i]));
  }
  std::string out = "\033[H";
  for (std::size_t i = 0; i < lines.size() && i < height; ++i) {
    out += fit(lines[i], columns) + "\033[0m\033[K" + (i + 1 < height ? "\n" : "");
  }
  out += "\033[J";
  Terminal::write_all(out);
}

void print_plain(const Frame& frame, const std::vector<Row>& rows) {
  char head[64];
  std::tm local{};
  localtime_r(&frame.at, &local);
  std::strftime(head, sizeof head, "%Y-%m-%d %H:%M:%S", &local);
  std::string out = std::string("clusterd top ") + head + "\n";
  for (const std::string& l : table(rows, false)) out += l + "\n";
  for (const std::string& l : app_lines(frame.status, rows)) out += l + "\n";
  out += "\n";
  std::cout << out << std::flush;
}

// Waits up to `interval` for a key; returns it, or 0.
char wait_key(std::chrono::milliseconds interval, bool keys) {
  pollfd p{keys ? STDIN_FILENO : -1, POLLIN, 0};
  const int n = ::poll(&p, 1, static_cast<int>(interval.count()));
  if (n <= 0 || !keys) return 0;
  char c = 0;
  return ::read(STDIN_FILENO, &c, 1) == 1 ? c : 0;
}

}  // namespace

int run_top(const TopOptions& options) {
  TopOptions o = options;
  const bool tty = !o.force_plain && isatty(STDOUT_FILENO) == 1 && isatty(STDIN_FILENO) == 1;
  Frame frame;
  try {
    frame = fetch(o);
  } catch (const Unreachable& e) {
    std::cerr << "clusterctl: no clusterd reachable at " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "clusterctl: " << printable(e.what()) << "\n";
    return 1;
  }
  g_quit = 0;
  Signals signals;
  CpuMeter meter;
  std::optional<Terminal> terminal;
  if (tty) terminal.emplace();
  std::string failure;
  for (unsigned n = 1;; ++n) {
    std::vector<Row> rows = rows_of(frame, meter);
    sort_rows(rows, o.sort);
    if (tty) {
      draw(frame, rows, o);
    } else {
      print_plain(frame, rows);
    }
    if (o.iterations != 0 && n >= o.iterations) break;
    const auto next = std::chrono::steady_clock::now() + o.interval;
    for (;;) {  // keys redraw at once; a resize too
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          next - std::chrono::steady_clock::now());
      if (g_quit != 0 || left.count() <= 0) break;
      const char key = wait_key(left, tty);
      if (key == 'q' || key == 'Q') g_quit = SIGINT;
      if (key == 'c' || key == 'm' || key == 'r' || key == 'a' || key == 'n') {
        o.sort = key;
        sort_rows(rows, o.sort);
        draw(frame, rows, o);
      }
      if (g_resized != 0 && tty) {
        g_resized = 0;
        draw(frame, rows, o);
      }
    }
    if (g_quit != 0) break;
    try {
      frame = fetch(o);
    } catch (const std::exception& e) {
      failure = e.what();
      break;
    }
  }
  terminal.reset();
  if (!failure.empty()) {
    std::cerr << "clusterctl: top: " << printable(failure) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace clusterd::control
