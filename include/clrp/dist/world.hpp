// The world of ranks, arranged as G replica groups of P pipeline stages.
//
// MPI_COMM_WORLD's ranks are numbered group by group: world rank
// g * P + s is stage s of group g. Each group shards one model's layers over
// its P stages; groups pull cases from the coordinator (world rank 0, which is
// also stage 0 of group 0). Communicators are named by their role:
//   - `stages`: the P ranks of this rank's group, ranked by stage (the
//     pipeline's peers: activations and gradients flow here);
//   - `scheduling`: the stage-0 rank of every group, ranked by group (the
//     group leaders, who talk to the coordinator); MPI_COMM_NULL on the
//     other ranks.
#pragma once

#include <mpi.h>

#include <string>

namespace clrp::dist {

class World {
 public:
  /// Splits `world` into groups of `stages` consecutive ranks. Collective over
  /// `world`. Throws clrp::Error (on every rank alike) when the world's size is
  /// not a multiple of `stages`.
  World(MPI_Comm world, int stages);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }              ///< in the world
  int size() const { return size_; }              ///< of the world
  int stages() const { return stages_; }          ///< P
  int groups() const { return size_ / stages_; }  ///< G
  int group() const { return rank_ / stages_; }
  int stage() const { return rank_ % stages_; }
  bool leader() const { return stage() == 0; }  ///< stage 0 leads its group
  bool last_stage() const { return stage() == stages_ - 1; }
  /// World rank of the leader (stage 0) of group `g`.
  int leader_of(int g) const { return g * stages_; }

  MPI_Comm world() const { return world_; }
  MPI_Comm stages_comm() const { return stages_comm_; }
  MPI_Comm scheduling_comm() const { return scheduling_comm_; }

  /// "group 1 stage 0 (world rank 2 of 4)": for messages and logs.
  std::string describe() const;

 private:
  MPI_Comm world_;
  int rank_ = 0, size_ = 1, stages_ = 1;
  MPI_Comm stages_comm_ = MPI_COMM_NULL;
  MPI_Comm scheduling_comm_ = MPI_COMM_NULL;
};

/// This rank's index among the ranks of `comm` that share its node (its
/// memory), 0-based: picks a GPU of the node per rank. Collective over `comm`.
int node_local_rank(MPI_Comm comm);

/// How many ranks of `comm` share this rank's node: each takes its share of the
/// node's cores. Collective over `comm`.
int node_local_size(MPI_Comm comm);

}  // namespace clrp::dist
