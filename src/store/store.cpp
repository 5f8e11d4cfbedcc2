// Collective appends and commits. Every rank tracks the same extents (rows,
// tokens, id bytes, graph nodes and edges per table): they only ever move by
// sums all ranks compute from one allgather, so no rank needs to ask the file.
#include "clrp/store/store.hpp"

#include <array>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "checksum.hpp"
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
  /// The checksummed datasets (checksum::columns), this rank's sums of the
  /// rows it appended since the last commit (parallel to them), the record
  /// of committed blocks and how many it holds.
  std::vector<checksum::Column> columns;
  std::vector<std::uint64_t> pending;
  h5::Id checksums;
  std::uint64_t blocks = 0;

  bool changed() const { return appended != committed || evals_appended != evals_committed; }
  /// The counters a commit would end the table's block at.
  checksum::Ends ends() const {
    checksum::Ends e{};
    std::copy(appended.begin(), appended.end(), e.begin());
    std::copy(evals_appended.begin(), evals_appended.end(), e.begin() + schema::kRowKinds);
    return e;
  }
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
  double checksum_seconds = 0;  ///< of write_seconds: hashing the rows appended

  /// What create and resume share before they open the file.
  static std::unique_ptr<Impl> start(const std::string& path, MPI_Comm comm);
  /// Checks the store's schema and spec, then every committed block against
  /// its checksums, before a resumed run builds on them (collective: each
  /// rank checks every size-th block).
  /// Damage is an error that says where and how to redo it, unless
  /// `redo_damaged`: then go_back holds, per damaged table, where to go back to.
  void verify(const StoreIdentity& id, const std::vector<TableInfo>& wanted, bool redo_damaged);
  std::map<std::string, checksum::Damage> go_back;
  /// Sets each damaged table's committed counts back to its last intact block
  /// (collective, after open_tables).
  void go_back_to_intact();
  /// What go_back_to_intact() took back, one line per table, for the run's log.
  std::vector<std::string> redone;

  void open_tables(const std::vector<TableInfo>& wanted, bool create, int deflate) {
    infos = wanted;
    for (const auto& info : wanted) {
      TableState t;
      t.info = info;
      t.datasets = schema::datasets(info);
      t.columns = checksum::columns(info);
      t.pending.assign(t.columns.size(), 0);
      const hsize_t width = checksum::kCounters + t.columns.size();
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
        t.checksums =
            h5::create_extendible(t.group, "checksums", H5T_NATIVE_UINT64, {width}, 64, 0);
        h5::set_attr(t.group, "checksum_columns", checksum::column_names_json(t.columns));
        h5::set_attr(t.group, "checksum_counters", checksum::column_counters_json(t.columns));
        h5::set_attr(t.group, "committed_checksum_blocks", std::uint64_t{0});
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
        if (H5Lexists(t.group, "checksums", H5P_DEFAULT) <= 0)
          throw Error(Where{path, g}, "the table has no checksum record; it cannot be resumed");
        t.checksums =
            h5::make(H5Dopen2(t.group, "checksums", H5P_DEFAULT), H5Dclose, g + "/checksums");
        t.blocks = h5::get_u64_attr(t.group, "committed_checksum_blocks");
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

// Every rank's damage findings, on every rank, in rank order.
std::vector<checksum::Damage> gather_damage(const std::vector<checksum::Damage>& mine,
                                            MPI_Comm comm) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& d : mine)
    j.push_back({d.object, d.what, d.block, d.keep});
  const std::string text = j.dump();
  int size = 1;
  MPI_Comm_size(comm, &size);
  int length = static_cast<int>(text.size());
  std::vector<int> lengths(static_cast<std::size_t>(size)), starts(lengths.size(), 0);
  MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm);
  for (std::size_t r = 1; r < lengths.size(); ++r)
    starts[r] = starts[r - 1] + lengths[r - 1];
  std::string all(static_cast<std::size_t>(starts.back() + lengths.back()), '\0');
  MPI_Allgatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), starts.data(), MPI_CHAR,
                 comm);
  std::vector<checksum::Damage> out;
  for (std::size_t r = 0; r < lengths.size(); ++r)
    for (const auto& d : nlohmann::json::parse(
             all.substr(static_cast<std::size_t>(starts[r]), static_cast<std::size_t>(lengths[r]))))
      out.push_back({d[0].get<std::string>(), d[1].get<std::string>(), d[2].get<std::size_t>(),
                     d[3].get<checksum::Ends>()});
  return out;
}

