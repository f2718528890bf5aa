#include "files/interrupt_cleanup.h"

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

extern char** environ;

namespace fp4moe::files {
namespace {

namespace fs = std::filesystem;

class InterruptCleanupDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "/interrupt_cleanup.XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
  }
  // Sent to the process, as Ctrl-C is, not to one thread.
  static void Interrupt(int signal_number) { ::kill(::getpid(), signal_number); }
  // As compare does: the first SIGINT asks to stop; a temporary `file` is being written.
  static void StartStoppableRun(std::atomic<bool>& stop, const std::string& file) {
    RemoveTemporariesOnInterrupt("tool");
    StopAtFirstInterrupt(stop, "stopping\n");
    std::ofstream(file) << "half";
    RecordTemporary(file, TemporaryKind::kFile);
  }
  // Records `tree`, starts a recorded child that keeps writing a file into it (its pid to
  // `pid_file`), and interrupts once the file is there.
  [[noreturn]] static void RunWritingChildAndInterrupt(const std::string& tree,
                                                       const std::string& pid_file) {
    RemoveTemporariesOnInterrupt("tool");
    fs::create_directories(tree);
    RecordTemporary(tree, TemporaryKind::kTree);
    const std::string script = "while :; do : > \"$0/plot\"; done";
    char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                    const_cast<char*>(script.c_str()), const_cast<char*>(tree.c_str()), nullptr};
    pid_t child = 0;
    {
      const auto held = HoldOffInterrupts();
      if (posix_spawnp(&child, "sh", nullptr, nullptr, argv, environ) != 0) std::exit(1);
      RecordChildProcess(child);
    }
    std::ofstream(pid_file) << child;
    for (int i = 0; i < 1000 && !fs::exists(tree + "/plot"); ++i) ::usleep(1'000);
    Interrupt(SIGINT);
    WaitToBeKilled();
  }
  [[noreturn]] static void WaitToBeKilled() {
    for (int i = 0; i < 1000; ++i) ::usleep(10'000);
    std::exit(0);
  }
  fs::path dir_;
};

TEST_F(InterruptCleanupDeathTest, RemovesWhatIsRecordedAndDiesOfTheSignal) {
  const std::string file = (dir_ / "out.tmp").string();
  const std::string tree = (dir_ / "tree.tmp").string();
  const std::string kept = (dir_ / "kept").string();
  EXPECT_EXIT(
      {
        RemoveTemporariesOnInterrupt("tool");
        std::ofstream(file) << "half";
        RecordTemporary(file, TemporaryKind::kFile);
        fs::create_directories(tree + "/sub");
        std::ofstream(tree + "/sub/shard") << "half";
        RecordTemporary(tree, TemporaryKind::kTree);
        fs::create_directory(kept);
        std::ofstream(kept + "/other") << "someone else's";
        RecordTemporary(kept, TemporaryKind::kEmptyDirectory);
        const std::string forgotten = (dir_ / "committed").string();
        std::ofstream(forgotten) << "whole";
        RecordTemporary(forgotten, TemporaryKind::kFile);
        ForgetTemporary(forgotten);
        Interrupt(SIGINT);
        WaitToBeKilled();
      },
      ::testing::KilledBySignal(SIGINT),
      "tool: interrupted by SIGINT: removed the unfinished outputs");
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(tree));
  EXPECT_TRUE(fs::exists(kept + "/other"));
  EXPECT_TRUE(fs::exists(dir_ / "committed"));
}

