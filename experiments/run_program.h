#ifndef FP4MOE_EXPERIMENTS_RUN_PROGRAM_H_
#define FP4MOE_EXPERIMENTS_RUN_PROGRAM_H_

// Starting another program (gnuplot) from an argument vector, never through a shell: paths the
// user gave, whatever characters they hold, stay arguments and are never parsed as commands.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fp4moe::experiments {

// Runs argv[0] (looked up on $PATH when it has no slash) with argv[1..] as its arguments, in
// `working_directory` when not empty, and waits for it, at most `timeout`: a program still running
// then (gnuplot spins when its memory is limited) is killed and the call is DeadlineExceeded.
// OK when it exits with status 0; otherwise an error naming the program and its exit status,
// the signal that ended it, or why it could not start.
absl::Status RunProgram(const std::vector<std::string>& argv,
                        const std::string& working_directory, absl::Duration timeout);

// The path of an executable regular file called `name` in one of $PATH's directories (the
// system default when $PATH is unset), searched the way RunProgram's start searches them.
std::optional<std::string> FindOnPath(const std::string& name);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_RUN_PROGRAM_H_
