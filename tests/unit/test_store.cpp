// The store on one rank (MPI singleton): appends become visible only when
// committed, a reopened store continues after its last commit and overwrites
// what was appended after it, a store of another spec is refused, and the
// aggregates see exactly the committed cases.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>

#include <cstdlib>
#include <filesystem>

#include "clrp/store/aggregate.hpp"
#include "clrp/store/inspect.hpp"
#include "clrp/store/lock.hpp"
#include "clrp/store/store.hpp"
#include "clrp/util/error.hpp"
#include "mpi_once.hpp"

namespace fs = std::filesystem;
using namespace clrp::store;

namespace {

using clrp::test::ensure_mpi;

TableInfo table(const std::string& bench) {
  TableInfo t;
  t.model = "m";
  t.checkpoint = "final";
  t.benchmark = bench;
  t.rules = {"attnlrp", "grad-x-input"};
  t.layers = 2;
  t.heads = 3;
  t.neurons = 1;
  t.residual = true;
  return t;
}

CaseRecord record(std::uint32_t tbl, const std::string& id, std::size_t T, float base) {
  const std::size_t R = 2, L = 2, H = 3, K = 1;
  CaseRecord r;
  r.table = tbl;
  r.case_id = id;
  r.delta = base;
  for (std::size_t t = 0; t < T; ++t) {
    r.tokens.push_back(static_cast<std::int32_t>(t + 1));
    r.token_segment.push_back(t == 0 ? -1 : 4);
    r.token_evidence.push_back(t == 1 ? 1 : 0);
  }
  for (std::size_t i = 0; i < T * R; ++i)
    r.token_relevance.push_back(base + static_cast<float>(i));
  r.layer_relevance.assign(T * R * L, base);
  r.mid_relevance.assign(T * R * L, base);
  r.conservation = {0.1, -0.2};
  r.segment_relevance.assign(R * kSegmentColumns, 0.5);
  r.head_relevance.assign(R * L * H, 1.0f);
  r.neuron_ids.assign(R * L * K, 7);
  r.neuron_relevance.assign(R * L * K, 2.0f);
  r.bias_absorbed.assign(R * L, 0.0f);
  return r;
}

fs::path fresh(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("clrp_store_test_" + name + ".h5");
  fs::remove(p);
  return p;
}

}  // namespace

TEST(Store, CommitMakesAppendsVisibleAndResumeContinues) {
  ensure_mpi();
  const fs::path path = fresh("commit");
  const StoreIdentity id{"{}", "abc", "t"};
  const std::vector<TableInfo> tables = {table("arc"), table("sciq")};
  {
    Store s = Store::create(path.string(), MPI_COMM_WORLD, id, tables);
    s.append({record(0, "a", 3, 1), record(1, "b", 4, 2)});
    s.commit();
    // Appended but never committed: a crash here must not count it.
    s.append({record(0, "lost", 5, 9)});
    EXPECT_EQ(s.committed_rows(), (std::vector<std::uint64_t>{1, 1}));
  }  // closed without commit, like a kill between commits (metadata may still be flushed)
  const auto j = inspect_store(path.string());
  EXPECT_EQ(j["committed_cases"], 2);
  EXPECT_THROW(Store::create(path.string(), MPI_COMM_WORLD, id, tables), clrp::Error);
  EXPECT_THROW(Store::resume(path.string(), MPI_COMM_WORLD, {"{}", "other", "t"}, tables),
               clrp::Error);
  {
    Store s = Store::resume(path.string(), MPI_COMM_WORLD, id, tables);
    const auto ids = s.committed_ids();
    EXPECT_EQ(ids[0], (std::set<std::string>{"a"}));
    EXPECT_EQ(ids[1], (std::set<std::string>{"b"}));
    s.append({record(0, "c", 2, 3)});
    s.commit();
    EXPECT_EQ(s.committed_ids()[0], (std::set<std::string>{"a", "c"}));  // "lost" overwritten
    write_aggregates(s);
  }
  const auto k = inspect_store(path.string());
  EXPECT_EQ(k["committed_cases"], 3);
  EXPECT_EQ(k["committed_tokens"], 3 + 4 + 2);
  EXPECT_EQ(k["tables"][0]["aggregate"]["cases"], 2);
  EXPECT_DOUBLE_EQ(k["tables"][0]["aggregate"]["delta"]["mean"].get<double>(), 2.0);
  fs::remove(path);
}

TEST(Store, RecordsWithWrongShapesAreRefused) {
  ensure_mpi();
  const fs::path path = fresh("shapes");
  Store s = Store::create(path.string(), MPI_COMM_WORLD, {"{}", "h", "t"}, {table("arc")});
  CaseRecord bad = record(0, "a", 3, 1);
  bad.token_relevance.pop_back();
  EXPECT_THROW(s.append({bad}), clrp::Error);
  s.close();
  fs::remove(path);
}

TEST(StoreLock, SecondHolderIsRefusedWithTheFirstNamed) {
  const fs::path path = fresh("lock");
  StoreLock first(path.string());
  try {
    StoreLock second(path.string());
    FAIL() << "took a held lock";
  } catch (const clrp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("being written by another campaign (pid "),
              std::string::npos)
        << e.what();
  }
}
