// Campaign specs: every problem reported at once with its key path; sampling
// and pair parsing are deterministic and strict.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "clrp/campaign/failure_file.hpp"
#include "clrp/campaign/spec.hpp"

namespace fs = std::filesystem;
using namespace clrp::campaign;

namespace {

fs::path temp_dir() {
  const fs::path d =
      fs::temp_directory_path() /
      ("clrp_spec_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

std::vector<std::string> problems_of(const std::string& toml, const fs::path& dir) {
  write(dir / "spec.toml", toml);
  try {
    load_spec((dir / "spec.toml").string());
  } catch (const SpecError& e) {
    return e.problems();
  }
  return {};
}

bool has(const std::vector<std::string>& problems, const std::string& needle) {
  for (const auto& p : problems)
    if (p.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(CampaignSpec, ValidSpecResolvesPathsAndDefaults) {
  const fs::path dir = temp_dir();
  write(dir / "f.jsonl", "");
  fs::create_directories(dir / "ck" / "step10");
  fs::create_directories(dir / "ck" / "step9");
  fs::create_directories(dir / "ck" / "other");
  const std::string toml = R"(
name = "t"
store = "out.h5"
rules = ["attnlrp", "grad-x-input"]
[[models]]
name = "a"
path = "default"
[[models]]
name = "b"
checkpoints = "ck"
[[cases]]
path = "f.jsonl"
limit = 3
seed = 9
)";
  write(dir / "spec.toml", toml);
  const CampaignSpec s = load_spec((dir / "spec.toml").string());
  EXPECT_EQ(s.name, "t");
  EXPECT_EQ(s.mode, Mode::ExplainFailures);
  EXPECT_EQ(s.store, (dir / "out.h5").lexically_normal().string());
  ASSERT_EQ(s.models.size(), 2u);
  ASSERT_EQ(s.models[0].checkpoints.size(), 1u);
  EXPECT_EQ(s.models[0].checkpoints[0].name, "final");
  ASSERT_EQ(s.models[1].checkpoints.size(), 2u);
  EXPECT_EQ(s.models[1].checkpoints[0].name, "step9");  // numeric order, not text order
  EXPECT_EQ(s.models[1].checkpoints[1].name, "step10");
  EXPECT_EQ(s.rules.size(), 2u);
  EXPECT_EQ(s.cases[0].limit, 3);
  EXPECT_EQ(s.hash(), load_spec((dir / "spec.toml").string()).hash());
  // The layout is not part of the identity: a campaign may resume with other batches.
  write(dir / "spec2.toml", toml + "[layout]\nbatch_cases = 9\n");
  EXPECT_EQ(s.hash(), load_spec((dir / "spec2.toml").string()).hash());
  write(dir / "spec3.toml", toml + "[record]\nneurons = 4\n");
  EXPECT_NE(s.hash(), load_spec((dir / "spec3.toml").string()).hash());
}

TEST(CampaignSpec, BenchmarksThroughTheChatTemplate) {
  const fs::path dir = temp_dir();
  write(dir / "b.jsonl", "");
  const std::string head = R"(
name = "t"
store = "out.h5"
[[models]]
name = "a"
path = "default"
)";
  write(dir / "spec.toml", head + R"(
[[benchmarks]]
path = "b.jsonl"
[[benchmarks]]
path = "b.jsonl"
chat = true
[[benchmarks]]
path = "b.jsonl"
chat = { system = "Be brief.", options = { enable_thinking = false, n = 2 }, template = "default" }
)");
  const CampaignSpec s = load_spec((dir / "spec.toml").string());
  ASSERT_EQ(s.benchmarks.size(), 3u);
  EXPECT_FALSE(s.benchmarks[0].chat.has_value());
  ASSERT_TRUE(s.benchmarks[1].chat.has_value());
  EXPECT_EQ(*s.benchmarks[1].chat, clrp::text::ChatSettings{});
  ASSERT_TRUE(s.benchmarks[2].chat.has_value());
  EXPECT_EQ(s.benchmarks[2].chat->system, "Be brief.");
  EXPECT_EQ(s.benchmarks[2].chat->options, nlohmann::json({{"enable_thinking", false}, {"n", 2}}));
  EXPECT_EQ(s.benchmarks[2].chat->template_name, "default");
  // The settings are part of the campaign's identity.
  write(dir / "spec2.toml", head + R"(
[[benchmarks]]
path = "b.jsonl"
[[benchmarks]]
path = "b.jsonl"
chat = true
[[benchmarks]]
path = "b.jsonl"
chat = { system = "Be brief.", options = { enable_thinking = true, n = 2 }, template = "default" }
)");
  EXPECT_NE(s.hash(), load_spec((dir / "spec2.toml").string()).hash());
  const auto p = problems_of(head + R"(
[[benchmarks]]
path = "b.jsonl"
chat = "yes"
[[benchmarks]]
path = "b.jsonl"
chat = { sytem = "x" }
[[benchmarks]]
path = "b.jsonl"
chat = { options = 3 }
)",
                             dir);
  EXPECT_TRUE(has(p, "benchmarks[0].chat: must be true, false or a table"))
      << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "benchmarks[1].chat.sytem: unknown field")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "benchmarks[2].chat.options: expected an object"))
      << ::testing::PrintToString(p);
  EXPECT_EQ(p.size(), 3u) << ::testing::PrintToString(p);
}

