// CatchOutOfMemory and StrFormatOrBadAlloc under allocations made to fail: this binary's
// operator new throws std::bad_alloc while g_fail_allocations is set on the calling thread.
#include "files/out_of_memory.h"

#include <cstdlib>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {
thread_local bool g_fail_allocations = false;
}  // namespace

void* operator new(std::size_t size) {
  void* p = g_fail_allocations ? nullptr : std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace fp4moe::files {
namespace {

using ::testing::HasSubstr;

// Allocations fail from construction to destruction.
struct FailingAllocations {
  FailingAllocations() { g_fail_allocations = true; }
  ~FailingAllocations() { g_fail_allocations = false; }
};

// Longer than any string kept inline, so that formatting it must allocate.
constexpr char kDoing[] = "loading expert %d of a layer whose name is long enough";

TEST(StrFormatOrBadAllocTest, GivesStrFormatsText) {
  EXPECT_EQ(StrFormatOrBadAlloc(kDoing, 7), absl::StrFormat(kDoing, 7));
  EXPECT_EQ(StrFormatOrBadAlloc("%s", ""), "");
  EXPECT_EQ(StrFormatOrBadAlloc("%.1f GB", 2.5e9 / 1e9), "2.5 GB");
}

TEST(StrFormatOrBadAllocTest, ThrowsWhereItCannotAllocate) {
  FailingAllocations failing;
  EXPECT_THROW(StrFormatOrBadAlloc(kDoing, 7), std::bad_alloc);
}

TEST(CatchOutOfMemoryTest, ReturnsTheStepsResult) {
  const absl::StatusOr<int> r = CatchOutOfMemory([] { return std::string("never"); },
                                                 [] { return absl::StatusOr<int>(3); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
}

TEST(CatchOutOfMemoryTest, NamesWhatRanOutOfMemory) {
  const absl::StatusOr<int> r = CatchOutOfMemory(
      [] { return StrFormatOrBadAlloc(kDoing, 7); },
      []() -> absl::StatusOr<int> { throw std::bad_alloc(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("loading expert 7 of a layer"));
  EXPECT_THAT(r.status().message(), HasSubstr("out of memory"));
}

// Where not even the message can be allocated (other threads may still hold their memory), one
// error built beforehand, and no std::terminate.
TEST(CatchOutOfMemoryTest, NamesNothingWhereTheMessageCannotBeAllocated) {
  absl::Status status;
  {
    FailingAllocations failing;
    status = CatchOutOfMemory([] { return StrFormatOrBadAlloc(kDoing, 7); },
                              []() -> absl::Status { throw std::bad_alloc(); });
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("out of memory"));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("loading expert")));
}

}  // namespace
}  // namespace fp4moe::files
