#include "moe/numa.h"

#include <numa.h>

namespace fp4moe::moe {

int NumaNodesForParts() {
  static const int nodes = [] {
    if (numa_available() < 0) return 1;
    const int configured = numa_num_configured_nodes();
    return configured > 1 ? configured : 1;
  }();
  return nodes;
}

void BindThreadToNode(int node) {
  numa_run_on_node(node);
  numa_set_preferred(node);
}

}  // namespace fp4moe::moe
