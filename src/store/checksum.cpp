#include "checksum.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "clrp/util/error.hpp"
#include "evaluations.hpp"
#include "h5.hpp"
#include "table_io.hpp"

namespace clrp::store::checksum {

namespace {

// MurmurHash3's finaliser: a bijection of 64-bit words that mixes every input
// bit into every output bit.
std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// One step per 8-byte word: xor, rotate, multiply by an odd constant. Each is a
// bijection of the state, so two inputs that differ in one word end in
// different states (the property the header promises).
std::uint64_t step(std::uint64_t h, std::uint64_t word) {
  h ^= word;
  h = (h << 29) | (h >> 35);
  return h * 0x9e3779b97f4a7c15ULL;
}

constexpr std::uint64_t kSeedSalt = 0x636c72702d636b31ULL;  // "clrp-ck1"
constexpr const char* kCounterNames[kCounters] = {"cases_end",
                                                  "tokens_end",
                                                  "id_bytes_end",
                                                  "graph_nodes_end",
                                                  "graph_edges_end",
                                                  "evaluations_end",
                                                  "evaluation_id_bytes_end",
                                                  "evaluation_detail_bytes_end"};
constexpr std::size_t kReadBytes = std::size_t{8} << 20;  // per piece read back

std::string span(const Ends& begin, const Ends& end, std::size_t counter) {
  return "[" + std::to_string(begin[counter]) + ", " + std::to_string(end[counter]) + ")";
}

// Σ of the row digests of rows [row0, row0 + count) of a dataset, read back in
// pieces of about kReadBytes.
std::uint64_t sum_in_file(hid_t group, const Column& c, std::uint64_t row0, std::uint64_t count) {
  h5::Id d = h5::make(H5Dopen2(group, c.name.c_str(), H5P_DEFAULT), H5Dclose, c.name);
  if (h5::rows(d) < row0 + count)
    throw Error(c.name + " has " + std::to_string(h5::rows(d)) + " rows, fewer than the " +
                std::to_string(row0 + count) + " committed");
  const std::uint64_t per =
      std::max<std::uint64_t>(1, kReadBytes / std::max<std::size_t>(1, c.row_bytes));
  std::vector<char> buf;
  std::uint64_t sum = 0;
  for (std::uint64_t at = 0; at < count; at += per) {
    const std::uint64_t n = std::min(per, count - at);
    buf.assign(n * c.row_bytes, 0);
    h5::read_rows(d, c.type, c.trailing, row0 + at, n, buf.data());
    sum += sum_rows(buf.data(), c.row_bytes, row0 + at, n);
  }
  return sum;
}

}  // namespace

Ends committed_ends(hid_t group) {
  Ends e{};
  const auto cases = table_io::read_committed(group);
  const auto evals = evaluations::read_committed(group);
  for (std::size_t k = 0; k < schema::kRowKinds; ++k)
    e[k] = cases.count[k];
  for (std::size_t k = 0; k < evaluations::kKinds; ++k)
    e[schema::kRowKinds + k] = evals[k];
  return e;
}

namespace {

std::string ends_text(const Ends& e) {
  std::string out;
  for (std::size_t k = 0; k < kCounters; ++k)
    out += (k ? ", " : "") + std::string(kCounterNames[k]) + " " + std::to_string(e[k]);
  return out;
}

// The block record of a table: its rows as read, and their width.
struct Record {
  std::vector<std::uint64_t> cells;
  std::size_t width = 0, blocks = 0;
  Ends ends(std::size_t b) const {  // ends of block b; b = -1 (SIZE_MAX): all zero
    Ends e{};
    if (b < blocks)
      std::copy_n(cells.begin() + static_cast<std::ptrdiff_t>(b * width), kCounters, e.begin());
    return e;
  }
  std::uint64_t sum(std::size_t b, std::size_t column) const {
    return cells[b * width + kCounters + column];
  }
};

Record read_record(hid_t group, const std::vector<Column>& cols) {
  Record r;
  r.width = kCounters + cols.size();
  if (H5Lexists(group, "checksums", H5P_DEFAULT) <= 0)
    throw Error("no checksum record (dataset `checksums`)");
  r.blocks = h5::get_u64_attr(group, "committed_checksum_blocks");
  h5::Id d = h5::make(H5Dopen2(group, "checksums", H5P_DEFAULT), H5Dclose, "checksums");
  h5::Id space = h5::make(H5Dget_space(d), H5Sclose, "checksums space");
  hsize_t dims[2] = {0, 0};
  if (H5Sget_simple_extent_ndims(space) != 2 ||
      H5Sget_simple_extent_dims(space, dims, nullptr) < 0 || dims[1] != r.width)
    throw Error("the checksum record is not [blocks, " + std::to_string(r.width) + "]");
  if (dims[0] < r.blocks)
    throw Error("the checksum record has " + std::to_string(dims[0]) + " rows, fewer than the " +
                std::to_string(r.blocks) + " committed");
  r.cells.resize(r.blocks * r.width);
  if (r.blocks > 0) h5::read_rows(d, H5T_NATIVE_UINT64, {r.width}, 0, r.blocks, r.cells.data());
  return r;
}

// Problems of block b against the file (empty: it is intact).
std::vector<std::string> check_block(hid_t group, const std::vector<Column>& cols,
                                     const Record& rec, std::size_t b) {
  const Ends begin = rec.ends(b - 1), end = rec.ends(b);
  std::vector<std::string> bad;
  for (std::size_t k = 0; k < kCounters; ++k)
    if (end[k] < begin[k]) {
      bad.push_back("block " + std::to_string(b) + " ends before it begins (" + kCounterNames[k] +
                    ")");
      return bad;
    }
  for (std::size_t c = 0; c < cols.size(); ++c) {
    const std::size_t k = cols[c].counter;
    if (end[k] == begin[k]) continue;
    try {
      if (sum_in_file(group, cols[c], begin[k], end[k] - begin[k]) == rec.sum(b, c)) continue;
      bad.push_back(cols[c].name + " rows " + span(begin, end, k) + " do not match their checksum");
    } catch (const std::exception& e) {
      bad.push_back(cols[c].name + " rows " + span(begin, end, k) + " cannot be read: " + e.what());
    }
  }
  return bad;
}

std::string block_where(const Record& rec, std::size_t b) {
  const Ends begin = rec.ends(b - 1), end = rec.ends(b);
  return "commit block " + std::to_string(b) + " (cases " + span(begin, end, 0) + ", evaluations " +
         span(begin, end, schema::kRowKinds) + ")";
}

}  // namespace

std::uint64_t digest(const void* bytes, std::size_t n, std::uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  std::uint64_t h = mix(seed ^ kSeedSalt);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);  // little-endian hosts: the word as the file has it
    h = step(h, w);
  }
  if (i < n) {
    std::uint64_t w = 0;
    std::memcpy(&w, p + i, n - i);
    h = step(h, w);
  }
  return mix(h ^ static_cast<std::uint64_t>(n));
}

