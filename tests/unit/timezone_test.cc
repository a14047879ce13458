// The OS layer's time zones (the system's tz database through the C library), and the core's
// schedule on top of them: the rules the cron tests assume are the database's.
#include "supervisor/os/timezone.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "config/cron.h"
#include "supervisor/core/next_fire.h"

using namespace clusterd;

TEST_CASE("a zone's offset on both sides of its DST changes, TZ left as it was", "[cron]") {
  const std::int64_t paris_spring = 1711846800;  // 2024-03-31 01:00:00 UTC
  CHECK(os::utc_offset("Europe/Paris", paris_spring - 1) == 3600);
  CHECK(os::utc_offset("Europe/Paris", paris_spring) == 7200);
  const std::int64_t new_york_autumn = 1730613600;  // 2024-11-03 06:00:00 UTC
  CHECK(os::utc_offset("America/New_York", new_york_autumn - 1) == -14400);
  CHECK(os::utc_offset("America/New_York", new_york_autumn) == -18000);
  CHECK(os::utc_offset("Australia/Lord_Howe", 1728142200) == 39600);  // 2024-10-05 15:30 UTC
  CHECK(os::utc_offset("UTC", paris_spring) == 0);
  const char* tz = std::getenv("TZ");
  setenv("TZ", "Asia/Kolkata", 1);
  CHECK(os::utc_offset("local", paris_spring) == 19800);
  CHECK(os::utc_offset("Europe/Paris", paris_spring) == 7200);
  CHECK(std::string(std::getenv("TZ")) == "Asia/Kolkata");
  if (tz != nullptr) {
    setenv("TZ", tz, 1);
  } else {
    unsetenv("TZ");
  }
}

TEST_CASE("next fire with the tz database: 02:30 in Paris on the day it does not exist", "[cron]") {
  const config::Result<config::CronSchedule> s =
      config::parse_schedule("TZ=Europe/Paris 30 2 * * *");
  REQUIRE(s.value);
  const auto paris = [](std::int64_t t) { return os::utc_offset("Europe/Paris", t); };
  CHECK(core::next_fire(*s.value, 1711800000, paris) == 1711846800);  // 2024-03-30 12:00 UTC
  CHECK(core::next_fire(*s.value, 1711846800, paris) == 1711931400);  // 2024-04-01 00:30 UTC
}
