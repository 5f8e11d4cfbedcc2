// libFuzzer target: arbitrary bytes as a campaign spec (docs/campaigns.md).
// parse_spec must either return a spec or throw clrp::Error naming the spec
// file (SpecError: every problem, one per line), never crash, hang or throw
// anything else; and a spec it returns must be deterministic: parsed again,
// the same canonical JSON and hash (what --resume recognises a store by).
//
// spec.cpp compiles with its real dependencies (the names it parses are
// torch-free: rule_table.hpp, compute_names.hpp, transport_kind.hpp,
// pair_method.hpp). The spec "lives" in a small folder made at start-up
// with the files and folders the seeds name (a model folder, step*/
// checkpoints, a Hugging Face cache, failure and benchmark files), so that
// valid specs get past the path checks.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "clrp/campaign/spec.hpp"
#include "clrp/util/error.hpp"

namespace {

namespace fs = std::filesystem;

fs::path g_root;      // the sandbox
std::string g_file;   // the spec's name: <sandbox>/jobs/spec.toml (relative paths resolve there)

void touch(const fs::path& p, const std::string& text = "") {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

void make_sandbox() {
  char tmpl[] = "/tmp/clrp-fuzz-spec-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) std::abort();
  g_root = tmpl;
  fs::create_directories(g_root / "jobs");
  touch(g_root / "out/failures.jsonl");
  touch(g_root / "out/bench.jsonl");
  touch(g_root / "models/model.gguf");
  fs::create_directories(g_root / "models/m1");
  for (const char* step : {"step9", "step10", "step100-tokens"})
    fs::create_directories(g_root / "models/ckpts" / step);
  // A Hugging Face cache folder: refs name commits, snapshots hold them.
  touch(g_root / "models/hf/refs/main", "abc123\n");
  touch(g_root / "models/hf/refs/step5", "def456\n");
  fs::create_directories(g_root / "models/hf/snapshots/abc123");
  fs::create_directories(g_root / "models/hf/snapshots/def456");
  g_file = (g_root / "jobs/spec.toml").string();
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(g_root, ec);
  });
}

// CLRP_FUZZ_VERBOSE=1: print each input's outcome (the message, or the canonical JSON).
bool verbose() {
  static const bool on = std::getenv("CLRP_FUZZ_VERBOSE") != nullptr;
  return on;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  make_sandbox();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  clrp::campaign::CampaignSpec spec;
  try {
    spec = clrp::campaign::parse_spec(text, g_file);
  } catch (const clrp::campaign::SpecError& e) {
    if (verbose()) std::fprintf(stderr, "SpecError: %s\n", e.what());
    // Every problem listed, under a first line naming the file.
    if (e.problems().empty()) std::abort();
    if (std::string(e.what()).rfind(g_file + ": ", 0) != 0) std::abort();
    return 0;
  } catch (const clrp::Error& e) {
    if (verbose()) std::fprintf(stderr, "Error: %s\n", e.what());
    // Not TOML: the message names the file (and the line).
    if (std::string(e.what()).find(g_file) == std::string::npos) std::abort();
    return 0;
  }
  // Any other exception escapes: libFuzzer reports it as a crash.
  if (spec.file != g_file || spec.models.empty() || spec.rules.empty()) std::abort();
  if (spec.cases.empty() && spec.benchmarks.empty()) std::abort();
  for (const auto& m : spec.models)
    if (m.checkpoints.empty()) std::abort();
  const nlohmann::json canonical = spec.to_json();
  if (verbose()) std::fprintf(stderr, "spec %s: %s\n", spec.hash().c_str(), canonical.dump().c_str());
  const std::string hash = spec.hash();
  const clrp::campaign::CampaignSpec again = clrp::campaign::parse_spec(text, g_file);
  if (again.to_json() != canonical || again.hash() != hash) std::abort();  // not deterministic
  // The canonical JSON is what the store keeps: it must read back as itself
  // (which also needs every number finite: JSON writes inf and nan as null).
  if (nlohmann::json::parse(canonical.dump()) != canonical) std::abort();
  return 0;
}