TEST(CampaignSpec, ReportsEveryProblemAtOnceWithKeyPaths) {
  const fs::path dir = temp_dir();
  const auto p = problems_of(R"(
name = "bad name!"
mode = "fixed-set"
store = "nowhere/out.h5"
rules = ["attnlrp", "lrp-eps", "attnlrp"]
colour = "blue"
[[models]]
name = "a"
path = "missing-model"
dtype = "float16"
[[models]]
name = "a"
path = "default"
device = "tpu"
[[cases]]
path = "missing.jsonl"
limt = 4
models = ["a"]
[layout]
stages = 0
transport = "tcp"
balance = "random"
)",
                             dir);
  EXPECT_TRUE(has(p, "name: 'bad name!' is not a name")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "store: "));
  EXPECT_TRUE(has(p, "rules[1]: 'lrp-eps'"));
  EXPECT_TRUE(has(p, "rules[2]: 'attnlrp' is listed twice"));
  EXPECT_TRUE(has(p, "colour: unknown key"));
  EXPECT_TRUE(has(p, "models[0].path: "));
  EXPECT_TRUE(has(p, "no such file or directory"));
  EXPECT_TRUE(has(p, "models[0].dtype: 'float16'"));
  EXPECT_TRUE(has(p, "models[1].name: 'a' names two models"));
  EXPECT_TRUE(has(p, "models[1].device: 'tpu'"));
  EXPECT_TRUE(has(p, "cases[0].path: "));
  EXPECT_TRUE(has(p, "cases[0].limt: unknown key"));
  EXPECT_TRUE(has(p, "cases[0].models: not allowed in fixed-set mode"));
  EXPECT_TRUE(has(p, "reference: missing"));
  EXPECT_TRUE(has(p, "layout.stages: "));
  EXPECT_TRUE(has(p, "layout.transport: transport 'tcp': expected auto, mpi or nccl"));
  EXPECT_TRUE(has(p, "layout.balance: 'random': expected time or parameters"));
  EXPECT_EQ(p.size(), 16u) << ::testing::PrintToString(p);  // each once, nothing else
}

