#include "files/output_set.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "files/failing_sync.h"
#include "files/interrupt_cleanup.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/test_matchers.h"

namespace fp4moe::files {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Each test in a fresh directory of its own.
class OutputSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "/output_set.XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Every name under the test's directory, relative to it.
  std::vector<std::string> Listing() const {
    std::vector<std::string> names;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir_)) {
      names.push_back(e.path().lexically_relative(dir_).string());
    }
    return names;
  }

  static std::string Contents(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
};

TEST_F(OutputSetTest, CommitPutsEveryFileInPlaceAtOnce) {
  std::ofstream(Path("b.md")) << "old report";
  OutputSet outputs;
  absl::StatusOr<OutputFile*> a = outputs.Create(Path("a.csv"));
  absl::StatusOr<OutputFile*> b = outputs.Create(Path("b.md"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Write("header\n").ok());
  ASSERT_TRUE((*a)->Write("row\n").ok());
  ASSERT_TRUE((*b)->Write("new report").ok());
  // Nothing at the final paths until the commit; the old file untouched.
  EXPECT_FALSE(fs::exists(Path("a.csv")));
  EXPECT_EQ(Contents(Path("b.md")), "old report");
  EXPECT_EQ(Contents((*a)->temp_path()), "header\nrow\n");
  ASSERT_TRUE(outputs.Commit().ok());
  EXPECT_EQ(Contents(Path("a.csv")), "header\nrow\n");
  EXPECT_EQ(Contents(Path("b.md")), "new report");
  EXPECT_THAT(Listing(), UnorderedElementsAre("a.csv", "b.md"));
}

TEST_F(OutputSetTest, FilesGetTheModeOfANewFile) {
  const mode_t old_mask = ::umask(022);
  {
    OutputSet outputs;
    ASSERT_TRUE(outputs.Create(Path("a.csv")).ok());
    ASSERT_TRUE(outputs.Commit().ok());
  }
  ::umask(old_mask);
  struct stat st;
  ASSERT_EQ(::stat(Path("a.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(OutputSetTest, WithoutCommitNothingIsLeft) {
  std::ofstream(Path("kept.md")) << "old report";
  {
    OutputSet outputs;
    ASSERT_TRUE(outputs.MakeDirectories(Path("new/deeper")).ok());
    absl::StatusOr<OutputFile*> a = outputs.Create(Path("new/deeper/a.csv"));
    absl::StatusOr<OutputFile*> b = outputs.Create(Path("kept.md"));
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_TRUE((*a)->Write("written before the error").ok());
    absl::StatusOr<std::string> stage = outputs.MakeStagingDirectory(Path("new"));
    ASSERT_TRUE(stage.ok());
    std::ofstream(*stage + "/plot.png") << "png";
  }
  EXPECT_THAT(Listing(), UnorderedElementsAre("kept.md"));
  EXPECT_EQ(Contents(Path("kept.md")), "old report");
}

// A rename that fails half way through a commit (here: one temporary file removed by someone
// else) undoes the renames done before it and puts back the outputs they replaced.
TEST_F(OutputSetTest, AFailedRenameUndoesTheCommit) {
  std::ofstream(Path("replaced.md")) << "old report";
  {
    OutputSet outputs;
    absl::StatusOr<OutputFile*> replaced = outputs.Create(Path("replaced.md"));
    absl::StatusOr<OutputFile*> added = outputs.Create(Path("added.csv"));
    absl::StatusOr<OutputFile*> lost = outputs.Create(Path("lost.csv"));
    ASSERT_TRUE(replaced.ok() && added.ok() && lost.ok());
    ASSERT_TRUE((*replaced)->Write("new report").ok());
    ASSERT_EQ(::unlink((*lost)->temp_path().c_str()), 0);
    const absl::Status status = outputs.Commit();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound,
                                 AllOf(HasSubstr("cannot rename"), HasSubstr("lost.csv"))));
    EXPECT_EQ(Contents(Path("replaced.md")), "old report");
    EXPECT_FALSE(fs::exists(Path("added.csv")));
  }
  EXPECT_THAT(Listing(), UnorderedElementsAre("replaced.md"));
  EXPECT_EQ(Contents(Path("replaced.md")), "old report");
}

// The renames last only once their directory is synced: where that sync fails (a disk error),
// the commit is undone like a failed rename, the replaced output back in place.
TEST_F(OutputSetTest, AFailedDirectorySyncUndoesTheCommit) {
  std::ofstream(Path("replaced.md")) << "old report";
  {
    OutputSet outputs;
    absl::StatusOr<OutputFile*> replaced = outputs.Create(Path("replaced.md"));
    absl::StatusOr<OutputFile*> added = outputs.Create(Path("added.csv"));
    ASSERT_TRUE(replaced.ok() && added.ok());
    ASSERT_TRUE((*replaced)->Write("new report").ok());
    absl::Status status;
    {
      FailingSync failing(dir_.string());
      status = outputs.Commit();
      EXPECT_EQ(failing.failures(), 1);
    }
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(std::string(status.message()),
                AllOf(HasSubstr("cannot sync directory"), HasSubstr(dir_.filename().string()),
                      HasSubstr("Input/output error")));
    EXPECT_EQ(Contents(Path("replaced.md")), "old report");
    EXPECT_FALSE(fs::exists(Path("added.csv")));
  }
  EXPECT_THAT(Listing(), UnorderedElementsAre("replaced.md"));
}

TEST_F(OutputSetTest, AnInterruptionRemovesTheTemporaries) {
  EXPECT_EXIT(
      {
        RemoveTemporariesOnInterrupt("tool");
        OutputSet outputs;
        if (!outputs.MakeDirectories(Path("new")).ok()) std::exit(1);
        absl::StatusOr<OutputFile*> a = outputs.Create(Path("new/a.csv"));
        absl::StatusOr<std::string> stage = outputs.MakeStagingDirectory(Path("new"));
        if (!a.ok() || !stage.ok() || !(*a)->Write("half").ok()) std::exit(1);
        std::ofstream(*stage + "/plot.png") << "half";
        ::kill(::getpid(), SIGINT);
        ::sleep(10);
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGINT), "interrupted by SIGINT: removed the unfinished outputs");
  EXPECT_THAT(Listing(), UnorderedElementsAre());
}

TEST_F(OutputSetTest, KeepsADirectoryItCreatedWhereSomeoneElsePutAFile) {
  {
    OutputSet outputs;
    ASSERT_TRUE(outputs.MakeDirectories(Path("new/plots/")).ok());
    std::ofstream(Path("new/theirs.txt")) << "not ours";
  }
  EXPECT_THAT(Listing(), UnorderedElementsAre("new", "new/theirs.txt"));
}

TEST_F(OutputSetTest, StagedFilesMoveIntoTheirDirectory) {
  std::ofstream(Path("old.png")) << "old";
  OutputSet outputs;
  absl::StatusOr<std::string> stage = outputs.MakeStagingDirectory(dir_.string());
  ASSERT_TRUE(stage.ok()) << stage.status();
  std::ofstream(*stage + "/old.png") << "redrawn";
  std::ofstream(*stage + "/new.png") << "drawn";
  EXPECT_THAT(Listing(), ::testing::SizeIs(4));
  ASSERT_TRUE(outputs.Commit().ok());
  EXPECT_THAT(Listing(), UnorderedElementsAre("old.png", "new.png"));
  EXPECT_EQ(Contents(Path("old.png")), "redrawn");
}

TEST_F(OutputSetTest, WriteErrorsNameTheFinalPath) {
  // A file size limit makes writes past it fail with EFBIG, as a full disk fails them with
  // ENOSPC (SIGXFSZ ignored, as it would otherwise end the process).
  OutputSet outputs;
  absl::StatusOr<OutputFile*> a = outputs.Create(Path("a.csv"));
  ASSERT_TRUE(a.ok());
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit limit = old_limit;
  limit.rlim_cur = 10;
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  const absl::Status status = (*a)->Write("more than ten bytes");
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kOutOfRange,
                               AllOf(HasSubstr("cannot write " + Path("a.csv")),
                                     HasSubstr("File too large"))));
}

