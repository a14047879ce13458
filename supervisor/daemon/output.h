// Workers' stdout and stderr in `capture` and `journal` modes: the bytes the host reads from
// their pipes, cut into lines (text/lines.h), each attributed to its app, slot, generation and
// pid, then kept in the app's ring (clusterctl logs), sent to the clients following, and written
// where the app's `logs:` says: clusterd's own output and/or a rotated file, or journald with the
// app's fields in the worker's name. Nothing here waits: a sink that is behind drops the line and
// the bytes are counted (status, and a warning at most every 10 s), as are the lines the file's
// writer could not put in the file (the host reports them per file, counted to the app that last
// wrote to it).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "config/config.h"
#include "supervisor/control/protocol.h"
#include "supervisor/core/last_words.h"
#include "supervisor/daemon/host.h"
#include "supervisor/daemon/record_log.h"
#include "text/lines.h"

namespace clusterd::daemon {

class WorkerOutput {
 public:
  WorkerOutput(OutputSinks& sinks, Clock& clock) : sinks_(sinks), clock_(clock) {}

  /// The apps' `logs:` settings (at start and after a reload).
  void configure(const config::Config& config);
  /// Where output under `spec` goes, `auto` resolved (journal when clusterd's own output is).
  config::LogSpec::Mode mode_of(const config::LogSpec& spec) const;

  /// A worker started with capture_output: its lines from now on are these.
  struct Source {
    std::string app;
    unsigned worker = 0;
    unsigned generation = 0;
    int pid = 0;
    unsigned uid = 0;
    unsigned gid = 0;
  };
  void attach(WorkerHandle handle, Source source);
  void bytes(WorkerHandle handle, OutputStream stream, std::string_view data);
  void end(WorkerHandle handle, OutputStream stream);
  /// The last non-blank lines `handle` wrote (at most core::kLastLinesKept), forgotten here:
  /// taken once its exit is reported (its output is delivered before that).
  std::vector<core::OutputLine> take_last_lines(WorkerHandle handle);

  /// The logs verb.
  void serve(const control::Request& request, const control::ReplyPtr& reply);
  void stop();
  /// Empties the ring of `app` (every app's when empty) and truncates its log file; says what.
  std::string flush(const std::string& app);
  /// Bytes of the app's output dropped since start (a sink was behind, or its file refused or
  /// failed).
  std::uint64_t dropped(const std::string& app);

 private:
  struct App {
    config::LogSpec spec;
    RecordRing<control::LogRecord> ring;
    std::uint64_t dropped = 0;
    std::uint64_t dropped_reported = 0;
    core::TimePoint report_next{};
  };
  struct Attached {
    Source source;
    LineSplitter out;
    LineSplitter err;
    bool out_open = true;
    bool err_open = true;
  };
  App& app(const std::string& name);
  void keep_last(WorkerHandle handle, bool err, std::string_view text);
  void line(const Source& source, bool err, std::string_view text, bool cut, std::string& batch);
  bool to_journal(const Source& source, bool err, std::string_view text);
  void write_file(const std::string& name, App& a, std::string batch);
  void collect_lost();
  void report_drops(const std::string& name, App& app);

  OutputSinks& sinks_;
  Clock& clock_;
  std::map<std::string, App> apps_;
  std::map<WorkerHandle, Attached> attached_;
  std::map<WorkerHandle, std::deque<core::OutputLine>> last_;  // until take_last_lines()
  std::map<std::string, std::string> file_writer_;  // log file -> the app that last wrote to it
  Followers<control::LogRecord> followers_;
  std::uint64_t seq_ = 0;
};

}  // namespace clusterd::daemon
