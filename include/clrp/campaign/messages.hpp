// Messages between the coordinator (rank 0) and the workers: plain structs,
// serialised with Boost.Serialization (binary archives; every rank runs the
// same binary) and sent as MPI_BYTE.
//
// Protocol (pull-based): a worker sends a Request whenever it is idle; the
// coordinator answers with one Reply: a batch of task indices to explain, or
// `commit` (append what you hold to the store and commit, collectively with
// every rank; then ask again), or `finish` (the same, then stop).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace clrp::campaign {

struct Request {
  int rank = 0;
  bool stopping = false;     ///< this rank got SIGTERM: hand out no more work
  std::uint64_t done = 0;    ///< cases this rank explained so far (this run)
  std::uint64_t failed = 0;  ///< cases that raised an error (logged, not stored)

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& rank& stopping& done& failed;
  }
};

struct Reply {
  enum Kind : int { work = 0, commit = 1, finish = 2 };
  int kind = work;
  std::vector<std::uint32_t> tasks;  ///< with `work`: indices into Plan::tasks

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& kind& tasks;
  }
};

inline constexpr int kTagRequest = 7101;
inline constexpr int kTagReply = 7102;

/// Serialises and sends `m` to `dest` (blocking).
void send_message(const Request& m, int dest, MPI_Comm comm);
void send_message(const Reply& m, int dest, MPI_Comm comm);
/// Receives the next message with `tag` from `source` (MPI_ANY_SOURCE allowed).
Request receive_request(int source, MPI_Comm comm);
Reply receive_reply(int source, MPI_Comm comm);

}  // namespace clrp::campaign
