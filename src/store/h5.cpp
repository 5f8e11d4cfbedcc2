#include "h5.hpp"

#include <mpi.h>

#include <algorithm>

#include "checksum.hpp"
#include "clrp/util/error.hpp"

namespace clrp::store::h5 {

namespace {

// The innermost (most specific) message of HDF5's current error stack.
herr_t walk(unsigned n, const H5E_error2_t* e, void* out) {
  auto* msg = static_cast<std::string*>(out);
  if (n == 0) *msg = e->desc != nullptr ? e->desc : "";
  return 0;
}

std::string h5_message() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "HDF5 call failed" : msg;
}

std::vector<hsize_t> dims_of(hsize_t rows, const std::vector<hsize_t>& trailing) {
  std::vector<hsize_t> d{rows};
  d.insert(d.end(), trailing.begin(), trailing.end());
  return d;
}

}  // namespace

Id& Id::operator=(Id&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = -1;
  }
  return *this;
}

void Id::reset() {
  if (id_ >= 0 && closer_ != nullptr) closer_(id_);
  id_ = -1;
}

void check(herr_t status, const std::string& what) {
  if (status < 0) throw Error(what + ": " + h5_message());
}

Id make(hid_t id, herr_t (*closer)(hid_t), const std::string& what) {
  if (id < 0) throw Error(what + ": " + h5_message());
  return Id(id, closer);
}

void quiet() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Id create_extendible(hid_t parent, const std::string& name, hid_t type,
                     const std::vector<hsize_t>& trailing, hsize_t chunk_rows, int deflate) {
  const auto dims = dims_of(0, trailing);
  auto max = dims;
  max[0] = H5S_UNLIMITED;
  Id space = make(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max.data()),
                  H5Sclose, "dataspace of " + name);
  Id dcpl = compact_creation_list(H5P_DATASET_CREATE, name);
  auto chunk = dims_of(std::max<hsize_t>(1, chunk_rows), trailing);
  check(H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()), "chunks of " + name);
  if (deflate > 0) {
    check(H5Pset_shuffle(dcpl), "shuffle filter of " + name);
    check(H5Pset_deflate(dcpl, static_cast<unsigned>(deflate)), "deflate filter of " + name);
  }
  // Chunks are allocated as they are written; never filled with a fill value
  // (every row we extend over is written in the same collective call).
  check(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "fill time of " + name);
  return make(H5Dcreate2(parent, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
              H5Dclose, "cannot create dataset " + name);
}

hsize_t rows(hid_t dataset) {
  Id space = make(H5Dget_space(dataset), H5Sclose, "dataspace");
  const int n = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> d(static_cast<std::size_t>(std::max(n, 1)));
  check(H5Sget_simple_extent_dims(space, d.data(), nullptr), "dimensions");
  return d[0];
}

void set_rows(hid_t dataset, const std::vector<hsize_t>& trailing, hsize_t rows) {
  const auto d = dims_of(rows, trailing);
  check(H5Dset_extent(dataset, d.data()), "cannot resize a dataset");
}

namespace {

// The file and memory dataspaces selecting rows [offset, offset + count) of a
// dataset whose rows have shape `trailing`. An empty selection is still a
// selection: with collective I/O every rank must take part in each call.
struct RowSelection {
  Id file_space, mem_space;
};

RowSelection select_rows(hid_t dataset, const std::vector<hsize_t>& trailing, hsize_t offset,
                         hsize_t count) {
  Id file_space = make(H5Dget_space(dataset), H5Sclose, "file space");
  const auto start = dims_of(offset, std::vector<hsize_t>(trailing.size(), 0));
  const auto cnt = dims_of(count, trailing);
  Id mem_space =
      make(H5Screate_simple(static_cast<int>(cnt.size()),
                            dims_of(std::max<hsize_t>(count, 1), trailing).data(), nullptr),
           H5Sclose, "memory space");
  if (count == 0) {
    check(H5Sselect_none(file_space), "empty selection");
    check(H5Sselect_none(mem_space), "empty selection");
  } else {
    check(
        H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr),
        "row selection");
  }
  return {std::move(file_space), std::move(mem_space)};
}

}  // namespace