TEST(CampaignSpec, DtypeAndDeviceAreTypedWithTheCliSpellings) {
  const fs::path dir = temp_dir();
  write(dir / "f.jsonl", "");
  const auto spec = [&](const std::string& dtype, const std::string& device) {
    write(dir / "spec.toml",
          "name = \"t\"\nstore = \"out.h5\"\nrules = [\"attnlrp\"]\n"
          "[[models]]\nname = \"a\"\npath = \"default\"\n" +
              dtype + device + "[[cases]]\npath = \"f.jsonl\"\n");
    return load_spec((dir / "spec.toml").string());
  };
  // The defaults, and the identity they have always had (stores made before resume).
  const CampaignSpec plain = spec("", "");
  EXPECT_EQ(plain.models[0].dtype, clrp::model::ComputeDtype::Float32);
  EXPECT_EQ(plain.models[0].device, clrp::model::DeviceSpec{});
  EXPECT_EQ(plain.to_json()["models"][0].dump(),
            R"({"checkpoints":[{"name":"final","path":"default"}],"device":"cpu",)"
            R"("dtype":"float32","name":"a","path":"default"})");
  EXPECT_EQ(plain.hash(), spec("dtype = \"float32\"\n", "device = \"cpu\"\n").hash());
  EXPECT_EQ(plain.hash(), spec("dtype = \"fp32\"\n", "").hash());
  // bf16 is bfloat16, as on the command line; one campaign whichever is written.
  const CampaignSpec bf16 = spec("dtype = \"bf16\"\n", "device = \"cuda\"\n");
  EXPECT_EQ(bf16.models[0].dtype, clrp::model::ComputeDtype::BFloat16);
  EXPECT_TRUE(bf16.models[0].device.any_gpu());
  EXPECT_EQ(bf16.to_json()["models"][0]["dtype"], "bfloat16");
  EXPECT_EQ(bf16.to_json()["models"][0]["device"], "cuda");
  EXPECT_EQ(bf16.hash(), spec("dtype = \"bfloat16\"\n", "device = \"cuda\"\n").hash());
  const CampaignSpec gpu1 = spec("", "device = \"cuda:1\"\n");
  EXPECT_EQ(gpu1.models[0].device,
            (clrp::model::DeviceSpec{clrp::model::DeviceSpec::Kind::Cuda, 1}));
  EXPECT_EQ(gpu1.to_json()["models"][0]["device"], "cuda:1");
  // What no run could use is refused here, naming the field.
  const auto p = problems_of(
      "name = \"t\"\nstore = \"out.h5\"\nrules = [\"attnlrp\"]\n[[models]]\nname = "
      "\"a\"\npath = \"default\"\ndtype = \"half\"\ndevice = \"cuda:01\"\n[[cases]]\npath = "
      "\"f.jsonl\"\n",
      dir);
  EXPECT_TRUE(has(p, "models[0].dtype: 'half' is not float32, fp32, bfloat16 or bf16"))
      << ::testing::PrintToString(p);
  EXPECT_TRUE(has(p, "models[0].device: 'cuda:01' is not cpu, cuda or cuda:N"));
  EXPECT_EQ(p.size(), 2u) << ::testing::PrintToString(p);
}

TEST(CampaignSpec, MissingSectionsAndBadToml) {
  const fs::path dir = temp_dir();
  const auto p = problems_of("name = \"x\"\n", dir);
  EXPECT_TRUE(has(p, "store: missing"));
  EXPECT_TRUE(has(p, "models: missing"));
  EXPECT_TRUE(has(p, "cases: missing"));
  write(dir / "broken.toml", "name = \n");
  EXPECT_THROW(load_spec((dir / "broken.toml").string()), clrp::Error);
  EXPECT_THROW(load_spec((dir / "nope.toml").string()), clrp::Error);
}

TEST(CampaignSampling, SeededSubsetInFileOrder) {
  const auto a = sample_indices(100, 10, 5);
  EXPECT_EQ(a, sample_indices(100, 10, 5));
  EXPECT_NE(a, sample_indices(100, 10, 6));
  ASSERT_EQ(a.size(), 10u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<std::size_t>(a.begin(), a.end()).size(), 10u);
  EXPECT_EQ(sample_indices(4, 0, 1).size(), 4u);
  EXPECT_EQ(sample_indices(4, 10, 1).size(), 4u);
}

