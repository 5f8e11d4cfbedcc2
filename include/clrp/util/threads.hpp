// Compute threads for the tensor library.
#pragma once

namespace clrp::util {

/// Sets the intra-op thread count used by tensor kernels (0 = leave the
/// library's default, which is one thread per core). With several MPI ranks
/// per node, give each rank its share of the cores.
void set_compute_threads(int threads);
int compute_threads();

}  // namespace clrp::util
