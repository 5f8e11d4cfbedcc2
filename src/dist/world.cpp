#include "clrp/dist/world.hpp"

#include <utility>

#include "clrp/util/error.hpp"

namespace clrp::dist {

World::World(MPI_Comm world, int stages) : world_(world), stages_(stages) {
  MPI_Comm_rank(world, &rank_);
  MPI_Comm_size(world, &size_);
  if (stages < 1 || size_ % stages != 0)
    throw Error("--stages " + std::to_string(stages) + ": the " + std::to_string(size_) +
                " ranks of the job do not split into groups of " + std::to_string(stages) +
                " stages (start a multiple of " + std::to_string(stages) + " ranks)");
  MPI_Comm_split(world, group(), stage(), &stages_comm_);
  MPI_Comm_split(world, leader() ? 0 : MPI_UNDEFINED, group(), &scheduling_comm_);
}

World::~World() {
  if (stages_comm_ != MPI_COMM_NULL) MPI_Comm_free(&stages_comm_);
  if (scheduling_comm_ != MPI_COMM_NULL) MPI_Comm_free(&scheduling_comm_);
}

std::string World::describe() const {
  return "group " + std::to_string(group()) + " stage " + std::to_string(stage()) +
         " (world rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ")";
}

namespace {

// Rank and size in the communicator of the ranks of `comm` on this node.
std::pair<int, int> node_local(MPI_Comm comm) {
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int rank = 0, size = 1;
  MPI_Comm_rank(node, &rank);
  MPI_Comm_size(node, &size);
  MPI_Comm_free(&node);
  return {rank, size};
}

}  // namespace

int node_local_rank(MPI_Comm comm) {
  return node_local(comm).first;
}

int node_local_size(MPI_Comm comm) {
  return node_local(comm).second;
}

}  // namespace clrp::dist