TEST(FailureFile, ParsesPairsAndRejectsBadOnes) {
  const fs::path dir = temp_dir();
  const std::string c =
      R"({"id":"q1","benchmark":"arc_easy","format":"mc_letter","segments":[{"kind":"question","text":"Q?\n"},{"kind":"answer_prefix","text":"Answer:"}],"gold":{"index":0,"options":["x","y"],"letters":["A","B"],"continuations":[" A"," B"]})";
  write(
      dir / "ok.jsonl",
      c + R"(,"pair":{"prefix":" I","wrong":{"id":5,"token":" B","logit":2.0},"correct":{"id":4,"token":" A","logit":1.0},"delta":1.0,"method":"imported","model":"x"}})"
          "\n");
  const auto f = read_failure_file((dir / "ok.jsonl").string());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].c.prompt, "Q?\nAnswer:");
  EXPECT_EQ(f[0].pair.prefix, " I");
  EXPECT_EQ(f[0].pair.wrong.id, 5);
  EXPECT_EQ(f[0].pair.correct.id, 4);
  EXPECT_EQ(f[0].pair.model, "x");
  EXPECT_EQ(f[0].pair.method, clrp::cases::PairMethod::imported);
  EXPECT_EQ(f[0].line, 1u);
  // A pair found under a chat template keeps its settings (the campaign renders them).
  write(
      dir / "chat.jsonl",
      c + R"(,"pair":{"prefix":"","wrong":{"id":5,"token":" B","logit":2.0},"correct":{"id":4,"token":" A","logit":1.0},"delta":1.0,"method":"imported","model":"x","chat":{"system":"S","options":{"enable_thinking":false}}}})"
          "\n");
  const auto chat = read_failure_file((dir / "chat.jsonl").string());
  ASSERT_EQ(chat.size(), 1u);
  ASSERT_TRUE(chat[0].pair.chat.has_value());
  EXPECT_EQ(chat[0].pair.chat->system, "S");
  EXPECT_EQ(chat[0].pair.chat->options, nlohmann::json({{"enable_thinking", false}}));
  // The case reader's own checks apply: an unknown method, a Δℓ that is not
  // the logits' difference, chat settings that are not settings.
  for (
      const char* bad :
      {R"(,"pair":{"wrong":{"id":5,"token":" B","logit":2.0},"correct":{"id":4,"token":" A","logit":1.0},"delta":1.0,"method":"m","model":"x"}})",
       R"(,"pair":{"wrong":{"id":5,"token":" B","logit":2.0},"correct":{"id":4,"token":" A","logit":1.0},"delta":3.0,"method":"imported","model":"x"}})",
       R"(,"pair":{"wrong":{"id":5,"token":" B","logit":2.0},"correct":{"id":4,"token":" A","logit":1.0},"delta":1.0,"method":"imported","model":"x","chat":{"options":3}}})",
       R"(,"pair":{"wrong":{"id":5,"token":" B","logit":2.0},"correct":{"id":4,"token":" A","logit":1.0},"delta":1.0,"method":"imported","model":"x","chat":"yes"}})"}) {
    write(dir / "bad.jsonl", c + bad + "\n");
    EXPECT_THROW(read_failure_file((dir / "bad.jsonl").string()), clrp::Error) << bad;
  }
  write(dir / "nopair.jsonl", c + "}\n");
  EXPECT_THROW(read_failure_file((dir / "nopair.jsonl").string()), clrp::Error);
  write(dir / "same.jsonl", c + R"(,"pair":{"wrong":{"id":4},"correct":{"id":4}}})"
                                "\n");
  EXPECT_THROW(read_failure_file((dir / "same.jsonl").string()), clrp::Error);
  write(dir / "typo.jsonl", c + R"(,"pair":{"wrong":{"id":3},"correct":{"id":4},"detla":1}})"
                                "\n");
  try {
    read_failure_file((dir / "typo.jsonl").string());
    FAIL() << "accepted an unknown pair field";
  } catch (const clrp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("pair.detla"), std::string::npos) << e.what();
  }
}

