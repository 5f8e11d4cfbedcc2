// Collective appends and commits. Every rank tracks the same extents (rows,
// tokens, id bytes, graph nodes and edges per table): they only ever move by
// sums all ranks compute from one allgather, so no rank needs to ask the file.
#include "clrp/store/store.hpp"

#include <array>
#include <chrono>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"
#include "evaluations.hpp"
#include "h5.hpp"
#include "kill_hook.hpp"
#include "schema.hpp"
#include "table_io.hpp"

namespace clrp::store {

namespace {

/// Free space kept for HDF5's metadata beyond a batch's data (ensure_space).
constexpr std::uint64_t kSpaceReserve = 1 << 20;

hsize_t chunk_rows(const schema::Dataset& d) {
  // About 256 KiB per chunk: large enough to compress well and keep the chunk
  // index small, small enough that a batch of a few cases is not all padding.
  const hsize_t per_row = d.row_bytes();
  const hsize_t target = 256 * 1024;
  hsize_t rows = std::max<hsize_t>(1, target / std::max<hsize_t>(1, per_row));
  if (d.rows == schema::Rows::Case) rows = std::min<hsize_t>(rows, 64);
  return rows;
}

// Extends a dataset to at least `rows` (collective). Never shrinks: rows past
// the committed counts are left over from a killed run and get overwritten.
void grow(hid_t dataset, const std::vector<hsize_t>& trailing, hsize_t rows) {
  if (h5::rows(dataset) < rows) h5::set_rows(dataset, trailing, rows);
}

struct TableState {
  TableInfo info;
  h5::Id group, cases, case_id;
  std::vector<schema::Dataset> datasets;
  std::vector<h5::Id> ids;  ///< parallel to datasets
  /// Rows of each kind (schema::Rows) appended so far, and as of the last commit.
  schema::RowCounts appended{}, committed{};
  /// The evaluation rows, when the table records them; their counts likewise.
  std::optional<evaluations::Datasets> evals;
  evaluations::Counts evals_appended{}, evals_committed{};
};

// Where one rank's rows go in a collective append: per table and kind
// (index table * kinds + kind), the rows of the lower ranks and of every
// rank, from one allgather of each rank's counts. Every rank computes the
// same totals, so extents never need to be asked of the file.
struct Placement {
  std::vector<std::uint64_t> before, total;
};
Placement place(const std::vector<std::uint64_t>& mine, MPI_Comm comm, int rank, int size) {
  const std::size_t n = mine.size();
  std::vector<std::uint64_t> all(n * static_cast<std::size_t>(size));
  MPI_Allgather(mine.data(), static_cast<int>(n), MPI_UINT64_T, all.data(), static_cast<int>(n),
                MPI_UINT64_T, comm);
  Placement p{std::vector<std::uint64_t>(n, 0), std::vector<std::uint64_t>(n, 0)};
  for (int r = 0; r < size; ++r)
    for (std::size_t i = 0; i < n; ++i) {
      const auto v = all[static_cast<std::size_t>(r) * n + i];
      if (r < rank) p.before[i] += v;
      p.total[i] += v;
    }
  return p;
}

std::string table_attrs_json(const TableInfo& t) {
  nlohmann::json j{{"model", t.model},     {"checkpoint", t.checkpoint}, {"benchmark", t.benchmark},
                   {"rules", t.rules},     {"layers", t.layers},         {"heads", t.heads},
                   {"neurons", t.neurons}, {"residual", t.residual},     {"graphs", t.graphs}};
  // Only when on, so tables without it keep the layout string older stores have.
  if (t.deletion_max_tokens > 0) {
    j["deletion_max_tokens"] = t.deletion_max_tokens;
    // Version 2 (issue 22): the vocabulary's special tokens stay and the random
    // order uses FNV-1a 64's real offset basis; a store of version 1 does not
    // resume or merge with it (docs/faithfulness.md).
    j["deletion_order"] = 2;
  }
  if (t.evaluations) j["evaluations"] = true;
  if (t.faithfulness())
    j["faithfulness"] = {{"operators", t.removal_operators},
                         {"single_tokens", t.faithfulness_single_tokens},
                         {"fractions", t.faithfulness_fractions},
                         {"seed", t.faithfulness_seed},
                         {"outcome_thresholds", t.outcome_thresholds}};
  return j.dump();
}

}  // namespace

struct Store::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  std::string path;
  h5::Id file;
  h5::Id dxpl;  ///< collective transfers
  std::vector<TableState> tables;
  std::vector<TableInfo> infos;
  double write_seconds = 0;