h5::Id file_access(MPI_Comm comm) {
  h5::Id fapl = h5::make(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access list");
  h5::check(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), "MPI-IO driver");
  // The 1.10 file format or later: its superblock, object headers (links and
  // attributes kept in them, h5::compact_creation_list) and chunk indexes
  // (extensible arrays; 1.8's v1 B-trees have none) carry checksums of their
  // own, so damage to the file's metadata is caught by HDF5 as the store's
  // checksums catch damage to its rows (docs/store.md, "Checksums").
  h5::check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST), "file format");
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

void Store::Impl::verify(const StoreIdentity& id, const std::vector<TableInfo>& wanted,
                         bool redo_damaged) {
  // Each rank checks its share of the blocks through a read-only serial handle
  // of its own, before the collective open: with collective metadata reads
  // (file_access), ranks that read different blocks would wait on each other.
  std::vector<checksum::Damage> mine;
  {
    h5::Id f = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                        path + ": cannot open the store");
    schema::require_store(f, path);
    // The spec first: a store of another campaign is not checked for damage.
    const std::string hash = h5::get_string_attr(f, "spec_hash");
    if (hash != id.spec_hash)
      throw Error(Where{path}, "the store was written by a different campaign spec (hash " + hash +
                                   ", this spec " + id.spec_hash +
                                   "); use another store path or the spec that wrote it");
    // A damaged or cut-short /aggregate is no reason to stop: every run ends by
    // rewriting it from the (verified) rows. It is said, not hidden.
    if (rank == 0)
      for (const auto& d : checksum::verify_aggregates(f))
        redone.push_back(d.object + ": " + d.what + "; rewritten from the rows at the end");
    for (const auto& info : wanted) {
      const std::string g = info.group();
      try {
        h5::Id group = h5::make(H5Gopen2(f, g.c_str(), H5P_DEFAULT), H5Gclose, g);
        const auto d = checksum::verify_table(group, g, info, static_cast<std::size_t>(rank),
                                              static_cast<std::size_t>(size));
        mine.insert(mine.end(), d.begin(), d.end());
      } catch (const std::exception& e) {
        mine.push_back({g, e.what()});
      }
    }
  }
  const auto damage = gather_damage(mine, comm);
  if (damage.empty()) return;
  go_back = checksum::earliest(damage);
  bool repairable = true;
  for (const auto& [group, d] : go_back)
    repairable = repairable && d.block != checksum::Damage::kNoBlock;
  if (!redo_damaged || !repairable)
    throw Error(Where{path}, checksum::report(damage) + "\nNothing was changed.");
}

