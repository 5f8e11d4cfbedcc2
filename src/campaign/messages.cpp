#include "clrp/campaign/messages.hpp"

#include <boost/serialization/vector.hpp>

#include "clrp/dist/message.hpp"

namespace clrp::campaign {

void send_message(const Request& m, int dest, MPI_Comm comm) {
  dist::send_serialized(m, dest, kTagRequest, comm);
}
void send_message(const Reply& m, int dest, MPI_Comm comm) {
  dist::send_serialized(m, dest, kTagReply, comm);
}
Request receive_request(int source, MPI_Comm comm) {
  return dist::receive_serialized<Request>(source, kTagRequest, comm, "scheduler");
}
Reply receive_reply(int source, MPI_Comm comm) {
  return dist::receive_serialized<Reply>(source, kTagReply, comm, "scheduler");
}

}  // namespace clrp::campaign