  /// What create and resume share before they open the file.
  static std::unique_ptr<Impl> start(const std::string& path, MPI_Comm comm);

  void open_tables(const std::vector<TableInfo>& wanted, bool create, int deflate) {
    infos = wanted;
    for (const auto& info : wanted) {
      TableState t;
      t.info = info;
      t.datasets = schema::datasets(info);
      if (create) {
        t.group = h5::ensure_groups(file, info.group());
        t.cases = h5::create_extendible(t.group, "cases", schema::case_row_type(), {}, 64, deflate);
        t.case_id = h5::create_extendible(t.group, "case_id", H5T_NATIVE_UINT8, {}, 4096, deflate);
        for (const auto& d : t.datasets)
          t.ids.push_back(
              h5::create_extendible(t.group, d.name, d.type, d.trailing, chunk_rows(d), deflate));
        for (const auto& a : schema::kStringAttrs)
          h5::set_attr(t.group, a.name, info.*a.member);
        h5::set_attr(t.group, "rules", nlohmann::json(info.rules).dump());
        for (const auto& a : schema::kIntAttrs)
          h5::set_attr(t.group, a.name, info.*a.member);
        std::vector<std::string> cols(kSegmentColumnNames, kSegmentColumnNames + kSegmentColumns);
        h5::set_attr(t.group, "segment_columns", nlohmann::json(cols).dump());
        h5::set_attr(t.group, "layout", table_attrs_json(info));
        h5::set_attr(t.group, "planned_rows", info.planned_rows);
        for (schema::Rows kind : schema::kAllRows)
          h5::set_attr(t.group, schema::committed_attr(kind), std::uint64_t{0});
        h5::set_attr(t.group, "failed_rows", std::uint64_t{0});
        if (info.evaluations) {
          t.evals = evaluations::Datasets::create(t.group, deflate);
          h5::set_attr(t.group, "planned_evaluations", info.planned_evaluations);
        }
        if (info.graphs) {
          std::vector<std::string> cols(kGraphSummaryColumnNames,
                                        kGraphSummaryColumnNames + kGraphSummaryColumns);
          h5::set_attr(t.group, "graph_summary_columns", nlohmann::json(cols).dump());
        }
      } else {
        const std::string g = info.group();
        if (H5Lexists(file, "/runs", H5P_DEFAULT) <= 0 ||
            H5Oexists_by_name(file, g.c_str(), H5P_DEFAULT) <= 0)
          throw Error(Where{path, g}, "the store has no such table; was it written by this spec?");
        t.group = h5::make(H5Gopen2(file, g.c_str(), H5P_DEFAULT), H5Gclose, "group " + g);
        if (h5::get_string_attr(t.group, "layout") != table_attrs_json(info))
          throw Error(Where{path, g},
                      "the table's layout (rules, layers, heads, neurons) differs "
                      "from what this spec and model give");
        t.cases = h5::make(H5Dopen2(t.group, "cases", H5P_DEFAULT), H5Dclose, g + "/cases");
        t.case_id = h5::make(H5Dopen2(t.group, "case_id", H5P_DEFAULT), H5Dclose, g + "/case_id");
        for (const auto& d : t.datasets)
          t.ids.push_back(
              h5::make(H5Dopen2(t.group, d.name.c_str(), H5P_DEFAULT), H5Dclose, g + "/" + d.name));
        for (schema::Rows kind : schema::kAllRows)
          t.appended[schema::kind_index(kind)] =
              h5::get_u64_attr(t.group, schema::committed_attr(kind));
        t.committed = t.appended;
        if (info.evaluations) {
          t.evals = evaluations::Datasets::open(t.group, g);
          t.evals_appended = t.evals_committed = evaluations::read_committed(t.group);
        }
        // Whatever a killed run appended after its last commit stays in the
        // file past the committed counts, and is overwritten by the next
        // appends. (Shrinking instead, with H5Dset_extent, breaks the next
        // collective write to a deflated dataset in HDF5 1.10.8: "can't insert
        // duplicate key" in the chunk index.)
      }
      tables.push_back(std::move(t));
    }
  }
};