void Store::Impl::go_back_to_intact() {
  for (auto& t : tables) {
    const auto it = go_back.find(t.info.group());
    if (it == go_back.end()) continue;
    const checksum::Damage& d = it->second;
    for (std::size_t k = 0; k < schema::kRowKinds; ++k)
      t.appended[k] = t.committed[k] = d.keep[k];
    for (std::size_t k = 0; k < evaluations::kKinds; ++k)
      t.evals_appended[k] = t.evals_committed[k] = d.keep[schema::kRowKinds + k];
    t.blocks = d.block;
    h5::set_attr(t.group, "committed_checksum_blocks", t.blocks);
    for (schema::Rows kind : schema::kAllRows)
      h5::set_attr(t.group, schema::committed_attr(kind), t.committed[schema::kind_index(kind)]);
    if (t.evals) evaluations::write_committed(t.group, t.evals_committed);
    redone.push_back(t.info.group() + ": damaged from case row " + std::to_string(d.keep[0]) +
                     " (" + d.what + "); went back to its last intact commit, " +
                     std::to_string(d.keep[0]) + " cases kept");
  }
}

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
  impl->file =
      h5::make(H5Fcreate(path.c_str(), H5F_ACC_EXCL,
                         h5::compact_creation_list(H5P_FILE_CREATE, path), file_access(comm)),
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
                    const std::vector<TableInfo>& tables, ResumeOptions options) {
  h5::quiet();
  if (!std::filesystem::exists(path)) throw Error(Where{path}, "no store to resume");
  if (std::filesystem::is_directory(path))
    throw Error(Where{path}, "is a directory, not a store to resume (a store is a file)");
  auto impl = Impl::start(path, comm);
  impl->verify(id, tables, options.redo_damaged);
  impl->file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDWR, file_access(comm)), H5Fclose,
                        path + ": cannot open the store");
  impl->open_tables(tables, false, 0);
  impl->go_back_to_intact();
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
      // Checksums of this rank's rows, in checksum::columns order.
      const double t_sum = util::steady_seconds();
      t.pending[0] += checksum::sum_rows(rows.data(), schema::case_row_size(),
                                         first[kind_index(R::Case)], mine_of(R::Case));
      t.pending[1] +=
          checksum::sum_rows(idbytes.data(), 1, first[kind_index(R::IdByte)], idbytes.size());
      for (std::size_t d = 0; d < t.datasets.size(); ++d)
        t.pending[2 + d] +=
            checksum::sum_rows(bufs[d].data(), t.datasets[d].row_bytes(),
                               first[kind_index(t.datasets[d].rows)], mine_of(t.datasets[d].rows));
      s.checksum_seconds += util::steady_seconds() - t_sum;
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
      const evaluations::Counts sums = t.evals->write(by_table[ti], first, end, s.dxpl);
      for (std::size_t k = 0; k < K; ++k)
        t.pending[2 + t.datasets.size() + k] += sums[k];
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
    write_checksum_blocks();
    // Data, index and checksums first; only then the counts that make them visible.
    h5::check(H5Fflush(s.file, H5F_SCOPE_GLOBAL), "cannot flush the store");
    kill_point("commit-flushed");
    for (auto& t : s.tables) {
      if (t.changed()) h5::set_attr(t.group, "committed_checksum_blocks", ++t.blocks);
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

void Store::write_checksum_blocks() {
  Impl& s = *impl_;
  // Every rank's sums of every table, added up in one allreduce (mod 2^64).
  std::vector<std::uint64_t> mine, sums;
  for (const auto& t : s.tables)
    mine.insert(mine.end(), t.pending.begin(), t.pending.end());
  sums.resize(mine.size());
  MPI_Allreduce(mine.data(), sums.data(), static_cast<int>(mine.size()), MPI_UINT64_T, MPI_SUM,
                s.comm);
  std::size_t at = 0;
  for (auto& t : s.tables) {
    const std::size_t n = t.columns.size();
    if (t.changed()) {  // the same on every rank: the counts come from allgathers
      const checksum::Ends ends = t.ends();
      std::vector<std::uint64_t> row(ends.begin(), ends.end());
      row.insert(row.end(), sums.begin() + static_cast<std::ptrdiff_t>(at),
                 sums.begin() + static_cast<std::ptrdiff_t>(at + n));
      const std::vector<hsize_t> width{row.size()};
      grow(t.checksums, width, t.blocks + 1);
      h5::write_rows(t.checksums, H5T_NATIVE_UINT64, width, t.blocks, s.rank == 0 ? 1 : 0,
                     row.data(), s.dxpl);
    }
    std::fill(t.pending.begin(), t.pending.end(), 0);
    at += n;
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
double Store::checksum_seconds() const {
  return impl_->checksum_seconds;
}
const std::vector<std::string>& Store::redone() const {
  return impl_->redone;
}

}  // namespace clrp::store
