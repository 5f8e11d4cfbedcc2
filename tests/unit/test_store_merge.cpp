// clrp merge on hand-made stores (one rank): committed cases of every input
// are copied, uncommitted ones are not, aggregates equal those of one store
// holding every case, and each refusal leaves no output behind.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <filesystem>

#include "clrp/store/aggregate.hpp"
#include "clrp/store/inspect.hpp"
#include "clrp/store/merge.hpp"
#include "clrp/store/store.hpp"
#include "clrp/util/error.hpp"
#include "mpi_once.hpp"

namespace fs = std::filesystem;
using namespace clrp::store;

namespace {

using clrp::test::ensure_mpi;

TableInfo table(const std::string& checkpoint) {
  TableInfo t;
  t.model = "m";
  t.checkpoint = checkpoint;
  t.benchmark = "arc";
  t.rules = {"attnlrp"};
  t.layers = 2;
  t.heads = 2;
  t.neurons = 1;
  t.residual = true;
  t.planned_rows = 2;
  return t;
}

CaseRecord record(std::uint32_t tbl, const std::string& id, std::size_t T, float base) {
  const std::size_t R = 1, L = 2, H = 2, K = 1;
  CaseRecord r;
  r.table = tbl;
  r.case_id = id;
  r.delta = base;
  r.case_index = static_cast<std::uint32_t>(T);
  for (std::size_t t = 0; t < T; ++t) {
    r.tokens.push_back(static_cast<std::int32_t>(t + 10 * base));
    r.token_segment.push_back(static_cast<std::int8_t>(t % 9));
    r.token_evidence.push_back(t == 1 ? 1 : 0);
    r.token_relevance.push_back(base * static_cast<float>(t + 1));
  }
  r.layer_relevance.assign(T * R * L, base);
  r.mid_relevance.assign(T * R * L, -base);
  r.conservation = {0.01 * base};
  r.segment_relevance.assign(R * kSegmentColumns, base);
  r.head_relevance.assign(R * L * H, base);
  r.neuron_ids.assign(R * L * K, 3);
  r.neuron_relevance.assign(R * L * K, base);
  r.bias_absorbed.assign(R * L, 0.5f);
  return r;
}

const std::vector<TableInfo> kTables = {table("step1"), table("step2")};

fs::path fresh(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("clrp_merge_test_" + name + ".h5");
  fs::remove(p);
  return p;
}

fs::path make_store(const std::string& name, const std::vector<CaseRecord>& committed,
                    const std::vector<CaseRecord>& uncommitted = {},
                    const StoreIdentity& id = {R"({"rules":["attnlrp"]})", "h1", "c"}) {
  const fs::path p = fresh(name);
  Store s = Store::create(p.string(), MPI_COMM_WORLD, id, kTables);
  s.append(committed);
  s.commit();
  if (!uncommitted.empty()) s.append(uncommitted);
  write_aggregates(s);
  return p;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const clrp::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(StoreMerge, HalvesGiveTheWholeStore) {
  ensure_mpi();
  const auto a =
      make_store("a", {record(0, "x", 3, 1), record(0, "y", 4, 2)}, {record(1, "never", 2, 9)});
  const auto b = make_store("b", {record(1, "x", 5, 3), record(1, "y", 2, 4)});
  const auto whole = make_store("whole", {record(0, "x", 3, 1), record(0, "y", 4, 2),
                                          record(1, "x", 5, 3), record(1, "y", 2, 4)});
  const auto out = fresh("out");
  const auto r = merge_stores(out.string(), {a.string(), b.string()});
  EXPECT_EQ(r.tables, 2u);
  EXPECT_EQ(r.cases, 4u);
  EXPECT_EQ(r.cases_per_input, (std::vector<std::uint64_t>{2, 2}));
  auto merged = inspect_store(out.string());
  auto expect = inspect_store(whole.string());
  EXPECT_EQ(merged["spec_hash"], "h1");
  EXPECT_EQ(merged["committed_tokens"], expect["committed_tokens"]);
  EXPECT_EQ(merged["unfinished_tables"], 0);
  for (auto* j : {&merged, &expect})
    for (auto& t : (*j)["tables"])
      t.erase("rows_in_file"), t.erase("checkpoint_path");
  EXPECT_EQ(merged["tables"], expect["tables"]);
  // Each half alone is unfinished: its other checkpoint's table is empty.
  EXPECT_EQ(inspect_store(a.string())["unfinished_tables"], 1);
  for (const auto& p : {a, b, whole, out})
    fs::remove(p);
}

TEST(StoreMerge, RefusesOtherSpecsDuplicatesAndExistingOutput) {
  ensure_mpi();
  const auto a = make_store("ra", {record(0, "x", 3, 1)});
  const auto other =
      make_store("rother", {record(1, "z", 3, 1)}, {}, {R"({"rules":["cp-lrp"]})", "h2", "c"});
  const auto dup = make_store("rdup", {record(0, "x", 3, 1)});
  const auto out = fresh("rout");
  std::string m = message_of([&] { merge_stores(out.string(), {a.string(), other.string()}); });
  EXPECT_NE(m.find(a.string()), std::string::npos) << m;
  EXPECT_NE(m.find(other.string()), std::string::npos) << m;
  EXPECT_NE(m.find("spec_hash differs"), std::string::npos) << m;
  EXPECT_NE(m.find("spec key 'rules[0]'"), std::string::npos) << m;
  m = message_of([&] { merge_stores(out.string(), {a.string(), dup.string()}); });
  EXPECT_NE(m.find("case 'x' of table /runs/m/step1/arc is in both"), std::string::npos) << m;
  m = message_of([&] { merge_stores(out.string(), {a.string(), a.string()}); });
  EXPECT_NE(m.find("given twice"), std::string::npos) << m;
  m = message_of([&] { merge_stores(a.string(), {dup.string()}); });
  EXPECT_NE(m.find("the output exists"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(fs::temp_directory_path()))
    EXPECT_EQ(e.path().filename().string().find("clrp_merge_test_rout.h5.tmp-"), std::string::npos)
        << "temporary output left behind: " << e.path();
  for (const auto& p : {a, other, dup})
    fs::remove(p);
}
