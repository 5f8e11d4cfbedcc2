// MPI for the unit tests that need it (the store's), initialised on first use
// and finalised at exit, so other tests in the binary never pay for it.
#pragma once

#include <mpi.h>

#include <cstdlib>

namespace clrp::test {

inline void ensure_mpi() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  std::atexit([] {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  });
}

}  // namespace clrp::test
