#include "experiments/run_program.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "files/interrupt_cleanup.h"

extern char** environ;

namespace fp4moe::experiments {
namespace {

constexpr absl::Duration kLongestPause = absl::Milliseconds(50);

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// $PATH, or what execvp and posix_spawnp search when it is unset.
std::string SearchPath() {
  if (const char* path = std::getenv("PATH")) return path;
  std::string path(::confstr(_CS_PATH, nullptr, 0), '\0');
  if (path.empty()) return "/bin:/usr/bin";
  ::confstr(_CS_PATH, path.data(), path.size());
  path.resize(path.size() - 1);  // confstr counts the terminating NUL
  return path;
}

}  // namespace

absl::Status RunProgram(const std::vector<std::string>& argv,
                        const std::string& working_directory, absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("RunProgram: no program given");
  const std::string command = absl::StrJoin(argv, " ");
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  int error = posix_spawn_file_actions_init(&actions);
  if (error == 0 && !working_directory.empty()) {
    // glibc >= 2.29; the child changes directory, this process keeps its own.
    error = posix_spawn_file_actions_addchdir_np(&actions, working_directory.c_str());
  }
  pid_t pid = 0;
  {
    // Started and recorded as one step: an interruption kills it before removing what it may be
    // writing into (files/interrupt_cleanup.h).
    const auto held = files::HoldOffInterrupts();
    if (error == 0) error = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    if (error == 0) files::RecordChildProcess(pid);
  }
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot start `%s`%s: %s", command,
                        working_directory.empty() ? "" : absl::StrCat(" in ", working_directory),
                        std::strerror(error)));
  }
  // Polled, so that the wait ends at the deadline (a few milliseconds' latency is nothing next
  // to a program's start).
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  // Each wait that may reap it forgets it in the same step.
  for (absl::Duration pause = absl::Milliseconds(1);; pause = std::min(2 * pause, kLongestPause)) {
    pid_t done;
    int wait_error;
    {
      const auto held = files::HoldOffInterrupts();
      done = ::waitpid(pid, &status, WNOHANG);
      wait_error = errno;
      if (done == pid || (done < 0 && wait_error != EINTR)) files::ForgetChildProcess(pid);
    }
    if (done == pid) break;
    if (done < 0 && wait_error != EINTR) {
      return absl::InternalError(
          absl::StrFormat("waiting for `%s`: %s", command, std::strerror(wait_error)));
    }
    if (absl::Now() >= deadline) {
      files::KillChildProcess(pid);
      return absl::DeadlineExceededError(absl::StrFormat(
          "`%s` did not finish within %s: killed", command, absl::FormatDuration(timeout)));
    }
    absl::SleepFor(pause);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  if (WIFEXITED(status)) {
    return absl::InternalError(
        absl::StrFormat("`%s` failed: exit status %d", command, WEXITSTATUS(status)));
  }
  if (WIFSIGNALED(status)) {
    return absl::InternalError(absl::StrFormat("`%s` was killed by signal %d (%s)", command,
                                               WTERMSIG(status), strsignal(WTERMSIG(status))));
  }
  return absl::InternalError(absl::StrFormat("`%s` ended with wait status %d", command, status));
}

std::optional<std::string> FindOnPath(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    return IsExecutableFile(name) ? std::optional<std::string>(name) : std::nullopt;
  }
  for (absl::string_view dir : absl::StrSplit(SearchPath(), ':')) {
    // An empty entry means the working directory, as for the shell.
    const std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return std::nullopt;
}

}  // namespace fp4moe::experiments
