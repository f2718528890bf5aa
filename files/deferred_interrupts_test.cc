#include "files/deferred_interrupts.h"

#include <signal.h>

#include <atomic>

#include "gtest/gtest.h"

namespace fp4moe::files {
namespace {

std::atomic<int> interrupts{0};
void CountInterrupt(int) { ++interrupts; }

TEST(DeferredInterruptsTest, ASignalArrivingMeanwhileIsRaisedAtTheEnd) {
  auto old_handler = ::signal(SIGINT, CountInterrupt);
  interrupts = 0;
  {
    DeferredInterrupts deferred;
    ::raise(SIGINT);
    EXPECT_EQ(interrupts, 0);  // only recorded
  }
  EXPECT_EQ(interrupts, 1);  // raised again, to the handler found before
  {
    DeferredInterrupts deferred;
  }
  EXPECT_EQ(interrupts, 1);  // nothing recorded, nothing raised
  ::raise(SIGINT);
  EXPECT_EQ(interrupts, 2);  // the handler is back
  ::signal(SIGINT, old_handler);
}

}  // namespace
}  // namespace fp4moe::files