void write_rows(hid_t dataset, hid_t mem_type, const std::vector<hsize_t>& trailing, hsize_t offset,
                hsize_t count, const void* buffer, hid_t dxpl) {
  const RowSelection sel = select_rows(dataset, trailing, offset, count);
  static const char dummy = 0;
  if (count == 0) buffer = &dummy;
  check(H5Dwrite(dataset, mem_type, sel.mem_space, sel.file_space, dxpl, buffer),
        "cannot write rows");
}

void read_rows(hid_t dataset, hid_t mem_type, const std::vector<hsize_t>& trailing, hsize_t offset,
               hsize_t count, void* buffer) {
  // Called on every rank even for no rows: with collective metadata reads a
  // rank that skipped the call would leave the others waiting.
  const RowSelection sel = select_rows(dataset, trailing, offset, count);
  static char dummy[64];
  if (count == 0) buffer = dummy;
  check(H5Dread(dataset, mem_type, sel.mem_space, sel.file_space, H5P_DEFAULT, buffer),
        "cannot read rows");
}

namespace {

Id open_or_create_attr(hid_t obj, const std::string& name, hid_t type) {
  if (H5Aexists(obj, name.c_str()) > 0) check(H5Adelete(obj, name.c_str()), "attribute " + name);
  Id space = make(H5Screate(H5S_SCALAR), H5Sclose, "scalar space");
  return make(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
              "cannot create attribute " + name);
}

}  // namespace

void set_attr(hid_t obj, const std::string& name, const std::string& value) {
  Id type = make(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  check(H5Tset_size(type, std::max<std::size_t>(1, value.size())), "string size");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "string charset");
  Id a = open_or_create_attr(obj, name, type);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  check(H5Awrite(a, type, padded.data()), "cannot write attribute " + name);
}

void set_attr(hid_t obj, const std::string& name, std::uint64_t value) {
  Id a = open_or_create_attr(obj, name, H5T_STD_U64LE);
  check(H5Awrite(a, H5T_NATIVE_UINT64, &value), "cannot write attribute " + name);
}

void set_attr(hid_t obj, const std::string& name, std::int64_t value) {
  Id a = open_or_create_attr(obj, name, H5T_STD_I64LE);
  check(H5Awrite(a, H5T_NATIVE_INT64, &value), "cannot write attribute " + name);
}

bool has_attr(hid_t obj, const std::string& name) {
  return H5Aexists(obj, name.c_str()) > 0;
}

std::string get_string_attr(hid_t obj, const std::string& name) {
  Id a = make(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose, "no attribute " + name);
  Id type = make(H5Aget_type(a), H5Tclose, "attribute type");
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0)
    throw Error("attribute " + name + " is not a fixed-length string");
  std::string out(H5Tget_size(type), '\0');
  check(H5Aread(a, type, out.data()), "cannot read attribute " + name);
  while (!out.empty() && out.back() == '\0')
    out.pop_back();
  return out;
}

std::uint64_t get_u64_attr(hid_t obj, const std::string& name) {
  Id a = make(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose, "no attribute " + name);
  std::uint64_t v = 0;
  check(H5Aread(a, H5T_NATIVE_UINT64, &v), "cannot read attribute " + name);
  return v;
}

std::int64_t get_i64_attr(hid_t obj, const std::string& name) {
  Id a = make(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose, "no attribute " + name);
  std::int64_t v = 0;
  check(H5Aread(a, H5T_NATIVE_INT64, &v), "cannot read attribute " + name);
  return v;
}

Id compact_creation_list(hid_t list_class, const std::string& what) {
  // Past 8 links or attributes HDF5 moves them to "dense" storage, whose
  // fractal-heap blocks it does not checksum: a flipped byte there made HDF5
  // itself crash on open (found by tests/fuzz/fuzz_store). Kept compact, they
  // stay in the object header, which HDF5 checksums. (An attribute over
  // 64 KiB goes to dense storage whatever this says.)
  constexpr unsigned kMaxCompact = 65535;  // HDF5's bound
  Id list = make(H5Pcreate(list_class), H5Pclose, "creation list of " + what);
  check(H5Pset_attr_phase_change(list, kMaxCompact, kMaxCompact), "attribute storage of " + what);
  if (list_class != H5P_DATASET_CREATE)
    check(H5Pset_link_phase_change(list, kMaxCompact, kMaxCompact), "link storage of " + what);
  return list;
}