namespace {

h5::Id file_access(MPI_Comm comm) {
  h5::Id fapl = h5::make(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access list");
  h5::check(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), "MPI-IO driver");
  // Metadata reads and writes collective: one rank reads, the rest get a copy,
  // instead of every rank hitting the file system for the same bytes.
  h5::check(H5Pset_all_coll_metadata_ops(fapl, true), "collective metadata reads");
  h5::check(H5Pset_coll_metadata_write(fapl, true), "collective metadata writes");
  return fapl;
}

// A failed write (a full disk, a quota, an I/O error) names the store and says
// what survives: everything up to the last commit, which --resume continues.
[[noreturn]] void write_failed(const std::string& path, const char* what, const std::exception& e) {
  throw Error(Where{path}, std::string("cannot ") + what + " the store: " + e.what() +
                               " (full disk? the cases committed before are kept; free space "
                               "and continue with --resume)");
}

h5::Id collective_transfer() {
  h5::Id dxpl = h5::make(H5Pcreate(H5P_DATASET_XFER), H5Pclose, "transfer list");
  h5::check(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "collective transfers");
  return dxpl;
}

}  // namespace

std::unique_ptr<Store::Impl> Store::Impl::start(const std::string& path, MPI_Comm comm) {
  auto impl = std::make_unique<Impl>();
  impl->comm = comm;
  impl->path = path;
  MPI_Comm_rank(comm, &impl->rank);
  MPI_Comm_size(comm, &impl->size);
  impl->dxpl = collective_transfer();
  return impl;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() {
  try {
    close();
  } catch (...) {
  }
}

Store Store::create(const std::string& path, MPI_Comm comm, const StoreIdentity& id,
                    const std::vector<TableInfo>& tables, StoreOptions options) {
  h5::quiet();
  if (std::filesystem::is_directory(path))
    throw Error(Where{path}, "is a directory; a store is a file (give a path inside it)");
  if (std::filesystem::exists(path))
    throw Error(Where{path},
                "the store already exists; pass --resume to continue it, or "
                "choose another store path");
  auto impl = Impl::start(path, comm);
  impl->file = h5::make(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, file_access(comm)),
                        H5Fclose, path + ": cannot create the store");
  h5::set_attr(impl->file, "schema", std::string(schema::kSchema));
  h5::set_attr(impl->file, "clrp_version", std::string(CLRP_VERSION));
  h5::set_attr(impl->file, "campaign", id.campaign);
  h5::set_attr(impl->file, "spec", id.spec_json);
  h5::set_attr(impl->file, "spec_hash", id.spec_hash);
  impl->open_tables(tables, true, options.deflate);
  h5::check(H5Fflush(impl->file, H5F_SCOPE_GLOBAL), "flush");
  return Store(std::move(impl));
}

Store Store::resume(const std::string& path, MPI_Comm comm, const StoreIdentity& id,
                    const std::vector<TableInfo>& tables) {
  h5::quiet();
  if (!std::filesystem::exists(path)) throw Error(Where{path}, "no store to resume");
  if (std::filesystem::is_directory(path))
    throw Error(Where{path}, "is a directory, not a store to resume (a store is a file)");
  auto impl = Impl::start(path, comm);
  impl->file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDWR, file_access(comm)), H5Fclose,
                        path + ": cannot open the store");
  if (!h5::has_attr(impl->file, "schema") ||
      h5::get_string_attr(impl->file, "schema") != schema::kSchema)
    throw Error(Where{path}, "not a clrp store (schema " + std::string(schema::kSchema) + ")");
  const std::string hash = h5::get_string_attr(impl->file, "spec_hash");
  if (hash != id.spec_hash)
    throw Error(Where{path}, "the store was written by a different campaign spec (hash " + hash +
                                 ", this spec " + id.spec_hash +
                                 "); use another store path or the spec that wrote it");
  impl->open_tables(tables, false, 0);
  h5::check(H5Fflush(impl->file, H5F_SCOPE_GLOBAL), "flush");
  return Store(std::move(impl));
}

