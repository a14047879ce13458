#include "supervisor/core/boxed.h"

#include <catch2/catch.hpp>
#include <string>

#include "supervisor/core/types.h"

using clusterd::core::Boxed;
using clusterd::core::ExitStatus;

TEST_CASE("Boxed: an optional on the heap, with std::optional's value semantics") {
  Boxed<ExitStatus> none;
  CHECK_FALSE(none);
  CHECK(none.get() == nullptr);
  Boxed<ExitStatus> exit = ExitStatus::exited(3);
  REQUIRE(exit);
  CHECK(exit->to_string() == "exit 3");
  // A copy is its own value: changing one leaves the other.
  Boxed<ExitStatus> copy = exit;
  CHECK(copy == exit);
  CHECK(copy.get() != exit.get());
  copy = ExitStatus::signaled(9);
  CHECK(exit->to_string() == "exit 3");
  CHECK_FALSE(copy == exit);
  // Assigned over, emptied, moved.
  none = copy;
  CHECK(none == copy);
  none = std::nullopt;
  CHECK_FALSE(none);
  CHECK_FALSE(none == copy);
  CHECK(Boxed<ExitStatus>() == Boxed<ExitStatus>());
  Boxed<ExitStatus> moved = std::move(copy);
  CHECK(moved->to_string() == "signal SIGKILL");
}
