#include "files/input_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/test_matchers.h"

namespace fp4moe::files {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

TEST(InputFilesTest, ReadsARegularFile) {
  const std::string path = TempDir() + "/regular.txt";
  std::ofstream(path) << "name: \"tiny\"\n";
  absl::StatusOr<std::string> text = ReadRegularFile(path, "sweep config", 1 << 20);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "name: \"tiny\"\n");
}

TEST(InputFilesTest, RefusesWhatIsNotARegularFileWithoutWaiting) {
  const std::string fifo = TempDir() + "/a_fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // A blocking open of a FIFO would wait for a writer forever.
  EXPECT_THAT(ReadRegularFile(fifo, "sweep config", 1 << 20).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("sweep config"), HasSubstr("a_fifo is a FIFO"))));
  EXPECT_THAT(ReadRegularFile("/dev/zero", "shard CSV", 1 << 20).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/dev/zero is a character device")));
  EXPECT_THAT(OpenRegularFile(TempDir(), "checkpoint").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
  EXPECT_THAT(OpenRegularFile(TempDir() + "/absent", "checkpoint").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("cannot open checkpoint")));
}

TEST(InputFilesTest, RefusesAFileOverTheLimitBeforeReading) {
  const std::string path = TempDir() + "/large.txt";
  std::ofstream(path) << std::string(2000, 'x');
  EXPECT_THAT(ReadRegularFile(path, "sweep config", 1000).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("large.txt is 2000 bytes; the limit is 1000")));
}

}  // namespace
}  // namespace fp4moe::files
