#include "supervisor/daemon/output.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "supervisor/daemon/event_log.h"
#include "supervisor/logging.h"
#include "text/journal_fields.h"
#include "text/printable.h"

namespace clusterd::daemon {

namespace {

constexpr std::size_t kRingBytes = 4 << 20;  // per app, whatever logs.ring says
constexpr auto kDropReportEvery = std::chrono::seconds(10);

// "2026-12-01T20:00:00.123Z": UTC from milliseconds since the epoch (days to civil date:
// H. Hinnant's algorithm), without the C library's time zone state. The text up to the second
// is kept: lines come many per second.
std::string iso_time(std::int64_t ms) {
  static std::int64_t cached_second = -1;
  static std::string cached;
  const std::int64_t seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (seconds != cached_second) {
    std::int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
    const std::int64_t in_day = seconds - days * 86400;
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const std::int64_t doe = days - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    char text[96];
    std::snprintf(text, sizeof text, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.",
                  static_cast<long long>(year), static_cast<long long>(month),
                  static_cast<long long>(day), static_cast<long long>(in_day / 3600),
                  static_cast<long long>(in_day % 3600 / 60), static_cast<long long>(in_day % 60));
    cached = text;
    cached_second = seconds;
  }
  const int milli = static_cast<int>(ms - seconds * 1000);
  std::string out = cached;
  out += static_cast<char>('0' + milli / 100);
  out += static_cast<char>('0' + milli / 10 % 10);
  out += static_cast<char>('0' + milli % 10);
  out += 'Z';
  return out;
}

std::string prefix(const std::string& app, unsigned worker, bool err) {
  return app + "[" + std::to_string(worker) + "] " + (err ? "err: " : "out: ");
}

}  // namespace

void WorkerOutput::configure(const config::Config& config) {
  for (const config::AppSpec& spec : config.apps) {
    App& a = apps_[spec.name];
    a.spec = spec.logs;
    a.ring.set_limits(spec.logs.ring, kRingBytes);
  }
}

config::LogSpec::Mode WorkerOutput::mode_of(const config::LogSpec& spec) const {
  using Mode = config::LogSpec::Mode;
  if (spec.mode != Mode::Auto) return spec.mode;
  return sinks_.stderr_is_journal() && sinks_.journal_available() ? Mode::Journal : Mode::Capture;
}

WorkerOutput::App& WorkerOutput::app(const std::string& name) {
  auto [it, added] = apps_.try_emplace(name);
  if (added) it->second.ring.set_limits(it->second.spec.ring, kRingBytes);
  return it->second;
}

void WorkerOutput::attach(WorkerHandle handle, Source source) {
  const std::size_t line_max = app(source.app).spec.line_max;
  attached_.insert_or_assign(handle, Attached{std::move(source), LineSplitter(line_max),
                                              LineSplitter(line_max), true, true});
}

void WorkerOutput::bytes(WorkerHandle handle, OutputStream stream, std::string_view data) {
  const auto it = attached_.find(handle);
  if (it == attached_.end()) return;
  Attached& a = it->second;
  const bool err = stream == OutputStream::Err;
  std::string batch;  // for the app's file: one write per read
  (err ? a.err : a.out).feed(data, [&](std::string_view text, bool cut) {
    line(a.source, err, text, cut, batch);
    keep_last(handle, err, text);
  });
  App& owner = app(a.source.app);
  write_file(a.source.app, owner, std::move(batch));
  owner.dropped += flush_output();
  collect_lost();
  report_drops(a.source.app, owner);
}

void WorkerOutput::end(WorkerHandle handle, OutputStream stream) {
  const auto it = attached_.find(handle);
  if (it == attached_.end()) return;
  Attached& a = it->second;
  const bool err = stream == OutputStream::Err;
  std::string batch;
  (err ? a.err : a.out).finish([&](std::string_view text, bool cut) {
    line(a.source, err, text, cut, batch);
    keep_last(handle, err, text);
  });
  App& owner = app(a.source.app);
  write_file(a.source.app, owner, std::move(batch));
  owner.dropped += flush_output();
  (err ? a.err_open : a.out_open) = false;
  if (!a.err_open && !a.out_open) attached_.erase(it);
}

void WorkerOutput::keep_last(WorkerHandle handle, bool err, std::string_view text) {
  if (text.find_first_not_of(" \t\r") == std::string_view::npos) return;
  std::deque<core::OutputLine>& kept = last_[handle];
  kept.push_back({err, std::string(text.substr(0, 2 * core::kLastWordsMax))});
  if (kept.size() > core::kLastLinesKept) kept.pop_front();
}

std::vector<core::OutputLine> WorkerOutput::take_last_lines(WorkerHandle handle) {
  const auto it = last_.find(handle);
  if (it == last_.end()) return {};
  std::vector<core::OutputLine> out(std::make_move_iterator(it->second.begin()),
                                    std::make_move_iterator(it->second.end()));
  last_.erase(it);
  return out;
}

void WorkerOutput::write_file(const std::string& name, App& a, std::string batch) {
  const std::size_t size = batch.size();
  if (size == 0) return;
  file_writer_[a.spec.file] = name;
  bool written = false;
  try {  // a sink that throws drops the batch, counted like a full queue
    written = sinks_.log_file_write({a.spec.file, a.spec.max_size, a.spec.keep}, std::move(batch));
  } catch (const std::exception& e) {
    spdlog::debug("{}: log file {}: {}", name, a.spec.file, e.what());
  }
  if (!written) a.dropped += size;
}

// Lines a file's writer accepted but could not write (the file was refused, a write failed) are
// dropped too: counted to the app that last wrote to that file.
void WorkerOutput::collect_lost() {
  for (const auto& [path, bytes] : sinks_.log_files_lost()) {
    const auto writer = file_writer_.find(path);
    if (writer != file_writer_.end()) app(writer->second).dropped += bytes;
  }
}

void WorkerOutput::line(const Source& source, bool err, std::string_view text, bool cut,
                        std::string& batch) {
  App& a = app(source.app);
  control::LogRecord record{
      ++seq_, clock_.unix_ms(), source.app, source.worker, source.generation, source.pid, err,
      cut,    std::string(text)};
  followers_.publish(record, [](const control::LogRecord& r) { return control::encode_log(r); });
  if (mode_of(a.spec) == config::LogSpec::Mode::Journal) {
    if (!to_journal(source, err, text)) a.dropped += text.size() + 1;
  } else {
    const std::string head = prefix(source.app, source.worker, err);
    if (a.spec.console) a.dropped += write_output_line(head + std::string(text), err);
    if (!a.spec.file.empty()) {
      batch += iso_time(record.time_ms);
      batch += ' ';
      batch += head;
      batch += printable(text);
      if (cut) batch += " [cut]";
      batch += '\n';
    }
  }
  a.ring.add(std::move(record));
}

// journald, with the app's fields, in the worker's name. A "<N>" prefix (sd-daemon(3)) sets the
// priority, as for a service's own stdout.
bool WorkerOutput::to_journal(const Source& source, bool err, std::string_view text) {
  int priority = err ? 3 : 6;
  if (text.size() >= 3 && text[0] == '<' && text[1] >= '0' && text[1] <= '7' && text[2] == '>') {
    priority = text[1] - '0';
    text.remove_prefix(3);
  }
  JournalEntry entry;
  add_journal_field(entry.fields, "MESSAGE", text);
  add_journal_field(entry.fields, "PRIORITY", std::to_string(priority));
  add_journal_field(entry.fields, "SYSLOG_IDENTIFIER", source.app);
  add_journal_field(entry.fields, "CLUSTERD_APP", source.app);
  add_journal_field(entry.fields, "CLUSTERD_WORKER", std::to_string(source.worker));
  add_journal_field(entry.fields, "CLUSTERD_GENERATION", std::to_string(source.generation));
  add_journal_field(entry.fields, "CLUSTERD_PID", std::to_string(source.pid));
  add_journal_field(entry.fields, "CLUSTERD_STREAM", err ? "stderr" : "stdout");
  entry.pid = source.pid;
  entry.uid = source.uid;
  entry.gid = source.gid;
  try {  // a sink that throws drops the entry, counted like a full socket
    return sinks_.journal_send(entry);
  } catch (const std::exception& e) {
    spdlog::debug("journal: {}", e.what());
    return false;
  }
}

void WorkerOutput::report_drops(const std::string& name, App& a) {
  if (a.dropped == a.dropped_reported || clock_.now() < a.report_next) return;
  spdlog::warn(
      "{}: {} bytes of worker output dropped ({} in all): where it goes did not keep up or failed",
      name, a.dropped - a.dropped_reported, a.dropped);
  a.dropped_reported = a.dropped;
  a.report_next = clock_.now() + kDropReportEvery;
}

void WorkerOutput::serve(const control::Request& request, const control::ReplyPtr& reply) {
  const RecordFilter filter = filter_of(request, clock_.unix_ms());
  const std::size_t count = history_of(request);
  std::vector<const control::LogRecord*> history;
  for (const auto& [name, a] : apps_) {
    if (request.app && name != *request.app) continue;
    const auto last = a.ring.last(filter, count);
    history.insert(history.end(), last.begin(), last.end());
  }
  std::sort(
      history.begin(), history.end(),
      [](const control::LogRecord* x, const control::LogRecord* y) { return x->seq < y->seq; });
  if (history.size() > count)
    history.erase(history.begin(), history.end() - static_cast<long>(count));
  followers_.answer(
      history, filter, request.follow, reply,
      [](const control::LogRecord& r) { return control::encode_log(r); },
      control::encode_done(std::to_string(history.size()) + " lines"));
}

void WorkerOutput::stop() { followers_.finish_all(control::encode_done("clusterd stopped")); }

std::uint64_t WorkerOutput::dropped(const std::string& name) {
  collect_lost();
  const auto it = apps_.find(name);
  return it == apps_.end() ? 0 : it->second.dropped;
}

std::string WorkerOutput::flush(const std::string& only) {
  std::string done;
  for (auto& [name, a] : apps_) {
    if (!only.empty() && name != only) continue;
    const std::size_t lines = a.ring.size();
    a.ring.clear();
    std::string what = name + ": " + std::to_string(lines) + (lines == 1 ? " line" : " lines");
    if (!a.spec.file.empty()) {
      bool queued = false;
      try {
        queued = sinks_.log_file_truncate({a.spec.file, a.spec.max_size, a.spec.keep});
      } catch (const std::exception& e) {
        spdlog::warn("{}: log file {}: {}", name, a.spec.file, e.what());
      }
      what += queued ? ", " + a.spec.file + " emptied" : ", " + a.spec.file + " NOT emptied";
    }
    done += (done.empty() ? "" : "; ") + what;
  }
  return "flushed " + (done.empty() ? std::string("nothing") : done);
}

}  // namespace clusterd::daemon
