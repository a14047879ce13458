// What others can make the master do as often as they like, bounded: warnings per key and minute
// (core/throttle.h), a rate per peer, a page rendered anew or served again; and the control
// socket's places and follow streams per role and uid (control/admission.h). Fake times, no socket.
#include "supervisor/core/throttle.h"

#include <catch2/catch.hpp>

#include "supervisor/control/admission.h"

using namespace clusterd;
using namespace std::chrono_literals;

namespace {
const core::TimePoint t0 = core::TimePoint{} + 1000h;
}

TEST_CASE("warning quota: the first line, then one a minute saying how many were left out") {
  core::WarningQuota quota;
  CHECK(quota.admit("uid 2: no role", t0) == 0u);
  for (int i = 0; i < 2999; ++i) CHECK_FALSE(quota.admit("uid 2: no role", t0 + 59s));
  CHECK(quota.admit("uid 3: no role", t0 + 1s) == 0u);  // another key has its own minute
  CHECK(quota.admit("uid 2: no role", t0 + 60s) == 2999u);
  CHECK_FALSE(quota.admit("uid 2: no role", t0 + 61s));
  CHECK(quota.admit("uid 2: no role", t0 + 121s) == 1u);
  CHECK(quota.admit("uid 2: no role", t0 + 300s) == 0u);
  CHECK_FALSE(quota.admit("uid 2: no role", t0 + 301s));
  // What is left out when it stops is said once, then forgotten.
  const auto left = quota.drain();
  REQUIRE(left.size() == 1);
  CHECK(left[0] == std::pair<std::string, std::uint64_t>{"uid 2: no role", 1});
  CHECK(quota.drain().empty());
  CHECK(quota.admit("uid 2: no role", t0 + 302s) == 0u);
}

TEST_CASE("warning quota: its table is bounded, keys it has no room for are counted as other") {
  core::WarningQuota quota(1min, 2);
  CHECK(quota.admit("a", t0) == 0u);
  CHECK(quota.admit("b", t0) == 0u);
  CHECK_FALSE(quota.admit("c", t0));        // no room: left out, counted
  CHECK_FALSE(quota.admit("a", t0));        // a has a warning left out: it stays
  CHECK(quota.admit("d", t0 + 61s) == 0u);  // b's minute is over with nothing to say: room
  CHECK(quota.keys() == 2);
  const auto left = quota.drain();
  REQUIRE(left.size() == 2);
  CHECK(left[0] == std::pair<std::string, std::uint64_t>{"a", 1});
  CHECK(left[1] == std::pair<std::string, std::uint64_t>{"other", 1});
}

TEST_CASE("token buckets: a burst, then the rate, per key, the table is bounded") {
  core::TokenBuckets rate(5, 10, 2);
  int served = 0;
  for (int i = 0; i < 100; ++i) served += rate.take("127.0.0.1", t0);
  CHECK(served == 10);
  CHECK(rate.take("::1", t0));  // another peer has its own burst
  CHECK_FALSE(rate.take("127.0.0.1", t0 + 100ms));
  CHECK(rate.take("127.0.0.1", t0 + 200ms));  // one token after 1/5 s
  CHECK_FALSE(rate.take("127.0.0.1", t0 + 200ms));
  served = 0;
  for (int i = 0; i < 100; ++i) served += rate.take("127.0.0.1", t0 + 1200ms);
  CHECK(served == 5);
  // A third peer while both places are taken and neither bucket is full: a shared bucket.
  CHECK(rate.take("10.0.0.1", t0 + 1200ms));
  CHECK(rate.keys() == 2);
  // Once a bucket has filled up again its place is free.
  CHECK(rate.take("10.0.0.2", t0 + 10s));
  CHECK(rate.keys() <= 2);
}