void Store::ensure_space(std::uint64_t bytes) {
  Impl& s = *impl_;
  std::uint64_t need = 0;
  MPI_Allreduce(&bytes, &need, 1, MPI_UINT64_T, MPI_SUM, s.comm);
  // Twice the raw bytes (chunk and index overhead) plus a fixed reserve for
  // the metadata a flush writes; one rank asks, all decide alike.
  need = 2 * need + kSpaceReserve;
  std::uint64_t free = 0;
  if (s.rank == 0) {
    const auto dir = std::filesystem::absolute(s.path).parent_path();
    std::error_code ec;
    const auto info = std::filesystem::space(dir, ec);
    free = ec ? std::numeric_limits<std::uint64_t>::max() : info.available;
  }
  MPI_Bcast(&free, 1, MPI_UINT64_T, 0, s.comm);
  if (free < need) {
    std::uint64_t committed = 0;
    for (const auto& t : s.tables)
      committed += t.committed[schema::kind_index(schema::Rows::Case)];
    const auto mib = [](std::uint64_t b) { return std::to_string((b + (1 << 20) - 1) >> 20); };
    throw Error(Where{s.path},
                "not enough free space to write the next batch (about " + mib(need) +
                    " MiB needed, " + mib(free) + " MiB free); the " + std::to_string(committed) +
                    " cases committed before are kept: free space and continue with --resume");
  }
}

void Store::append(const std::vector<CaseRecord>& records) {
  {
    // The batch's raw bytes, as the datasets will hold them.
    std::uint64_t bytes = 0;
    std::vector<char> scratch;
    for (const auto& r : records) {
      if (r.table >= impl_->tables.size()) break;  // reported below
      bytes += schema::case_row_size() + r.case_id.size();
      for (const auto& d : impl_->tables[r.table].datasets) {
        scratch.clear();
        d.extract(r, scratch);
        bytes += scratch.size();
      }
    }
    ensure_space(bytes);
  }
  try {
    Impl& s = *impl_;
    const double t0 = util::steady_seconds();
    constexpr std::size_t K = schema::kRowKinds;
    const std::size_t nt = s.tables.size();
    // Per table and row kind: this rank's count; then everybody's.
    std::vector<std::uint64_t> mine(K * nt, 0);
    for (const auto& r : records) {
      if (r.table >= nt) throw Error("store: record for table " + std::to_string(r.table));
      for (std::size_t k = 0; k < K; ++k)
        mine[K * r.table + k] += schema::rows_of(schema::kAllRows[k], r);
    }
    const Placement placed = place(mine, s.comm, s.rank, s.size);
    for (std::size_t ti = 0; ti < nt; ++ti) {
      TableState& t = s.tables[ti];
      schema::RowCounts before{}, total{};
      for (std::size_t k = 0; k < K; ++k) {
        before[k] = placed.before[K * ti + k];
        total[k] = placed.total[K * ti + k];
      }
      if (total[0] == 0) continue;  // every rank skips it alike
      // Where this rank's rows of each kind start: after the table's and the
      // lower ranks'.
      schema::RowCounts first{}, next{};
      for (std::size_t k = 0; k < K; ++k)
        first[k] = next[k] = t.appended[k] + before[k];
      // This rank's rows, in record order, and their index entries.
      schema::CaseRows rows;
      std::vector<char> idbytes;
      std::vector<std::vector<char>> bufs(t.datasets.size());
      using R = schema::Rows;
      using schema::kind_index;
      for (const auto& r : records) {
        if (r.table != ti) continue;
        rows.append(r, next);
        idbytes.insert(idbytes.end(), r.case_id.begin(), r.case_id.end());
        for (std::size_t d = 0; d < t.datasets.size(); ++d)
          t.datasets[d].extract(r, bufs[d]);
        for (std::size_t k = 0; k < K; ++k)
          next[k] += schema::rows_of(schema::kAllRows[k], r);
      }
      const auto mine_of = [&](R kind) { return mine[K * ti + kind_index(kind)]; };
      grow(t.cases, {}, t.appended[kind_index(R::Case)] + total[kind_index(R::Case)]);
      h5::write_rows(t.cases, schema::case_row_type(), {}, first[kind_index(R::Case)],
                     mine_of(R::Case), rows.data(), s.dxpl);
      grow(t.case_id, {}, t.appended[kind_index(R::IdByte)] + total[kind_index(R::IdByte)]);
      h5::write_rows(t.case_id, H5T_NATIVE_UINT8, {}, first[kind_index(R::IdByte)],
                     mine_of(R::IdByte), idbytes.data(), s.dxpl);
      kill_point("append");  // rows written, their ragged data not yet
      for (std::size_t d = 0; d < t.datasets.size(); ++d) {
        const auto& ds = t.datasets[d];
        const std::size_t k = kind_index(ds.rows);
        grow(t.ids[d], ds.trailing, t.appended[k] + total[k]);
        h5::write_rows(t.ids[d], ds.type, ds.trailing, first[k], mine_of(ds.rows), bufs[d].data(),
                       s.dxpl);
      }
      for (std::size_t k = 0; k < K; ++k)
        t.appended[k] += total[k];
    }
    s.write_seconds += util::steady_seconds() - t0;
  } catch (const std::exception& e) {
    write_failed(impl_->path, "append to", e);
  }
}