std::uint64_t sum_rows(const void* rows, std::size_t row_bytes, std::uint64_t first_row,
                       std::uint64_t count) {
  const auto* p = static_cast<const char*>(rows);
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < count; ++i)
    sum += digest(p + i * row_bytes, row_bytes, first_row + i);
  return sum;
}

std::vector<Column> columns(const TableInfo& table) {
  std::vector<Column> out;
  out.push_back({"cases",
                 schema::case_row_type(),
                 {},
                 schema::case_row_size(),
                 schema::kind_index(schema::Rows::Case)});
  out.push_back({"case_id", H5T_NATIVE_UINT8, {}, 1, schema::kind_index(schema::Rows::IdByte)});
  for (const auto& d : schema::datasets(table))
    out.push_back({d.name, d.type, d.trailing, d.row_bytes(), schema::kind_index(d.rows)});
  if (table.evaluations) {
    out.push_back(
        {"evaluations", evaluations::row_type(), {}, evaluations::kRowBytes, schema::kRowKinds});
    out.push_back({"evaluation_id", H5T_NATIVE_UINT8, {}, 1, schema::kRowKinds + 1});
    out.push_back({"evaluation_detail", H5T_NATIVE_UINT8, {}, 1, schema::kRowKinds + 2});
  }
  return out;
}

std::string column_names_json(const std::vector<Column>& cols) {
  std::vector<std::string> names(kCounterNames, kCounterNames + kCounters);
  for (const auto& c : cols)
    names.push_back(c.name);
  return nlohmann::json(names).dump();
}

std::string column_counters_json(const std::vector<Column>& cols) {
  std::vector<std::string> names;
  names.reserve(cols.size());
  for (const auto& c : cols)
    names.emplace_back(kCounterNames[c.counter]);
  return nlohmann::json(names).dump();
}

std::vector<Damage> verify_table(hid_t group, const std::string& name, const TableInfo& table,
                                 std::size_t offset, std::size_t stride) {
  std::vector<Damage> out;
  const auto cols = columns(table);
  Record rec;
  try {
    rec = read_record(group, cols);
    const Ends last = rec.ends(rec.blocks - 1), counts = committed_ends(group);
    if (offset == 0 && last != counts)
      out.push_back({name,
                     "the committed counts (" + ends_text(counts) +
                         ") differ from the last checksum block's (" + ends_text(last) + ")",
                     rec.blocks, last});
  } catch (const std::exception& e) {
    out.push_back({name, e.what()});
    return out;
  }
  for (std::size_t b = offset; b < rec.blocks; b += std::max<std::size_t>(1, stride))
    for (const auto& problem : check_block(group, cols, rec, b))
      out.push_back({name, block_where(rec, b) + ": " + problem, b, rec.ends(b - 1)});
  if (offset == 0 && H5Lexists(group, "pairs_not_carried", H5P_DEFAULT) > 0) {
    try {
      h5::Id d = h5::make(H5Dopen2(group, "pairs_not_carried", H5P_DEFAULT), H5Dclose,
                          "pairs_not_carried");
      if (!h5::has_attr(d, "checksum")) throw Error("it has no checksum");
      const auto text = h5::read_text(group, "pairs_not_carried").value_or("");
      if (digest(text.data(), text.size(), 0) != h5::get_u64_attr(d, "checksum"))
        throw Error("it does not match its checksum");
    } catch (const std::exception& e) {
      // Rewritten whole by every run: going back to the last block redoes it.
      out.push_back({name, std::string("pairs_not_carried: ") + e.what(), rec.blocks,
                     rec.ends(rec.blocks - 1)});
    }
  }
  return out;
}