TEST_F(InterruptCleanupDeathTest, WaitsWhileHeldOff) {
  const std::string file = (dir_ / "out.tmp").string();
  EXPECT_EXIT(
      {
        RemoveTemporariesOnInterrupt("tool");
        {
          const auto held = HoldOffInterrupts();
          Interrupt(SIGTERM);
          ::usleep(100'000);
          (void)!::write(STDERR_FILENO, "still running\n", 14);
          std::ofstream(file) << "half";
          RecordTemporary(file, TemporaryKind::kFile);
        }
        WaitToBeKilled();
      },
      ::testing::KilledBySignal(SIGTERM), "still running\ntool: interrupted by SIGTERM");
  EXPECT_FALSE(fs::exists(file));
}

// As merge draws its plots: gnuplot, a child process, writes into a staging tree. merge's
// interrupt_test once found the tree left behind, emptied: the child was still writing while
// the tree went. The child is killed and reaped before the removal, so it is gone when the
// process dies (else it would outlive it, an orphan still writing).
TEST_F(InterruptCleanupDeathTest, KillsRecordedChildrenBeforeRemovingTheirOutputs) {
  const std::string tree = (dir_ / "plots.tmp").string();
  const std::string pid_file = (dir_ / "child.pid").string();
  EXPECT_EXIT(RunWritingChildAndInterrupt(tree, pid_file), ::testing::KilledBySignal(SIGINT),
      "tool: interrupted by SIGINT: removed the unfinished outputs");
  pid_t child = 0;
  std::ifstream(pid_file) >> child;
  ASSERT_GT(child, 0);
  const bool still_running = ::kill(child, 0) == 0;
  if (still_running) ::kill(child, SIGKILL);
  EXPECT_FALSE(still_running) << "the child outlived the interrupted process";
  EXPECT_FALSE(fs::exists(tree));
}

TEST_F(InterruptCleanupDeathTest, TheFirstSigintOnlyAsksToStopTheSecondEnds) {
  const std::string file = (dir_ / "out.tmp").string();
  static std::atomic<bool> stop{false};
  EXPECT_EXIT(
      {
        StartStoppableRun(stop, file);
        Interrupt(SIGINT);
        for (int i = 0; i < 1000 && !stop; ++i) ::usleep(10'000);
        if (!stop || !fs::exists(file)) std::exit(1);
        (void)!::write(STDERR_FILENO, "still running\n", 14);
        Interrupt(SIGINT);
        WaitToBeKilled();
      },
      ::testing::KilledBySignal(SIGINT),
      "stopping\nstill running\ntool: interrupted by SIGINT: removed the unfinished outputs");
  EXPECT_FALSE(fs::exists(file));
}

TEST_F(InterruptCleanupDeathTest, SigtermEndsEvenWhereSigintOnlyAsksToStop) {
  const std::string file = (dir_ / "out.tmp").string();
  static std::atomic<bool> stop{false};
  EXPECT_EXIT(
      {
        StartStoppableRun(stop, file);
        Interrupt(SIGTERM);
        WaitToBeKilled();
      },
      ::testing::KilledBySignal(SIGTERM), "tool: interrupted by SIGTERM");
  EXPECT_FALSE(fs::exists(file));
}

// As libgomp ends the process when it cannot start a thread: exit(), no stack unwound.
TEST_F(InterruptCleanupDeathTest, RemovesWhatIsStillRecordedAtExit) {
  const std::string tree = (dir_ / "tree.tmp").string();
  const std::string committed = (dir_ / "committed").string();
  EXPECT_EXIT(
      {
        RemoveTemporariesOnInterrupt("tool");
        fs::create_directories(tree + "/sub");
        std::ofstream(tree + "/sub/shard") << "half";
        RecordTemporary(tree, TemporaryKind::kTree);
        std::ofstream(committed) << "whole";
        RecordTemporary(committed, TemporaryKind::kFile);
        ForgetTemporary(committed);
        std::exit(1);
      },
      ::testing::ExitedWithCode(1), "");
  EXPECT_FALSE(fs::exists(tree));
  EXPECT_TRUE(fs::exists(committed));
}

TEST_F(InterruptCleanupDeathTest, AnIgnoredSignalStaysIgnored) {
  EXPECT_EXIT(
      {
        ::signal(SIGHUP, SIG_IGN);  // as under nohup
        RemoveTemporariesOnInterrupt("tool");
        Interrupt(SIGHUP);
        ::usleep(100'000);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace fp4moe::files