TEST_CASE("render budget: anew when changed or a second old, within a tenth of the time") {
  core::RenderBudget budget;
  CHECK(budget.render(std::nullopt, 7, t0));
  budget.spent(2ms);
  const core::Rendered page{t0, 7};
  CHECK_FALSE(budget.render(page, 7, t0));
  CHECK_FALSE(budget.render(page, 7, t0 + 999ms));
  CHECK(budget.render(page, 7, t0 + 1s));
  CHECK(budget.render(page, 8, t0 + 1ms));  // changed: the next scrape sees it
  CHECK(budget.render(page, 7, t0 - 1ms));  // a clock that went back: render
  // A page of thousands of workers (300 ms) with something changing all the time: the reserve
  // of 1 s goes, then one render per 3 s (a tenth of the time).
  core::RenderBudget dear;
  int renders = 0;
  core::Rendered last{t0, 0};
  for (int ms = 0; ms < 60000; ms += 10) {
    const core::TimePoint now = t0 + std::chrono::milliseconds(ms);
    if (dear.render(last, static_cast<std::uint64_t>(ms), now)) {
      ++renders;
      last = {now, static_cast<std::uint64_t>(ms)};
      dear.spent(300ms);
    }
  }
  CHECK(renders >= 20);
  CHECK(renders <= 4 + 60 / 3);
  // Nothing changing: a render a second at most, however often asked.
  core::RenderBudget cheap;
  renders = 0;
  last = {t0, 1};
  for (int ms = 0; ms < 10000; ++ms) {
    const core::TimePoint now = t0 + std::chrono::milliseconds(ms);
    if (cheap.render(last, 1, now)) {
      ++renders;
      last = {now, 1};
      cheap.spent(1ms);
    }
  }
  CHECK(renders == 9);  // at 1 s, 2 s, ... 9 s
}

TEST_CASE("admission: a quarter of the places is the admins', idle read ones make room") {
  using control::Admission;
  using control::Role;
  Admission a(control::AdmissionLimits{64});
  CHECK(a.limits().admin_reserve() == 16);
  CHECK(a.limits().read_places() == 48);
  for (int i = 0; i < 48; ++i) {
    REQUIRE(a.need(Role::Read) == Admission::Need::Nothing);
    a.enter(Role::Read);
  }
  CHECK(a.need(Role::Read) == Admission::Need::ReadPlace);
  CHECK(a.full(Role::Read) ==
        "too many clients of the read role (48 places, every one busy); try again later");
  for (int i = 0; i < 16; ++i) {
    REQUIRE(a.need(Role::Admin) == Admission::Need::Nothing);
    a.enter(Role::Admin);
  }
  CHECK(a.need(Role::Admin) == Admission::Need::AnyPlace);
  CHECK(a.full(Role::Admin) == "too many clients (64); try again later");
  a.leave(Role::Read);
  CHECK(a.need(Role::Admin) == Admission::Need::Nothing);
  CHECK(a.need(Role::Read) == Admission::Need::Nothing);
  a.enter(Role::Admin);  // an admin took the read place that was freed: full for both again
  CHECK(a.need(Role::Read) == Admission::Need::ReadPlace);
  CHECK(a.clients() == 64);
  CHECK(a.readers() == 47);
  // Small tables: one place for admins from two on; a single place is everyone's.
  CHECK(control::AdmissionLimits{1}.read_places() == 1);
  CHECK(control::AdmissionLimits{2}.read_places() == 1);
  CHECK(control::AdmissionLimits{4}.read_places() == 3);
}

TEST_CASE("admission: follow streams, 8 per uid whatever its role, half the places for read") {
  using control::Role;
  control::Admission a(control::AdmissionLimits{64});
  for (int i = 0; i < 8; ++i) REQUIRE_FALSE(a.start_follow(Role::Read, 65534));
  CHECK(a.start_follow(Role::Read, 65534) ==
        "too many follow streams for uid 65534 (8 open); end one first");
  for (int i = 0; i < 8; ++i) REQUIRE_FALSE(a.start_follow(Role::Admin, 0));
  CHECK(a.start_follow(Role::Admin, 0));  // root too: the places are everyone's
  a.end_follow(Role::Read, 65534);
  CHECK(a.follows_of(65534) == 7);
  CHECK_FALSE(a.start_follow(Role::Read, 65534));
  // The read role together: 32; uids 1000.. take the rest of them.
  for (uid_t uid = 1000; uid < 1003; ++uid) {
    for (int i = 0; i < 8; ++i) REQUIRE_FALSE(a.start_follow(Role::Read, uid));
  }
  CHECK(a.start_follow(Role::Read, 2000) ==
        "too many follow streams of the read role (32 open); try again later");
  CHECK(a.follows_of(2000) == 0);
  CHECK_FALSE(a.start_follow(Role::Admin, 1));  // admins are not the read role
  a.end_follow(Role::Read, 1000);
  CHECK_FALSE(a.start_follow(Role::Read, 2000));
}
