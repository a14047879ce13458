#include "supervisor/daemon/event_log.h"

#include <spdlog/spdlog.h>

#include "supervisor/logging.h"

namespace clusterd::daemon {

namespace {
constexpr std::size_t kDefaultHistory = 20;
}

RecordFilter filter_of(const control::Request& request, std::int64_t now_ms) {
  RecordFilter filter;
  filter.app = request.app;
  filter.worker = request.worker;
  if (request.since_ms) filter.since_ms = now_ms - static_cast<std::int64_t>(*request.since_ms);
  return filter;
}

std::size_t history_of(const control::Request& request) {
  if (request.lines) return *request.lines;
  // --since alone: everything since then that is still kept
  return request.since_ms ? static_cast<std::size_t>(-1) : kDefaultHistory;
}

void EventLog::record(control::EventRecord event, Level level, const std::string& line) {
  event.seq = ++seq_;
  event.time_ms = clock_.unix_ms();
  {
    const LogFields fields{event.app, event.worker, event.generation, event.pid, event.kind};
    const LogScope scope(fields);
    spdlog::log(level == Level::Error     ? spdlog::level::err
                : level == Level::Warning ? spdlog::level::warn
                                          : spdlog::level::info,
                "{}", line);
  }
  followers_.publish(event, [](const control::EventRecord& e) { return control::encode_event(e); });
  ring_.add(std::move(event));
}

void EventLog::serve(const control::Request& request, const control::ReplyPtr& reply) {
  const RecordFilter filter = filter_of(request, clock_.unix_ms());
  const auto history = ring_.last(filter, history_of(request));
  followers_.answer(
      history, filter, request.follow, reply,
      [](const control::EventRecord& e) { return control::encode_event(e); },
      control::encode_done(std::to_string(history.size()) + " events"));
}

void EventLog::stop() { followers_.finish_all(control::encode_done("clusterd stopped")); }

}  // namespace clusterd::daemon
