#ifndef FP4MOE_FILES_DEFERRED_INTERRUPTS_H_
#define FP4MOE_FILES_DEFERRED_INTERRUPTS_H_

// Holds off Ctrl-C (SIGINT), SIGTERM and SIGHUP while a tool writes and commits its outputs, so
// that an interruption cannot leave them half written: a signal that arrives meanwhile is only
// recorded, and once the scope ends (after the outputs were committed or removed) it is raised
// again with its default action, which ends the process. Signals the process ignores stay
// ignored. Handlers, not a blocked signal mask: a signal sent to the process goes to any thread
// that does not block it (OpenMP's idle workers too). One at a time: scopes do not nest.

namespace fp4moe::files {

class DeferredInterrupts {
 public:
  DeferredInterrupts();
  DeferredInterrupts(const DeferredInterrupts&) = delete;
  DeferredInterrupts& operator=(const DeferredInterrupts&) = delete;
  // Restores the handlers found at construction; a signal recorded meanwhile then ends the
  // process.
  ~DeferredInterrupts();
};

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_DEFERRED_INTERRUPTS_H_