void Store::append(const std::vector<EvaluationRecord>& records) {
  {
    std::uint64_t bytes = 0;
    for (const auto& r : records)
      bytes += evaluations::bytes_of(r);
    ensure_space(bytes);
  }
  try {
    Impl& s = *impl_;
    const double t0 = util::steady_seconds();
    constexpr std::size_t K = evaluations::kKinds;
    const std::size_t nt = s.tables.size();
    std::vector<std::uint64_t> mine(K * nt, 0);
    std::vector<std::vector<const EvaluationRecord*>> by_table(nt);
    for (const auto& r : records) {
      if (r.table >= nt || !s.tables[r.table].evals)
        throw Error("store: evaluation for table " + std::to_string(r.table) +
                    ", which records none");
      const evaluations::Counts c = evaluations::counts_of(r);
      for (std::size_t k = 0; k < K; ++k)
        mine[K * r.table + k] += c[k];
      by_table[r.table].push_back(&r);
    }
    const Placement placed = place(mine, s.comm, s.rank, s.size);
    for (std::size_t ti = 0; ti < nt; ++ti) {
      TableState& t = s.tables[ti];
      if (placed.total[K * ti] == 0) continue;  // every rank skips it alike
      evaluations::Counts first{}, end{};
      for (std::size_t k = 0; k < K; ++k) {
        first[k] = t.evals_appended[k] + placed.before[K * ti + k];
        end[k] = t.evals_appended[k] + placed.total[K * ti + k];
      }
      t.evals->write(by_table[ti], first, end, s.dxpl);
      t.evals_appended = end;
    }
    s.write_seconds += util::steady_seconds() - t0;
  } catch (const std::exception& e) {
    write_failed(impl_->path, "append to", e);
  }
}

