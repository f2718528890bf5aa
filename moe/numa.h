#ifndef FP4MOE_MOE_NUMA_H_
#define FP4MOE_MOE_NUMA_H_

namespace fp4moe::moe {

// The NUMA nodes tensor-parallel parts are spread over: the configured node count where
// libnuma works and there is more than one node, else 1 (parts then run unbound).
int NumaNodesForParts();

// Runs the calling thread on `node`'s CPUs and prefers its memory for new pages.
void BindThreadToNode(int node);

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_NUMA_H_
