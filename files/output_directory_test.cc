#include "files/output_directory.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "files/failing_sync.h"
#include "files/interrupt_cleanup.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::files {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class OutputDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "/output_directory.XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
  }
  std::vector<std::string> Listing() const {
    std::vector<std::string> names;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir_)) {
      names.push_back(fs::relative(e.path(), dir_).string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path dir_;
};

TEST_F(OutputDirectoryTest, CommitRenamesTheTemporaryDirectoryIntoPlace) {
  auto out = OutputDirectory::Create((dir_ / "out").string());
  ASSERT_TRUE(out.ok()) << out.status();
  std::ofstream((fs::path((*out)->temp_path()) / "a.txt").string()) << "a";
  EXPECT_EQ(Listing().size(), 2u);  // the temporary directory and its file
  ASSERT_TRUE((*out)->Commit().ok());
  out->reset();
  EXPECT_THAT(Listing(), ElementsAre("out", "out/a.txt"));
}

TEST_F(OutputDirectoryTest, WithoutCommitNothingRemains) {
  {
    auto out = OutputDirectory::Create((dir_ / "out/").string());
    ASSERT_TRUE(out.ok()) << out.status();
    fs::create_directory(fs::path((*out)->temp_path()) / "sub");
    std::ofstream((fs::path((*out)->temp_path()) / "sub/b").string()) << "b";
  }
  EXPECT_THAT(Listing(), ElementsAre());
}

// The rename lasts only once the parent directory is synced: where that fails (a disk
// error), the directory goes back under its temporary name and is removed with it.
TEST_F(OutputDirectoryTest, AFailedSyncOfTheParentUndoesTheCommit) {
  {
    auto out = OutputDirectory::Create((dir_ / "out").string());
    ASSERT_TRUE(out.ok()) << out.status();
    std::ofstream((fs::path((*out)->temp_path()) / "a.txt").string()) << "a";
    FailingSync failing(dir_.string());
    const absl::Status status = (*out)->Commit();
    EXPECT_EQ(failing.failures(), 1);
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(std::string(status.message()),
                AllOf(HasSubstr("cannot sync directory"), HasSubstr(dir_.filename().string())));
    EXPECT_FALSE(fs::exists(dir_ / "out"));
    EXPECT_TRUE(fs::exists(fs::path((*out)->temp_path()) / "a.txt"));
  }
  EXPECT_THAT(Listing(), ElementsAre());
}

TEST_F(OutputDirectoryTest, AnInterruptionRemovesTheTemporaryDirectory) {
  EXPECT_EXIT(
      {
        RemoveTemporariesOnInterrupt("tool");
        auto out = OutputDirectory::Create((dir_ / "out").string());
        if (!out.ok()) std::exit(1);
        fs::create_directory(fs::path((*out)->temp_path()) / "sub");
        std::ofstream((fs::path((*out)->temp_path()) / "sub/shard").string()) << "half";
        ::kill(::getpid(), SIGTERM);
        ::sleep(10);
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGTERM), "interrupted by SIGTERM");
  EXPECT_THAT(Listing(), ElementsAre());
}

TEST_F(OutputDirectoryTest, RefusesAnExistingPath) {
  fs::create_directory(dir_ / "out");
  auto out = OutputDirectory::Create((dir_ / "out").string());
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("exists: refusing to overwrite it"));
  EXPECT_THAT(Listing(), ElementsAre("out"));
}

TEST_F(OutputDirectoryTest, CommitRefusesAPathThatAppearedMeanwhile) {
  auto out = OutputDirectory::Create((dir_ / "out").string());
  ASSERT_TRUE(out.ok()) << out.status();
  fs::create_directory(dir_ / "out");  // empty: a plain rename would replace it
  const absl::Status status = (*out)->Commit();
  EXPECT_THAT(status.message(), HasSubstr("cannot rename"));
  out->reset();
  EXPECT_THAT(Listing(), ElementsAre("out"));
}

TEST_F(OutputDirectoryTest, RefusesAMissingParent) {
  auto out = OutputDirectory::Create((dir_ / "no/out").string());
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("cannot create a temporary directory beside"));
}

}  // namespace
}  // namespace fp4moe::files
