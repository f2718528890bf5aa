#ifndef FP4MOE_FILES_INTERRUPT_CLEANUP_H_
#define FP4MOE_FILES_INTERRUPT_CLEANUP_H_

// Temporary outputs (files beside an output, temporary directories) removed when a tool is
// interrupted, so that Ctrl-C (SIGINT), SIGTERM or SIGHUP during a long run leaves nothing
// behind. OutputSet and OutputDirectory record what they create here and forget it once it is
// committed or removed; a tool that calls RemoveTemporariesOnInterrupt in main gets the
// removal. The removal runs on a thread of its own, not in a signal handler, so it may take
// locks and walk directories; holding HoldOffInterrupts makes a step (creating and recording a
// temporary, renaming outputs into place) whole to it. A run that can end early and keep what
// it finished (compare's sweep) makes the first SIGINT a request to stop (StopAtFirstInterrupt).

#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>

namespace fp4moe::files {

enum class TemporaryKind {
  kFile,            // unlinked
  kTree,            // removed with everything in it
  kEmptyDirectory,  // removed only while empty (created for outputs that may be in it)
};

// Call first in main, before any thread starts (threads inherit the signal mask). From then on
// the signals that are not ignored go to a thread that removes every recorded temporary, in
// reverse order of recording, prints "TOOL: interrupted by SIGINT ..." on stderr, and ends the
// process with the signal's default action (exit status 130 for SIGINT in a shell). Where that
// thread cannot start (no memory for its stack), the signals keep their default action. The
// temporaries still recorded at exit() are removed too: a library that ends the process with
// exit() (libgomp, when it cannot start a thread) unwinds no stack, so their owners cannot.
void RemoveTemporariesOnInterrupt(std::string_view tool);

// For a run that can end early and keep what it finished: from now on the first SIGINT does not
// end the process but sets `stop` (for the run to check) and prints `notice` on stderr; a
// second SIGINT, or one arriving once `stop` is set, and SIGTERM or SIGHUP at any time, remove
// the temporaries and end the process as above. `stop` lives as long as the process.
void StopAtFirstInterrupt(std::atomic<bool>& stop, std::string_view notice);

// While the returned lock is held, an interruption waits; it may be taken again by the same
// thread.
std::unique_lock<std::recursive_mutex> HoldOffInterrupts();

void RecordTemporary(const std::string& path, TemporaryKind kind);
// After `path` was committed (renamed away) or removed.
void ForgetTemporary(const std::string& path);

// A process this one started that may write into a temporary (gnuplot drawing into a staging
// directory): the removal kills it (SIGKILL) and waits for it first, so that nothing writes into
// a temporary while or after it goes. Record it in the same HoldOffInterrupts as its start, and
// forget it in the same as the wait that reaps it (a reaped pid may be another process's).
void RecordChildProcess(pid_t pid);
void ForgetChildProcess(pid_t pid);
// Kills a recorded child (SIGKILL), reaps it and forgets it, as one step: what the removal does
// to each, and what its owner does to one that ran past its deadline.
void KillChildProcess(pid_t pid);

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_INTERRUPT_CLEANUP_H_