void Store::commit() {
  try {
    Impl& s = *impl_;
    const double t0 = util::steady_seconds();
    // Data and index first; only then the counts that make them visible.
    h5::check(H5Fflush(s.file, H5F_SCOPE_GLOBAL), "cannot flush the store");
    kill_point("commit-flushed");
    for (auto& t : s.tables) {
      for (schema::Rows kind : schema::kAllRows) {
        h5::set_attr(t.group, schema::committed_attr(kind), t.appended[schema::kind_index(kind)]);
        kill_point("commit-attr");  // some counts of the table moved, others not
      }
      t.committed = t.appended;
      if (t.evals) {
        evaluations::write_committed(t.group, t.evals_appended);
        t.evals_committed = t.evals_appended;
      }
    }
    h5::check(H5Fflush(s.file, H5F_SCOPE_GLOBAL), "cannot flush the store");
    s.write_seconds += util::steady_seconds() - t0;
  } catch (const std::exception& e) {
    write_failed(impl_->path, "commit", e);
  }
}

void Store::set_failed_rows(const std::vector<std::int64_t>& failed) {
  Impl& s = *impl_;
  for (std::size_t i = 0; i < s.tables.size() && i < failed.size(); ++i)
    if (failed[i] >= 0)
      h5::set_attr(s.tables[i].group, "failed_rows", static_cast<std::uint64_t>(failed[i]));
  h5::check(H5Fflush(s.file, H5F_SCOPE_GLOBAL), "cannot flush the store");
}

void Store::set_pairs_not_carried(const std::vector<std::vector<PairNotCarried>>& not_carried) {
  Impl& s = *impl_;
  int rank = 0;
  MPI_Comm_rank(s.comm, &rank);
  for (std::size_t i = 0; i < s.tables.size() && i < not_carried.size(); ++i)
    if (!not_carried[i].empty())
      h5::write_text(s.tables[i].group, "pairs_not_carried",
                     table_io::not_carried_to_json(not_carried[i]), rank == 0, s.dxpl);
  h5::check(H5Fflush(s.file, H5F_SCOPE_GLOBAL), "cannot flush the store");
}

void Store::set_planned_rows(const std::vector<std::uint64_t>& planned) {
  Impl& s = *impl_;
  for (std::size_t i = 0; i < s.tables.size() && i < planned.size(); ++i) {
    h5::set_attr(s.tables[i].group, "planned_rows", planned[i]);
    s.tables[i].info.planned_rows = s.infos[i].planned_rows = planned[i];
  }
  h5::check(H5Fflush(s.file, H5F_SCOPE_GLOBAL), "cannot flush the store");
}

std::vector<std::vector<EvaluationRecord>> Store::committed_evaluations() const {
  std::vector<std::vector<EvaluationRecord>> out;
  for (std::size_t i = 0; i < impl_->tables.size(); ++i) {
    const TableState& t = impl_->tables[i];
    out.push_back(t.evals ? t.evals->read(static_cast<std::uint32_t>(i), t.evals_committed)
                          : std::vector<EvaluationRecord>{});
  }
  return out;
}

void Store::close() {
  if (!impl_ || impl_->file.get() < 0) return;
  for (auto& t : impl_->tables) {
    t.evals.reset();
    t.ids.clear();
    t.cases.reset();
    t.case_id.reset();
    t.group.reset();
  }
  impl_->dxpl.reset();
  impl_->file.reset();
}

std::vector<std::set<std::string>> Store::committed_ids() const {
  std::vector<std::set<std::string>> out;
  for (const auto& t : impl_->tables) {
    const auto ids = schema::read_case_ids(t.cases, t.case_id,
                                           t.committed[schema::kind_index(schema::Rows::Case)],
                                           t.committed[schema::kind_index(schema::Rows::IdByte)]);
    out.emplace_back(ids.begin(), ids.end());
  }
  return out;
}

std::vector<std::uint64_t> Store::committed_rows() const {
  std::vector<std::uint64_t> out;
  for (const auto& t : impl_->tables)
    out.push_back(t.committed[schema::kind_index(schema::Rows::Case)]);
  return out;
}

const std::vector<TableInfo>& Store::tables() const {
  return impl_->infos;
}

MPI_Comm Store::comm() const {
  return impl_->comm;
}
long long Store::file_id() const {
  return impl_->file.get();
}
double Store::write_seconds() const {
  return impl_->write_seconds;
}

}  // namespace clrp::store
