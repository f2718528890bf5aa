#include "experiments/run_program.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

fs::path FreshDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(RunProgramTest, SucceedsOnExitStatusZero) {
  EXPECT_TRUE(RunProgram({"true"}, "", kTimeout).ok());
}

TEST(RunProgramTest, NamesTheProgramAndItsExitStatus) {
  const absl::Status s = RunProgram({"false", "some arg"}, "", kTimeout);
  EXPECT_THAT(s.message(), HasSubstr("`false some arg` failed: exit status 1"));
}

TEST(RunProgramTest, NamesTheSignalThatEndedIt) {
  const absl::Status s = RunProgram({"sh", "-c", "kill -TERM $$"}, "", kTimeout);
  EXPECT_THAT(s.message(), HasSubstr("was killed by signal 15"));
}

TEST(RunProgramTest, KillsAProgramStillRunningAtTheTimeout) {
  const absl::Time start = absl::Now();
  const absl::Status s = RunProgram({"sleep", "30"}, "", absl::Milliseconds(200));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("`sleep 30` did not finish within 200ms: killed"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(RunProgramTest, SaysWhyAProgramCannotStart) {
  const absl::Status s = RunProgram({"fp4moe-no-such-program"}, "", kTimeout);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("cannot start `fp4moe-no-such-program`"));
}

// Arguments reach the program as they are: shell syntax in them is never run.
TEST(RunProgramTest, PassesShellSyntaxThroughLiterally) {
  const fs::path dir = FreshDir("literal");
  const std::string name = "$(touch PWNED) `touch PWNED` ; touch PWNED 'q\" \n";
  ASSERT_TRUE(RunProgram({"touch", (dir / name).string()}, "", kTimeout).ok());
  EXPECT_TRUE(fs::exists(dir / name));
  EXPECT_FALSE(fs::exists(dir / "PWNED"));
  EXPECT_FALSE(fs::exists("PWNED"));
}

TEST(RunProgramTest, RunsInTheWorkingDirectoryGiven) {
  const fs::path dir = FreshDir("working directory");
  ASSERT_TRUE(RunProgram({"touch", "made_here"}, dir.string(), kTimeout).ok());
  EXPECT_TRUE(fs::exists(dir / "made_here"));
  EXPECT_FALSE(fs::exists("made_here"));
  EXPECT_THAT(RunProgram({"true"}, (dir / "absent").string(), kTimeout).message(),
              HasSubstr("cannot start `true` in "));
}

TEST(FindOnPathTest, FindsExecutablesOnPathOnly) {
  const fs::path dir = FreshDir("bin");
  std::ofstream(dir / "tool") << "#!/bin/sh\n";
  std::ofstream(dir / "data") << "not a program\n";
  fs::permissions(dir / "tool", fs::perms::owner_all);
  fs::permissions(dir / "data", fs::perms::owner_read | fs::perms::owner_write);
  fs::create_directory(dir / "subdir");
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path != nullptr ? old_path : "";
  ::setenv("PATH", ("/fp4moe/absent:" + dir.string()).c_str(), 1);
  EXPECT_EQ(FindOnPath("tool"), (dir / "tool").string());
  EXPECT_EQ(FindOnPath("data"), std::nullopt);    // not executable
  EXPECT_EQ(FindOnPath("subdir"), std::nullopt);  // not a file
  EXPECT_EQ(FindOnPath("absent"), std::nullopt);
  EXPECT_EQ(FindOnPath(""), std::nullopt);
  // Names with a slash are paths, not searched.
  EXPECT_EQ(FindOnPath((dir / "tool").string()), (dir / "tool").string());
  if (old_path != nullptr) {
    ::setenv("PATH", saved.c_str(), 1);
  } else {
    ::unsetenv("PATH");
  }
  EXPECT_NE(FindOnPath("sh"), std::nullopt);
}

}  // namespace
}  // namespace fp4moe::experiments