std::vector<Damage> verify_aggregates(hid_t file) {
  std::vector<Damage> out;
  if (H5Lexists(file, "/aggregate", H5P_DEFAULT) <= 0) return out;
  // Every link below /aggregate, then the datasets among them (H5Lvisit and
  // H5Oopen keep to the API that is the same in HDF5 1.10 and 1.12+).
  std::vector<std::string> links;
  const auto collect = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->push_back(std::string("/aggregate/") + name);
    return 0;
  };
  h5::Id agg = h5::make(H5Gopen2(file, "/aggregate", H5P_DEFAULT), H5Gclose, "/aggregate");
  if (H5Lvisit(agg, H5_INDEX_NAME, H5_ITER_INC, collect, &links) < 0)
    return {{"/aggregate", "its groups cannot be listed"}};
  std::vector<std::string> datasets;
  for (const auto& path : links) {
    const hid_t o = H5Oopen(file, path.c_str(), H5P_DEFAULT);
    if (o < 0) {
      out.push_back({path, "cannot be opened"});
      continue;
    }
    if (H5Iget_type(o) == H5I_DATASET) datasets.push_back(path);
    H5Oclose(o);
  }
  for (const auto& path : datasets) {
    try {
      h5::Id d = h5::make(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose, path);
      if (!h5::has_attr(d, "checksum")) throw Error("no checksum");
      h5::Id type = h5::make(H5Dget_type(d), H5Tclose, path + " type");
      h5::Id space = h5::make(H5Dget_space(d), H5Sclose, path + " space");
      const auto elements = H5Sget_simple_extent_npoints(space);
      if (elements < 0) throw Error("unreadable shape");
      std::vector<char> bytes(static_cast<std::size_t>(elements) * H5Tget_size(type));
      if (!bytes.empty())
        h5::check(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), "cannot read");
      if (digest(bytes.data(), bytes.size(), 0) != h5::get_u64_attr(d, "checksum"))
        throw Error("does not match its checksum");
    } catch (const std::exception& e) {
      out.push_back({path, e.what()});
    }
  }
  return out;
}

std::vector<Damage> verify_file(hid_t file) {
  std::vector<Damage> out;
  for (const auto& g : table_io::table_groups(file)) {
    try {
      h5::Id group = h5::make(H5Gopen2(file, g.c_str(), H5P_DEFAULT), H5Gclose, g);
      const auto damage = verify_table(group, g, table_io::read_table_info(group));
      out.insert(out.end(), damage.begin(), damage.end());
    } catch (const std::exception& e) {
      out.push_back({g, e.what()});
    }
  }
  const auto aggregate = verify_aggregates(file);
  out.insert(out.end(), aggregate.begin(), aggregate.end());
  return out;
}

std::map<std::string, Damage> earliest(const std::vector<Damage>& damage) {
  std::map<std::string, Damage> out;
  for (const auto& d : damage) {
    if (d.object.rfind("/aggregate", 0) == 0) continue;
    auto [it, fresh] = out.emplace(d.object, d);
    if (!fresh && d.block < it->second.block) it->second = d;
  }
  return out;
}

std::string report(const std::vector<Damage>& damage) {
  constexpr std::size_t kMaxLines = 12;
  std::string out =
      "the store is damaged: what it holds disagrees with the checksums recorded when it was "
      "written:";
  for (std::size_t i = 0; i < damage.size() && i < kMaxLines; ++i)
    out += "\n  " + damage[i].object + ": " + damage[i].what;
  if (damage.size() > kMaxLines)
    out += "\n  … and " + std::to_string(damage.size() - kMaxLines) + " more";
  const auto tables = earliest(damage);
  if (tables.empty())
    return out +
           "\nThe committed rows are intact: run the campaign again with --resume, which "
           "rewrites /aggregate from them";
  std::string plan;
  for (const auto& [group, d] : tables) {
    if (d.block == Damage::kNoBlock)
      return out.append("\nTable ")
          .append(group)
          .append(
              " has no usable checksum record: the store cannot be repaired; run the "
              "campaign into a new store");
    plan += "\n  " + group + ": keeps cases [0, " + std::to_string(d.keep[0]) +
            "), explains the cases from row " + std::to_string(d.keep[0]) + " on again";
  }
  return out +
         "\nTo redo the damaged part, run the campaign again with --resume "
         "--redo-damaged: each damaged table goes back to its last intact commit" +
         plan;
}

}  // namespace clrp::store::checksum
