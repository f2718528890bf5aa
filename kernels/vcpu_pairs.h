#ifndef FP4MOE_KERNELS_VCPU_PAIRS_H_
#define FP4MOE_KERNELS_VCPU_PAIRS_H_

// Which CPUs share a physical core's units, where the machine does not say: a lent VM reports
// one thread per core, yet its 16 vCPUs run tile products at half their one-thread rate all
// together. Two threads pinned to two CPUs run a loop at once, each against its rate alone:
// hyperthreads of one core share its tile unit and vector ports (each gets about half), separate
// cores keep nearly all of theirs.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace fp4moe::kernels {

// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> AllowedCpus();

// A probe loop (kernels/probe_chains.h: `iterations` steps, returning what they computed) and
// what one of its steps is worth.
struct PinnedLoop {
  double (*loop)(int64_t iterations);
  int64_t iterations;  // steps per call: short (about a millisecond), so that a window ends on time
  double step_units;
};

// Units per second that `work` delivered on a thread pinned to `cpu`, calling it until
// `seconds` passed. InvalidArgument where the CPU cannot be pinned to (not allowed, or beyond
// what sched_setaffinity takes).
absl::StatusOr<double> PinnedRate(const PinnedLoop& work, int cpu, double seconds);

// The same for two threads at once, `a` pinned to cpu_a and `b` to cpu_b, started together and
// stopped at one deadline.
struct PairRates {
  double a = 0, b = 0;
};
absl::StatusOr<PairRates> PinnedPairRates(const PinnedLoop& a, int cpu_a, const PinnedLoop& b,
                                          int cpu_b, double seconds);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_VCPU_PAIRS_H_
