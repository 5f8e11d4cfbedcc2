#include "clrp/campaign/messages.hpp"

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/vector.hpp>
#include <sstream>

#include "clrp/util/error.hpp"

namespace clrp::campaign {

namespace {

template <class T>
void send(const T& m, int dest, int tag, MPI_Comm comm) {
  std::ostringstream os;
  {
    boost::archive::binary_oarchive ar(os);
    ar << m;
  }
  const std::string bytes = os.str();
  MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, tag, comm);
}

template <class T>
T receive(int source, int tag, MPI_Comm comm) {
  MPI_Status status;
  MPI_Probe(source, tag, comm, &status);
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::string bytes(static_cast<std::size_t>(count), '\0');
  MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, comm, MPI_STATUS_IGNORE);
  std::istringstream is(bytes);
  T m;
  try {
    boost::archive::binary_iarchive ar(is);
    ar >> m;
  } catch (const std::exception& e) {
    throw Error(std::string("scheduler: malformed message from rank ") +
                std::to_string(status.MPI_SOURCE) + ": " + e.what());
  }
  return m;
}

}  // namespace

void send_message(const Request& m, int dest, MPI_Comm comm) {
  send(m, dest, kTagRequest, comm);
}
void send_message(const Reply& m, int dest, MPI_Comm comm) {
  send(m, dest, kTagReply, comm);
}
Request receive_request(int source, MPI_Comm comm) {
  return receive<Request>(source, kTagRequest, comm);
}
Reply receive_reply(int source, MPI_Comm comm) {
  return receive<Reply>(source, kTagReply, comm);
}

}  // namespace clrp::campaign
