#include "files/deferred_interrupts.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace fp4moe::files {
namespace {

void Ignore(int) {}

TEST(DeferredInterruptsDeathTest, ASignalArrivingMeanwhileEndsTheProcessAtTheEnd) {
  EXPECT_EXIT(
      {
        ::signal(SIGINT, Ignore);  // even where the tool had a handler of its own
        {
          DeferredInterrupts deferred;
          ::raise(SIGINT);
          (void)!::write(STDERR_FILENO, "still running", 13);  // only recorded
        }
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGINT), "still running");
  EXPECT_EXIT(
      {
        { DeferredInterrupts deferred; }
        std::exit(3);
      },
      ::testing::ExitedWithCode(3), "");
}

TEST(DeferredInterruptsDeathTest, AnIgnoredSignalStaysIgnored) {
  EXPECT_EXIT(
      {
        ::signal(SIGTERM, SIG_IGN);
        {
          DeferredInterrupts deferred;
          ::raise(SIGTERM);
        }
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace fp4moe::files