TEST_F(OutputSetTest, RefusesToReplaceWhatIsNotARegularFile) {
  // The tools check their outputs before writing; this is what stands if a FIFO appears later.
  OutputSet outputs;
  ASSERT_TRUE(outputs.Create(Path("a.csv")).ok());
  ASSERT_TRUE(outputs.Create(Path("fifo")).ok());
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0600), 0);
  EXPECT_THAT(outputs.Commit(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(Path("fifo") + " exists and is a FIFO, not a regular file: "
                                                "refusing to replace it")));
  struct stat st;
  ASSERT_EQ(::lstat(Path("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // Checked before any rename: the other output is not in place either.
  EXPECT_FALSE(fs::exists(Path("a.csv")));
}

TEST_F(OutputSetTest, ReplacesASymlinkNotItsTarget) {
  std::ofstream(Path("target.csv")) << "target";
  fs::create_symlink("target.csv", Path("link.csv"));
  OutputSet outputs;
  absl::StatusOr<OutputFile*> file = outputs.Create(Path("link.csv"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Write("new").ok());
  ASSERT_TRUE(outputs.Commit().ok());
  EXPECT_FALSE(fs::is_symlink(Path("link.csv")));
  EXPECT_EQ(Contents(Path("link.csv")), "new");
  EXPECT_EQ(Contents(Path("target.csv")), "target");
}

TEST_F(OutputSetTest, CreateNeedsTheDirectory) {
  OutputSet outputs;
  EXPECT_THAT(outputs.Create(Path("missing/a.csv")).status(),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("cannot create a temporary file beside " +
                                 Path("missing/a.csv"))));
  EXPECT_THAT(Listing(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace fp4moe::files
