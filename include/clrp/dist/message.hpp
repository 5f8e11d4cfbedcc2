// Plain structs between ranks, serialised with Boost.Serialization.
//
// Binary archives: every rank runs the same binary, so the format needs no
// portability. A message is one MPI_BYTE send; the receiver probes its size.
#pragma once

#include <mpi.h>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <limits>
#include <sstream>
#include <string>

#include "clrp/util/error.hpp"

namespace clrp::dist {

/// `m` as the bytes of a binary archive.
template <class T>
std::string to_bytes(const T& m) {
  std::ostringstream os;
  {
    boost::archive::binary_oarchive ar(os);
    ar << m;
  }
  return os.str();
}

/// The message `bytes` hold; bytes that do not parse throw clrp::Error naming
/// `what` and `from` (who sent them).
template <class T>
T from_bytes(const std::string& bytes, const char* what, const std::string& from) {
  std::istringstream is(bytes);
  T m;
  try {
    boost::archive::binary_iarchive ar(is);
    ar >> m;
  } catch (const std::exception& e) {
    throw Error(std::string(what) + ": malformed message from " + from + ": " + e.what());
  }
  return m;
}

/// Serialises `m` and sends it to `dest` with `tag` (blocking).
template <class T>
void send_serialized(const T& m, int dest, int tag, MPI_Comm comm) {
  const std::string bytes = to_bytes(m);
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw Error("message of " + std::to_string(bytes.size()) + " bytes: over MPI's 2 GiB limit");
  MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, tag, comm);
}

/// Receives the next message with `tag` from `source` (MPI_ANY_SOURCE allowed);
/// `*from` gets the sender's rank when given. A message that does not parse
/// throws clrp::Error naming `what` and the sender.
template <class T>
T receive_serialized(int source, int tag, MPI_Comm comm, const char* what, int* from = nullptr) {
  MPI_Status status;
  MPI_Probe(source, tag, comm, &status);
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::string bytes(static_cast<std::size_t>(count), '\0');
  MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, comm, MPI_STATUS_IGNORE);
  if (from != nullptr) *from = status.MPI_SOURCE;
  return from_bytes<T>(bytes, what, "rank " + std::to_string(status.MPI_SOURCE));
}

}  // namespace clrp::dist