Id ensure_groups(hid_t file, const std::string& path) {
  std::string prefix;
  Id last;
  std::size_t pos = 1;
  while (pos <= path.size()) {
    const std::size_t next = std::min(path.find('/', pos), path.size());
    prefix = path.substr(0, next);
    if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) > 0)
      last = make(H5Gopen2(file, prefix.c_str(), H5P_DEFAULT), H5Gclose, "group " + prefix);
    else
      last = make(H5Gcreate2(file, prefix.c_str(), H5P_DEFAULT,
                             compact_creation_list(H5P_GROUP_CREATE, prefix), H5P_DEFAULT),
                  H5Gclose, "cannot create group " + prefix);
    pos = next + 1;
  }
  return last;
}

namespace {

// The writer's value on every rank of the file's communicator (the others
// pass 0): attributes must be written with equal values by all ranks. A file
// without MPI-IO has one writer, itself.
std::uint64_t from_writer(hid_t obj, std::uint64_t value) {
  Id file = make(H5Iget_file_id(obj), H5Fclose, "file of a dataset");
  Id fapl = make(H5Fget_access_plist(file), H5Pclose, "file access list");
  if (H5Pget_driver(fapl) != H5FD_MPIO) return value;
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Info info = MPI_INFO_NULL;
  check(H5Pget_fapl_mpio(fapl, &comm, &info), "MPI-IO settings");
  std::uint64_t sum = 0;
  MPI_Allreduce(&value, &sum, 1, MPI_UINT64_T, MPI_SUM, comm);
  MPI_Comm_free(&comm);
  if (info != MPI_INFO_NULL) MPI_Info_free(&info);
  return sum;
}

// Creates dataset `name` (replacing one of that name) of `dims` and writes
// `data` from the writer rank (the others select nothing), with the digest of
// its bytes in attribute `checksum` (checksum.hpp).
void write_whole(hid_t group, const std::string& name, hid_t file_type, hid_t mem_type,
                 const std::vector<hsize_t>& dims, const void* data, bool writer, hid_t dxpl) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) > 0)
    check(H5Ldelete(group, name.c_str(), H5P_DEFAULT), "cannot replace " + name);
  h5::Id space = h5::make(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                          H5Sclose, name + " space");
  h5::Id d = h5::make(H5Dcreate2(group, name.c_str(), file_type, space, H5P_DEFAULT,
                                 compact_creation_list(H5P_DATASET_CREATE, name), H5P_DEFAULT),
                      H5Dclose, "cannot create " + name);
  hsize_t elements = 1;
  for (auto n : dims)
    elements *= n;
  const std::uint64_t digest =
      writer ? checksum::digest(data, elements * H5Tget_size(mem_type), 0) : 0;
  set_attr(d, "checksum", from_writer(d, digest));
  if (elements == 0) return;  // an empty dataset: nothing to write (HDF5 refuses a 0-byte write)
  h5::Id fs = h5::make(H5Dget_space(d), H5Sclose, name + " space");
  h5::Id ms = h5::make(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                       H5Sclose, name + " space");
  if (!writer) {
    H5Sselect_none(fs);
    H5Sselect_none(ms);
  }
  h5::check(H5Dwrite(d, mem_type, ms, fs, dxpl, data), "cannot write " + name);
}

}  // namespace

void write_doubles(hid_t group, const std::string& name, const std::vector<hsize_t>& dims,
                   const std::vector<double>& data, bool writer, hid_t dxpl) {
  write_whole(group, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, data.data(), writer, dxpl);
}

void write_text(hid_t group, const std::string& name, const std::string& text, bool writer,
                hid_t dxpl) {
  write_whole(group, name, H5T_STD_U8LE, H5T_NATIVE_UINT8, {text.size()}, text.data(), writer,
              dxpl);
}

std::optional<std::string> read_text(hid_t group, const std::string& name) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;
  h5::Id d = h5::make(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose, name);
  std::string text(rows(d), '\0');
  if (!text.empty())
    check(H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data()),
          "cannot read " + name);
  return text;
}

}  // namespace clrp::store::h5
