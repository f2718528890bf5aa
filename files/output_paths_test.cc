#include "files/output_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::files {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Each test in a fresh directory of its own, which is also the working directory, so that
// relative spellings ("in", "./in") name files there.
class OutputPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / test->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    old_cwd_ = fs::current_path();
    fs::current_path(dir_);
    std::ofstream("in.safetensors") << "input";
    std::ofstream("other.safetensors") << "other";
  }
  void TearDown() override { fs::current_path(old_cwd_); }

  static absl::Status CheckOutput(const std::string& output) {
    return CheckOutputPaths({{"--input", "in.safetensors"}}, {{"--output", output}});
  }

  fs::path dir_, old_cwd_;
};

TEST_F(OutputPathsTest, RefusesTheInputsOwnPath) {
  const absl::Status s = CheckOutput("in.safetensors");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--output=in.safetensors is the same file as input "
                                     "--input=in.safetensors: refusing to overwrite an input"));
}

TEST_F(OutputPathsTest, RefusesADotSlashSpelling) {
  EXPECT_THAT(CheckOutput("./in.safetensors").message(),
              HasSubstr("--output=./in.safetensors is the same file as input"));
  fs::create_directory("sub");
  EXPECT_THAT(CheckOutput("sub/../in.safetensors").message(), HasSubstr("same file as input"));
}

TEST_F(OutputPathsTest, RefusesAnAbsoluteSpelling) {
  const std::string absolute = (dir_ / "in.safetensors").string();
  EXPECT_THAT(CheckOutput(absolute).message(),
              HasSubstr(absolute + " is the same file as input --input=in.safetensors"));
}

TEST_F(OutputPathsTest, RefusesASymlinkToTheInput) {
  fs::create_symlink("in.safetensors", "link.safetensors");
  EXPECT_THAT(CheckOutput("link.safetensors").message(), HasSubstr("same file as input"));
  // A symlinked directory on the way counts as much.
  fs::create_directory_symlink(".", "here");
  EXPECT_THAT(CheckOutput("here/in.safetensors").message(), HasSubstr("same file as input"));
}

TEST_F(OutputPathsTest, RefusesAHardLinkToTheInput) {
  fs::create_hard_link("in.safetensors", "hard.safetensors");
  EXPECT_THAT(CheckOutput("hard.safetensors").message(),
              HasSubstr("--output=hard.safetensors is the same file as input"));
}

TEST_F(OutputPathsTest, AllowsAnotherExistingFile) {
  EXPECT_TRUE(CheckOutput("other.safetensors").ok());
}

TEST_F(OutputPathsTest, AllowsAnOutputThatDoesNotExistYet) {
  EXPECT_TRUE(CheckOutput("new.safetensors").ok());
  EXPECT_TRUE(CheckOutput("new_dir/new.safetensors").ok());
  EXPECT_FALSE(fs::exists("new.safetensors"));
  EXPECT_FALSE(fs::exists("new_dir"));
}

TEST_F(OutputPathsTest, SkipsEmptyPathsAndMissingInputs) {
  EXPECT_TRUE(CheckOutputPaths({{"--input", "absent.safetensors"}, {"--weights", ""}},
                               {{"--output", "out.safetensors"}, {"--markdown", ""}})
                  .ok());
}

TEST_F(OutputPathsTest, RefusesDevNull) {
  const absl::Status s = CheckOutput("/dev/null");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--output=/dev/null exists and is a character device, not "
                                     "a regular file: refusing to write over it"));
}

TEST_F(OutputPathsTest, RefusesADirectory) {
  fs::create_directory("out.safetensors");
  EXPECT_THAT(CheckOutput("out.safetensors").message(),
              HasSubstr("--output=out.safetensors exists and is a directory"));
}

TEST_F(OutputPathsTest, RefusesAFifo) {
  ASSERT_EQ(::mkfifo("fifo", 0600), 0);
  EXPECT_THAT(CheckOutput("fifo").message(), HasSubstr("--output=fifo exists and is a FIFO"));
}

TEST_F(OutputPathsTest, RefusesTwoOutputsThatAreOneFile) {
  // Existing: compared by inode.
  absl::Status s = CheckOutputPaths(
      {}, {{"--csv", "other.safetensors"}, {"--markdown", "./other.safetensors"}});
  EXPECT_THAT(s.message(), HasSubstr("--markdown=./other.safetensors is the same file as output "
                                     "--csv=other.safetensors"));
  // Not yet written: compared by resolved path, a symlinked directory included.
  fs::create_directory_symlink(".", "here");
  s = CheckOutputPaths({}, {{"--csv", "r.csv"}, {"--markdown", "here/r.csv"}});
  EXPECT_THAT(s.message(),
              HasSubstr("--markdown=here/r.csv is the same file as output --csv=r.csv"));
  // A dangling symlink names the file it would create.
  fs::create_symlink("target.md", "dangling.md");
  s = CheckOutputPaths({}, {{"--markdown", "dangling.md"}, {"plot file", "target.md"}});
  EXPECT_THAT(s.message(),
              HasSubstr("plot file target.md is the same file as output --markdown=dangling.md"));
  EXPECT_TRUE(CheckOutputPaths({}, {{"--csv", "r.csv"}, {"--markdown", "r.md"}}).ok());
}

TEST_F(OutputPathsTest, NamesDescribedPathsWithoutAnEqualsSign) {
  const absl::Status s = CheckOutputPaths({{"shard CSV", "in.safetensors"}},
                                          {{"--csv", "in.safetensors"}});
  EXPECT_THAT(s.message(), HasSubstr("--csv=in.safetensors is the same file as input shard CSV "
                                     "in.safetensors"));
}

}  // namespace
}  // namespace fp4moe::files
