// Bounds on what others can make the master do as often as they like: write a warning (a refused
// connection, a forged datagram), answer a peer, render a page. Pure: the caller passes the time,
// and every table is bounded in size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "supervisor/core/types.h"

namespace clusterd::core {

/// At most one log line per key and period: the first warning is logged, those after it within
/// the period are counted, and the next line logged says how many were left out in between.
class WarningQuota {
 public:
  explicit WarningQuota(Duration period = std::chrono::minutes(1), std::size_t max_keys = 1024);
  /// nullopt: leave this warning out of the log. Otherwise log it, with the number of warnings
  /// of `key` left out since its last line (0: none).
  std::optional<std::uint64_t> admit(const std::string& key, TimePoint now);
  /// The keys with warnings left out since their last line, and how many (oldest key first);
  /// they are forgotten. Warnings of keys beyond `max_keys` come last, under the key "other".
  std::vector<std::pair<std::string, std::uint64_t>> drain();
  std::size_t keys() const { return keys_.size(); }

 private:
  struct Entry {
    TimePoint next;             // no line for this key before then
    std::uint64_t skipped = 0;  // left out since its last line
  };
  Duration period_;
  std::size_t max_keys_;
  std::map<std::string, Entry> keys_;
  std::uint64_t other_ = 0;  // left out: keys the table had no room for
};

/// A rate per key (a peer): `burst` at once, then `per_second` on average. Keys the table has no
/// room for share one bucket.
class TokenBuckets {
 public:
  TokenBuckets(double per_second, double burst, std::size_t max_keys = 4096);
  /// Whether `key` may have one more now; if so, it is counted.
  bool take(const std::string& key, TimePoint now);
  std::size_t keys() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint at;
  };
  void refill(Bucket& bucket, TimePoint now) const;
  double per_second_;
  double burst_;
  std::size_t max_keys_;
  std::map<std::string, Bucket> buckets_;
  Bucket shared_;  // for keys beyond max_keys
  bool shared_used_ = false;
};

/// When and from what a page was rendered (the metrics page).
struct Rendered {
  TimePoint at;
  std::uint64_t version = 0;  // of what it shows: anything counted changes it
};
/// A page this young is served again to a scraper that finds nothing counted changed.
inline constexpr Duration kPageReuse = std::chrono::seconds(1);

/// Whether a page is rendered anew or the last one served again: anew when there is none, when
/// what it shows has changed since, or when it is kPageReuse old; but only while rendering has
/// taken less than a tenth of the time on average (a reserve of 1 s of rendering, refilled at
/// 100 ms a second). Past that the last page is served until the reserve is back, however often
/// it is asked for and whatever changes.
class RenderBudget {
 public:
  static constexpr double kReserveSeconds = 1.0;
  static constexpr double kShare = 0.1;
  /// Whether to render anew at `now`, what the page shows being at `version`; `last` is the page
  /// served so far (nullopt: none yet).
  bool render(const std::optional<Rendered>& last, std::uint64_t version, TimePoint now);
  /// A render took `cost`.
  void spent(std::chrono::microseconds cost);

 private:
  double reserve_ = kReserveSeconds;  // seconds of rendering left; below 0 after a dear one
  std::optional<TimePoint> at_;       // when it was last refilled
};

}  // namespace clusterd::core
