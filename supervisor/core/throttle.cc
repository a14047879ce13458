#include "supervisor/core/throttle.h"

#include <algorithm>
#include <iterator>

namespace clusterd::core {

WarningQuota::WarningQuota(Duration period, std::size_t max_keys)
    : period_(period), max_keys_(max_keys) {}

std::optional<std::uint64_t> WarningQuota::admit(const std::string& key, TimePoint now) {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    if (keys_.size() >= max_keys_) {
      // Make room: a key whose period is over with nothing left out has nothing to remember.
      std::erase_if(keys_, [&](const auto& entry) {
        return now >= entry.second.next && entry.second.skipped == 0;
      });
    }
    if (keys_.size() >= max_keys_) {
      ++other_;
      return std::nullopt;
    }
    keys_.emplace(key, Entry{later(now, period_), 0});
    return 0;
  }
  Entry& entry = it->second;
  if (now < entry.next) {
    ++entry.skipped;
    return std::nullopt;
  }
  const std::uint64_t skipped = entry.skipped;
  entry = Entry{later(now, period_), 0};
  return skipped;
}

std::vector<std::pair<std::string, std::uint64_t>> WarningQuota::drain() {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (auto& [key, entry] : keys_) {
    if (entry.skipped > 0) out.emplace_back(key, entry.skipped);
  }
  if (other_ > 0) out.emplace_back("other", other_);
  keys_.clear();
  other_ = 0;
  return out;
}

TokenBuckets::TokenBuckets(double per_second, double burst, std::size_t max_keys)
    : per_second_(per_second), burst_(burst), max_keys_(max_keys) {}

void TokenBuckets::refill(Bucket& bucket, TimePoint now) const {
  if (now <= bucket.at) return;
  const double seconds = std::chrono::duration<double>(now - bucket.at).count();
  bucket.tokens = std::min(burst_, bucket.tokens + seconds * per_second_);
  bucket.at = now;
}

bool TokenBuckets::take(const std::string& key, TimePoint now) {
  auto it = buckets_.find(key);
  if (it == buckets_.end() && buckets_.size() >= max_keys_) {
    // A bucket that has filled up again says nothing a new one would not.
    for (auto at = buckets_.begin(); at != buckets_.end();) {
      refill(at->second, now);
      at = at->second.tokens >= burst_ ? buckets_.erase(at) : std::next(at);
    }
  }
  Bucket* bucket = nullptr;
  if (it != buckets_.end()) {
    bucket = &it->second;
  } else if (buckets_.size() < max_keys_) {
    bucket = &buckets_.emplace(key, Bucket{burst_, now}).first->second;
  } else {
    if (!shared_used_) shared_ = Bucket{burst_, now};
    shared_used_ = true;
    bucket = &shared_;
  }
  refill(*bucket, now);
  if (bucket->tokens < 1) return false;
  bucket->tokens -= 1;
  return true;
}

bool RenderBudget::render(const std::optional<Rendered>& last, std::uint64_t version,
                          TimePoint now) {
  if (at_ && now > *at_) {
    reserve_ = std::min(kReserveSeconds,
                        reserve_ + kShare * std::chrono::duration<double>(now - *at_).count());
  }
  if (!at_ || now > *at_) at_ = now;
  if (!last) return true;
  if (version == last->version && now >= last->at && now - last->at < kPageReuse) return false;
  return reserve_ > 0;
}

void RenderBudget::spent(std::chrono::microseconds cost) {
  reserve_ -= std::chrono::duration<double>(cost).count();
}

}  // namespace clusterd::core
