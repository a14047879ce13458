// A bounded history of records (worker output lines, lifecycle events) and the control clients
// following it: what `clusterctl logs` and `clusterctl events` read. Memory is bounded by a count
// and a byte budget; a follower that does not keep up is dropped by the control server (its
// reply's queue bound), never waited for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "supervisor/control/reply.h"

namespace clusterd::daemon {

/// Which records a client asked for.
struct RecordFilter {
  std::optional<std::string> app;
  std::optional<unsigned> worker;
  std::int64_t since_ms = 0;  // wall-clock time; older records are left out

  template <class Record>
  bool matches(const Record& r) const {
    if (app && r.app != *app) return false;
    if (worker && (static_cast<long long>(r.worker) != static_cast<long long>(*worker))) {
      return false;
    }
    return r.time_ms >= since_ms;
  }
};

/// The newest records, at most `max_records` of them and about `max_bytes` of text.
template <class Record>
class RecordRing {
 public:
  void set_limits(std::size_t max_records, std::size_t max_bytes) {
    max_records_ = max_records;
    max_bytes_ = max_bytes;
    trim();
  }
  void add(Record record) {
    if (max_records_ == 0) return;
    bytes_ += cost(record);
    ring_.push_back(std::move(record));
    trim();
  }
  void clear() {
    ring_.clear();
    bytes_ = 0;
  }
  /// The last `count` records that match, oldest first.
  std::vector<const Record*> last(const RecordFilter& filter, std::size_t count) const {
    std::vector<const Record*> out;
    for (auto it = ring_.rbegin(); it != ring_.rend() && out.size() < count; ++it) {
      if (filter.matches(*it)) out.push_back(&*it);
    }
    return {out.rbegin(), out.rend()};
  }
  std::size_t size() const { return ring_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  static std::size_t cost(const Record& r) { return sizeof(Record) + text_of(r).size(); }
  static const std::string& text_of(const Record& r) {
    if constexpr (requires { r.text; }) {
      return r.text;
    } else {
      return r.reason;
    }
  }
  void trim() {
    while (!ring_.empty() && (ring_.size() > max_records_ || bytes_ > max_bytes_)) {
      bytes_ -= cost(ring_.front());
      ring_.pop_front();
    }
  }

  std::deque<Record> ring_;
  std::size_t bytes_ = 0;
  std::size_t max_records_ = 1000;
  std::size_t max_bytes_ = 1 << 20;
};

/// Clients following new records, each with its filter.
template <class Record>
class Followers {
 public:
  /// A new follower. The ones that have gone are forgotten first: without records to publish,
  /// clients that follow and leave would pile up.
  void add(RecordFilter filter, control::ReplyPtr reply) {
    std::erase_if(followers_, [](const Entry& f) { return !f.reply->open(); });
    followers_.push_back({std::move(filter), std::move(reply)});
  }
  /// Sends `record` (encoded by `encode` at most once) to every open follower it matches, and
  /// forgets the ones that have gone.
  template <class Encode>
  void publish(const Record& record, Encode&& encode) {
    if (followers_.empty()) return;
    std::optional<control::ReplyLine> line;
    std::erase_if(followers_, [](const Entry& f) { return !f.reply->open(); });
    for (Entry& f : followers_) {
      if (!f.filter.matches(record)) continue;
      if (!line) line = encode(record);
      f.reply->send(*line);
    }
  }
  /// Answers a history request: `history` (oldest first), then either the follow goes on (this
  /// client gets every new match) or a last line says how many `noun` there were.
  template <class Encode>
  void answer(const std::vector<const Record*>& history, const RecordFilter& filter, bool follow,
              const control::ReplyPtr& reply, Encode&& encode,
              const control::ReplyLine& last_line) {
    for (const Record* r : history) reply->send(encode(*r));
    if (follow) {
      add(filter, reply);
    } else {
      reply->finish(last_line);
    }
  }
  /// Ends every follow with `last` (the daemon is stopping).
  void finish_all(const control::ReplyLine& last) {
    for (Entry& f : followers_) f.reply->finish(last);
    followers_.clear();
  }
  std::size_t size() const { return followers_.size(); }

 private:
  struct Entry {
    RecordFilter filter;
    control::ReplyPtr reply;
  };
  std::vector<Entry> followers_;
};

}  // namespace clusterd::daemon