TEST(CampaignSpec, HuggingFaceCacheRevisionsAreCheckpoints) {
  const fs::path dir = temp_dir();
  write(dir / "f.jsonl", "");
  const fs::path cache = dir / "models--org--tiny";
  for (const char* commit : {"aaa111", "bbb222", "ccc333"})
    fs::create_directories(cache / "snapshots" / commit);
  fs::create_directories(cache / "refs");
  write(cache / "refs" / "main", "ccc333");
  write(cache / "refs" / "step100", "bbb222\n");
  write(cache / "refs" / "step20", "aaa111");
  const std::string toml = R"(
name = "t"
store = "out.h5"
rules = ["attnlrp"]
[[models]]
name = "a"
checkpoints = "models--org--tiny"
[[cases]]
path = "f.jsonl"
)";
  write(dir / "spec.toml", toml);
  const CampaignSpec s = load_spec((dir / "spec.toml").string());
  ASSERT_EQ(s.models[0].checkpoints.size(), 3u);
  EXPECT_EQ(s.models[0].checkpoints[0].name, "step20");
  EXPECT_EQ(s.models[0].checkpoints[1].name, "step100");
  EXPECT_EQ(s.models[0].checkpoints[2].name, "main");
  EXPECT_EQ(fs::path(s.models[0].checkpoints[1].path), cache / "snapshots" / "bbb222");
  // A ref naming a commit the cache does not hold is reported with its key path.
  write(cache / "refs" / "step5", "ddd444");
  EXPECT_TRUE(
      has(problems_of(toml, dir), "models[0].checkpoints: ref 'step5' names commit 'ddd444'"));
}

TEST(CampaignSpec, OwnFailuresOnlyForFixedSetWithBenchmarks) {
  const fs::path dir = temp_dir();
  write(dir / "items.jsonl", "");
  const std::string models = R"(
[[models]]
name = "a"
path = "default"
[[models]]
name = "b"
path = "default"
)";
  const std::string bench = "[[benchmarks]]\npath = \"items.jsonl\"\n";
  auto p =
      problems_of("name = \"x\"\nstore = \"s.h5\"\nown_failures = true\n" + models + bench, dir);
  EXPECT_TRUE(has(p, "own_failures: only for mode = \"fixed-set\"")) << ::testing::PrintToString(p);
  p = problems_of(
      "name = \"x\"\nstore = \"s.h5\"\nmode = \"fixed-set\"\nreference = \"a\"\nown_failures = "
      "1\n" +
          models + bench,
      dir);
  EXPECT_TRUE(has(p, "own_failures: ")) << ::testing::PrintToString(p);
  write(dir / "f.jsonl", "");
  p = problems_of(
      "name = \"x\"\nstore = \"s.h5\"\nmode = \"fixed-set\"\nreference = \"a\"\nown_failures = "
      "true\n" +
          models + "[[cases]]\npath = \"f.jsonl\"\n",
      dir);
  EXPECT_TRUE(has(p, "own_failures: needs [[benchmarks]]")) << ::testing::PrintToString(p);

  // Accepted: in the canonical JSON (the campaign's identity) only when on, so
  // the hash of every earlier spec stays what it was.
  const std::string fixed =
      "name = \"x\"\nstore = \"s.h5\"\nmode = \"fixed-set\"\nreference = \"a\"\n";
  write(dir / "on.toml", fixed + "own_failures = true\n" + models + bench);
  write(dir / "off.toml", fixed + models + bench);
  const CampaignSpec on = load_spec((dir / "on.toml").string());
  const CampaignSpec off = load_spec((dir / "off.toml").string());
  EXPECT_TRUE(on.own_failures);
  EXPECT_FALSE(off.own_failures);
  EXPECT_EQ(on.to_json().value("own_failures", false), true);
  EXPECT_FALSE(off.to_json().contains("own_failures"));
}
