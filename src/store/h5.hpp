// Small RAII and error helpers over the HDF5 C API (private to src/store).
// HighFive is not packaged and the store needs only a handful of calls, so the
// C API is wrapped here: every id closes itself, every failure becomes a
// clrp::Error carrying HDF5's own innermost message.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace clrp::store::h5 {

/// An HDF5 id that closes itself with the matching H5?close.
class Id {
 public:
  Id() = default;
  Id(hid_t id, herr_t (*closer)(hid_t)) : id_(id), closer_(closer) {}
  Id(Id&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = -1; }
  Id& operator=(Id&& o) noexcept;
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() { reset(); }
  void reset();
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }

 private:
  hid_t id_ = -1;
  herr_t (*closer_)(hid_t) = nullptr;
};

/// Throws clrp::Error("<what>: <HDF5's message>") when `status` is negative.
void check(herr_t status, const std::string& what);
/// Wraps a new id, or throws like check().
Id make(hid_t id, herr_t (*closer)(hid_t), const std::string& what);

/// Turns off HDF5's own printing of error stacks (we report them ourselves).
void quiet();

/// A 1-D..4-D dataset extendible along its first dimension, chunked, deflated.
Id create_extendible(hid_t parent, const std::string& name, hid_t type,
                     const std::vector<hsize_t>& trailing, hsize_t chunk_rows, int deflate);

/// Rows of the dataset (its first dimension).
hsize_t rows(hid_t dataset);
/// Resizes the first dimension (collective under MPI-IO).
void set_rows(hid_t dataset, const std::vector<hsize_t>& trailing, hsize_t rows);

/// Writes `count` rows of `buffer` at row `offset` with transfer list `dxpl`;
/// count = 0 selects nothing (a rank with nothing to write still takes part
/// in a collective write).
void write_rows(hid_t dataset, hid_t mem_type, const std::vector<hsize_t>& trailing, hsize_t offset,
                hsize_t count, const void* buffer, hid_t dxpl);
/// Reads rows [offset, offset + count) into `buffer` (independent read).
void read_rows(hid_t dataset, hid_t mem_type, const std::vector<hsize_t>& trailing, hsize_t offset,
               hsize_t count, void* buffer);

/// Scalar attributes (create or overwrite; collective under MPI-IO).
void set_attr(hid_t obj, const std::string& name, const std::string& value);
void set_attr(hid_t obj, const std::string& name, std::uint64_t value);
void set_attr(hid_t obj, const std::string& name, std::int64_t value);
std::string get_string_attr(hid_t obj, const std::string& name);
std::uint64_t get_u64_attr(hid_t obj, const std::string& name);
std::int64_t get_i64_attr(hid_t obj, const std::string& name);
bool has_attr(hid_t obj, const std::string& name);

/// Creates the float64 dataset `name` of shape `dims` in `group` and writes
/// `data` into it (collective: every rank calls it; only the `writer`'s data
/// is written, the others select nothing).
void write_doubles(hid_t group, const std::string& name, const std::vector<hsize_t>& dims,
                   const std::vector<double>& data, bool writer, hid_t dxpl);
/// The same for a text (a uint8 dataset, e.g. JSON), replacing one of that name.
void write_text(hid_t group, const std::string& name, const std::string& text, bool writer,
                hid_t dxpl);
/// The text dataset `name` of `group`; nullopt when there is none (independent read).
std::optional<std::string> read_text(hid_t group, const std::string& name);
/// A creation list of `list_class` (H5P_FILE_CREATE, H5P_GROUP_CREATE or
/// H5P_DATASET_CREATE) that keeps links and attributes in the object header,
/// under HDF5's checksum (docs/store.md, "Checksums"). Every object of a
/// store is created with one.
Id compact_creation_list(hid_t list_class, const std::string& what);
/// Creates every missing group on `path` ("/a/b/c").
Id ensure_groups(hid_t file, const std::string& path);

}  // namespace clrp::store::h5
