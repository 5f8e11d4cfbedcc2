// Parsing and validation of campaign specs. Every check appends to a list of
// problems instead of throwing, so that one run reports all of them.
#include "clrp/campaign/spec.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "clrp/io/read_file.hpp"
#include "clrp/util/byte_size.hpp"

namespace fs = std::filesystem;

namespace clrp::campaign {

namespace {

// A campaign spec is a page of TOML; a file past this is not one.
constexpr std::uint64_t kMaxSpecBytes = std::uint64_t{16} << 20;

std::string join_lines(const std::string& file, const std::vector<std::string>& problems) {
  std::string out = file + ": " + std::to_string(problems.size()) + " problem" +
                    (problems.size() == 1 ? "" : "s") + " in the campaign spec:";
  for (const auto& p : problems)
    out += "\n  " + p;
  return out;
}

bool is_name(const std::string& s) {
  static const std::regex re("[A-Za-z0-9_.-]+");
  return !s.empty() && s.size() <= 128 && std::regex_match(s, re) && s != "." && s != "..";
}

// Collects problems while reading a TOML table; knows which keys each table allows.
class Reader {
 public:
  Reader(fs::path base, std::vector<std::string>& problems)
      : base_(std::move(base)), problems_(problems) {}

  void problem(const std::string& key, const std::string& what) {
    problems_.push_back(key + ": " + what);
  }

  // A data file every rank reads: it must be a regular file (a pipe or a
  // device could be read only once, by one rank).
  void require_regular_file(const std::string& key, const std::string& path) {
    const std::string kind = io::file_kind(path);
    if (kind == "a regular file") return;
    problem(key, path + (kind == "missing"
                             ? ": no such file"
                             : ": is " + kind + ", not a regular file (every rank reads it)"));
  }

  // Every key of `t` must be one of `allowed` (catches typos like `limt`).
  void only_keys(const toml::table& t, const std::string& prefix,
                 std::initializer_list<const char*> allowed) {
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; }))
        problem(prefix + key, "unknown key");
    }
  }

  std::optional<std::string> string(const toml::table& t, const std::string& prefix,
                                    const char* key, bool required) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) problem(prefix + key, "missing");
      return std::nullopt;
    }
    if (!n->is_string()) {
      problem(prefix + key, "must be a string");
      return std::nullopt;
    }
    return n->value<std::string>();
  }

  std::optional<std::int64_t> integer(const toml::table& t, const std::string& prefix,
                                      const char* key, std::int64_t lo, std::int64_t hi) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_integer()) {
      problem(prefix + key, "must be an integer");
      return std::nullopt;
    }
    const auto v = *n->value<std::int64_t>();
    if (v < lo || v > hi) {
      problem(prefix + key, std::to_string(v) + " is outside [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
      return std::nullopt;
    }
    return v;
  }

  std::optional<double> number(const toml::table& t, const std::string& prefix, const char* key,
                               double lo) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_number()) {
      problem(prefix + key, "must be a number");
      return std::nullopt;
    }
    const double v = *n->value<double>();
    // TOML allows inf and nan; neither is a threshold, a timeout or a share,
    // and JSON (the spec's canonical form in the store) cannot hold them.
    if (!std::isfinite(v)) {
      problem(prefix + key, "must be a finite number");
      return std::nullopt;
    }
    if (!(v >= lo)) {
      problem(prefix + key, "must be at least " + std::to_string(lo));
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const toml::table& t, const std::string& prefix, const char* key) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_boolean()) {
      problem(prefix + key, "must be true or false");
      return std::nullopt;
    }
    return n->value<bool>();
  }

  // `chat = true`, or a table {system, options, template} (text::ChatSettings).
  std::optional<text::ChatSettings> chat(const toml::table& t, const std::string& prefix) {
    const toml::node* n = t.get("chat");
    if (n == nullptr) return std::nullopt;
    if (n->is_boolean())
      return *n->value<bool>() ? std::optional(text::ChatSettings{}) : std::nullopt;
    const toml::table* table = n->as_table();
    if (table == nullptr) {
      problem(prefix + "chat", "must be true, false or a table {system, options, template}");
      return std::nullopt;
    }
    std::ostringstream json;
    json << toml::json_formatter{*table};
    try {
      return text::ChatSettings::from_json(nlohmann::json::parse(json.str()), Where{});
    } catch (const Error& e) {
      problem(prefix + "chat" + (e.where().field.empty() ? "" : "." + e.where().field),
              e.bare_message());
    }
    return std::nullopt;
  }

  std::vector<std::string> strings(const toml::table& t, const std::string& prefix,
                                   const char* key) {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (n == nullptr) return out;
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      problem(prefix + key, "must be an array of strings");
      return out;
    }
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_string())
        problem(prefix + key + "[" + std::to_string(i) + "]", "must be a string");
      else
        out.push_back(*(*a)[i].value<std::string>());
    }
    return out;
  }

  // A path relative to the spec's folder, made absolute and normalised.
  std::string resolve(const std::string& p) const {
    fs::path path(p);
    if (path.is_relative()) path = base_ / path;
    return path.lexically_normal().string();
  }

 private:
  fs::path base_;
  std::vector<std::string>& problems_;
};

// step*/ folders of `dir`, ordered by their step number (step9 before step10).
std::vector<CheckpointSpec> step_folders(const fs::path& dir) {
  std::vector<std::pair<std::int64_t, CheckpointSpec>> found;
  static const std::regex re("step([0-9]+).*");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (e.is_directory(ec) && std::regex_match(name, m, re))
      found.push_back({std::stoll(m[1].str().substr(0, 18)), {name, e.path().string()}});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second.name < b.second.name;
  });
  std::vector<CheckpointSpec> out;
  for (auto& f : found)
    out.push_back(std::move(f.second));
  return out;
}

// A Hugging Face cache folder of one repository (models--org--name: refs/ and
// snapshots/): one checkpoint per ref (a branch or tag such as "main" or
// "step1000"), its files in snapshots/<the commit the ref names>. Ordered as
// step*/ folders are (by step number), other refs by name after them.
std::vector<CheckpointSpec> hf_cache_revisions(const fs::path& dir, const std::string& key,
                                               Reader& r) {
  std::vector<CheckpointSpec> refs;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir / "refs", ec)) {
    if (!e.is_regular_file(ec)) continue;
    const std::string name = fs::relative(e.path(), dir / "refs", ec).generic_string();
    // A ref file holds one commit hash: a few bytes, read with a cap.
    std::string commit;
    try {
      std::istringstream(io::read_file(e.path().string(), 4096)) >> commit;
    } catch (const Error& err) {
      r.problem(key, err.what());
      continue;
    }
    const fs::path snapshot = dir / "snapshots" / commit;
    if (!is_name(name))
      r.problem(key, "ref '" + excerpt(name) + "' is not a checkpoint name ([A-Za-z0-9_.-]+)");
    else if (commit.empty() || !fs::is_directory(snapshot, ec))
      r.problem(key, "ref '" + excerpt(name) + "' names commit '" + excerpt(commit) +
                         "', which has no folder in " + (dir / "snapshots").string());
    else
      refs.push_back({name, snapshot.string()});
  }
  static const std::regex step("step([0-9]+).*");
  auto order = [](const CheckpointSpec& c) {
    std::smatch m;
    return std::regex_match(c.name, m, step)
               ? std::pair<std::int64_t, std::string>{std::stoll(m[1].str().substr(0, 18)), c.name}
               : std::pair<std::int64_t, std::string>{INT64_MAX, c.name};
  };
  std::sort(refs.begin(), refs.end(),
            [&](const CheckpointSpec& a, const CheckpointSpec& b) { return order(a) < order(b); });
  return refs;
}

// A model's checkpoints: its `path` alone ("final"), a folder of step*/
// folders, a Hugging Face cache folder (one per revision), or a list of folders.
void read_checkpoints(const toml::table& t, const std::string& p,
                      const std::optional<std::string>& path, Reader& r, ModelSpec& m) {
  const toml::node* ck = t.get("checkpoints");
  if (ck == nullptr && !path) r.problem(p + "path", "missing (or give checkpoints)");
  if (path) {
    m.path = *path == "default" ? *path : r.resolve(*path);
    if (m.path != "default" && !fs::exists(m.path))
      r.problem(p + "path", m.path + ": no such file or directory");
  }
  if (ck == nullptr) {
    if (path) m.checkpoints.push_back({"final", m.path});
  } else if (ck->is_string()) {
    const std::string dir = r.resolve(*ck->value<std::string>());
    if (!fs::is_directory(dir)) {
      r.problem(p + "checkpoints", dir + ": no such directory");
    } else if (fs::is_directory(fs::path(dir) / "refs") &&
               fs::is_directory(fs::path(dir) / "snapshots")) {
      m.checkpoints = hf_cache_revisions(dir, p + "checkpoints", r);
      if (m.checkpoints.empty()) r.problem(p + "checkpoints", dir + ": no refs in the cache");
    } else {
      m.checkpoints = step_folders(dir);
      if (m.checkpoints.empty())
        r.problem(p + "checkpoints",
                  dir + ": no step*/ folders in it (nor a Hugging Face cache: refs/, snapshots/)");
    }
  } else if (ck->is_array()) {
    const auto dirs = r.strings(t, p, "checkpoints");
    if (dirs.empty() && ck->as_array()->empty()) r.problem(p + "checkpoints", "is empty");
    std::set<std::string> seen;
    for (std::size_t j = 0; j < dirs.size(); ++j) {
      const std::string d = r.resolve(dirs[j]);
      const std::string key = p + "checkpoints[" + std::to_string(j) + "]";
      std::string name = fs::path(d).filename().string();
      if (name.empty()) name = fs::path(d).parent_path().filename().string();
      if (!fs::exists(d))
        r.problem(key, d + ": no such file or directory");
      else if (!is_name(name))
        r.problem(key, "folder name '" + excerpt(name) + "' is not a name ([A-Za-z0-9_.-]+)");
      else if (!seen.insert(name).second)
        r.problem(key, "two checkpoints named '" + excerpt(name) + "'");
      m.checkpoints.push_back({name, d});
    }
  } else {
    r.problem(p + "checkpoints",
              "must be a folder of step*/ folders, a Hugging Face cache folder, or an array of "
              "folders");
  }
}

void read_models(const toml::table& root, Reader& r, CampaignSpec& spec) {
  const toml::node* n = root.get("models");
  const toml::array* models = n != nullptr ? n->as_array() : nullptr;
  if (models == nullptr || models->empty()) {
    r.problem("models", n == nullptr ? "missing (at least one [[models]] table)"
                                     : "must be a non-empty array of tables ([[models]])");
    return;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < models->size(); ++i) {
    const std::string p = "models[" + std::to_string(i) + "].";
    const toml::table* t = (*models)[i].as_table();
    if (t == nullptr) {
      r.problem("models[" + std::to_string(i) + "]", "must be a table");
      continue;
    }
    r.only_keys(*t, p, {"name", "path", "dtype", "device", "checkpoints"});
    ModelSpec m;
    m.name = r.string(*t, p, "name", true).value_or("");
    if (t->get("name") != nullptr && t->get("name")->is_string()) {
      if (!is_name(m.name))
        r.problem(p + "name", "'" + excerpt(m.name) + "' is not a name ([A-Za-z0-9_.-]+)");
      else if (!names.insert(m.name).second)
        r.problem(p + "name", "'" + excerpt(m.name) + "' names two models");
    }
    // The spellings of the CLI's --dtype and --device (model/compute.hpp).
    const std::string dtype = r.string(*t, p, "dtype", false).value_or("float32");
    if (const auto d = model::compute_dtype_named(dtype))
      m.dtype = *d;
    else
      r.problem(p + "dtype", "'" + excerpt(dtype) + "' is not " + model::compute_dtype_names());
    const std::string device = r.string(*t, p, "device", false).value_or("cpu");
    if (const auto d = model::device_spec_named(device))
      m.device = *d;
    else
      r.problem(p + "device", "'" + excerpt(device) + "' is not cpu, cuda or cuda:N");
    const auto path = r.string(*t, p, "path", false);
    read_checkpoints(*t, p, path, r, m);
    spec.models.push_back(std::move(m));
  }
}

// `models`: names of the campaign's models.
std::vector<std::string> model_names(const toml::table& t, const std::string& p, Reader& r,
                                     const CampaignSpec& spec) {
  std::vector<std::string> names = r.strings(t, p, "models");
  for (std::size_t j = 0; j < names.size(); ++j)
    if (std::none_of(spec.models.begin(), spec.models.end(),
                     [&](const ModelSpec& m) { return m.name == names[j]; }))
      r.problem(p + "models[" + std::to_string(j) + "]",
                "'" + excerpt(names[j]) + "' is not a model of this campaign");
  return names;
}

// [[benchmarks]]: prepared case files to evaluate, and how.
void read_benchmarks(const toml::table& root, Reader& r, CampaignSpec& spec) {
  const toml::node* n = root.get("benchmarks");
  if (n == nullptr) return;
  const toml::array* list = n->as_array();
  if (list == nullptr || list->empty()) {
    r.problem("benchmarks", "must be a non-empty array of tables ([[benchmarks]])");
    return;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string p = "benchmarks[" + std::to_string(i) + "].";
    const toml::table* t = (*list)[i].as_table();
    if (t == nullptr) {
      r.problem("benchmarks[" + std::to_string(i) + "]", "must be a table");
      continue;
    }
    r.only_keys(
        *t, p,
        {"path", "limit", "seed", "models", "chat", "max_new_tokens", "decide_per_char",
         "min_delta", "pairs", "search", "skip_bad_lines", "checker_timeout", "allow_empty"});
    BenchmarkSpec b;
    if (const auto path = r.string(*t, p, "path", true)) {
      b.path = r.resolve(*path);
      r.require_regular_file(p + "path", b.path);
    }
    b.limit = r.integer(*t, p, "limit", 0, std::int64_t{1} << 40).value_or(0);
    b.seed = static_cast<std::uint64_t>(
        r.integer(*t, p, "seed", 0, std::numeric_limits<std::int64_t>::max()).value_or(0));
    b.models = model_names(*t, p, r, spec);
    b.chat = r.chat(*t, p);
    b.max_new_tokens = static_cast<int>(r.integer(*t, p, "max_new_tokens", 0, 1 << 20).value_or(0));
    b.decide_per_char = r.boolean(*t, p, "decide_per_char").value_or(false);
    b.min_delta = r.number(*t, p, "min_delta", 0.0).value_or(1.0);
    b.skip_bad_lines = r.boolean(*t, p, "skip_bad_lines").value_or(false);
    b.allow_empty = r.boolean(*t, p, "allow_empty").value_or(false);
    b.checker_timeout = r.number(*t, p, "checker_timeout", 0.001).value_or(60.0);
    const std::string pairs = r.string(*t, p, "pairs", false).value_or("auto");
    if (const auto method = eval::parse_generative_pairs(pairs))
      b.pairs = *method;
    else
      r.problem(p + "pairs", "'" + excerpt(pairs) + "' is not auto, divergence or counterfactual");
    if (const toml::node* sn = t->get("search")) {
      if (const toml::table* st = sn->as_table()) {
        const std::string sp = p + "search.";
        r.only_keys(*st, sp, {"positions", "k", "tokens"});
        b.search.positions =
            static_cast<int>(r.integer(*st, sp, "positions", 1, 1 << 20).value_or(16));
        b.search.k = static_cast<int>(r.integer(*st, sp, "k", 1, 10).value_or(5));
        b.search.tokens = static_cast<int>(r.integer(*st, sp, "tokens", 0, 1 << 20).value_or(0));
      } else {
        r.problem(p + "search", "must be a table ({ positions = 16, k = 5, tokens = 0 })");
      }
    }
    spec.benchmarks.push_back(std::move(b));
  }
}

void read_cases(const toml::table& root, Reader& r, CampaignSpec& spec) {
  const toml::node* n = root.get("cases");
  const toml::array* cases = n != nullptr ? n->as_array() : nullptr;
  if (n == nullptr && root.get("benchmarks") != nullptr) return;  // benchmarks alone
  if (cases == nullptr || cases->empty()) {
    r.problem("cases", n == nullptr ? "missing (at least one [[cases]] or [[benchmarks]] table)"
                                    : "must be a non-empty array of tables ([[cases]])");
    return;
  }
  for (std::size_t i = 0; i < cases->size(); ++i) {
    const std::string p = "cases[" + std::to_string(i) + "].";
    const toml::table* t = (*cases)[i].as_table();
    if (t == nullptr) {
      r.problem("cases[" + std::to_string(i) + "]", "must be a table");
      continue;
    }
    r.only_keys(*t, p, {"path", "limit", "seed", "models", "allow_empty"});
    CaseSourceSpec c;
    if (const auto path = r.string(*t, p, "path", true)) {
      c.path = r.resolve(*path);
      r.require_regular_file(p + "path", c.path);
    }
    c.limit = r.integer(*t, p, "limit", 0, std::int64_t{1} << 40).value_or(0);
    c.seed = static_cast<std::uint64_t>(
        r.integer(*t, p, "seed", 0, std::numeric_limits<std::int64_t>::max()).value_or(0));
    c.models = model_names(*t, p, r, spec);
    c.allow_empty = r.boolean(*t, p, "allow_empty").value_or(false);
    spec.cases.push_back(std::move(c));
  }
}

// name, mode and store.
void read_header(const toml::table& root, Reader& r, CampaignSpec& spec) {
  spec.name = r.string(root, "", "name", true).value_or("");
  if (root.get("name") != nullptr && root.get("name")->is_string() && !is_name(spec.name))
    r.problem("name", "'" + excerpt(spec.name) + "' is not a name ([A-Za-z0-9_.-]+)");
  const std::string mode = r.string(root, "", "mode", false).value_or("explain-failures");
  if (mode == "fixed-set")
    spec.mode = Mode::FixedSet;
  else if (mode != "explain-failures")
    r.problem("mode", "'" + excerpt(mode) + "' is not explain-failures or fixed-set");
  if (const auto store = r.string(root, "", "store", true)) {
    spec.store = r.resolve(*store);
    if (!fs::is_directory(fs::path(spec.store).parent_path()))
      r.problem("store", fs::path(spec.store).parent_path().string() + ": no such directory");
  }
}

// rules: each known and listed once; attnlrp when the key is absent.
void read_rules(const toml::table& root, Reader& r, CampaignSpec& spec) {
  const auto rules = r.strings(root, "", "rules");
  if (root.get("rules") == nullptr) spec.rules = {lrp::Rule::AttnLRP};
  if (root.get("rules") != nullptr && rules.empty() && root.get("rules")->is_array())
    r.problem("rules", "is empty");
  for (std::size_t i = 0; i < rules.size(); ++i) {
    try {
      const lrp::Rule rule = lrp::parse_rule(rules[i]);
      if (std::find(spec.rules.begin(), spec.rules.end(), rule) != spec.rules.end())
        r.problem("rules[" + std::to_string(i) + "]",
                  "'" + excerpt(rules[i]) + "' is listed twice");
      else
        spec.rules.push_back(rule);
    } catch (const Error&) {
      r.problem("rules[" + std::to_string(i) + "]",
                "'" + excerpt(rules[i]) + "' is not " + lrp::rule_choices());
    }
  }
}

// reference: the model whose pairs a fixed-set campaign explains.
void read_reference(const toml::table& root, Reader& r, CampaignSpec& spec) {
  const auto reference = r.string(root, "", "reference", false);
  if (spec.mode == Mode::FixedSet) {
    if (!reference)
      r.problem("reference", "missing (fixed-set needs the model whose pairs are explained)");
    else if (std::none_of(spec.models.begin(), spec.models.end(),
                          [&](const ModelSpec& m) { return m.name == *reference; }))
      r.problem("reference", "'" + excerpt(*reference) + "' is not a model of this campaign");
    for (std::size_t i = 0; i < spec.cases.size(); ++i)
      if (!spec.cases[i].models.empty())
        r.problem("cases[" + std::to_string(i) + "].models",
                  "not allowed in fixed-set mode (every model explains every pair)");
    for (std::size_t i = 0; i < spec.benchmarks.size(); ++i)
      if (!spec.benchmarks[i].models.empty())
        r.problem("benchmarks[" + std::to_string(i) + "].models",
                  "not allowed in fixed-set mode (every model answers every item)");
  } else if (reference) {
    r.problem("reference", "only for mode = \"fixed-set\"");
  }
  spec.reference = reference.value_or("");
  spec.own_failures = r.boolean(root, "", "own_failures").value_or(false);
  if (spec.own_failures && spec.mode != Mode::FixedSet)
    r.problem("own_failures",
              "only for mode = \"fixed-set\" (explain-failures explains each target's own "
              "failures already)");
  else if (spec.own_failures && spec.benchmarks.empty())
    r.problem("own_failures", "needs [[benchmarks]] (failure files carry the pairs they carry)");
}

// [record]: what each case keeps.
void read_record(const toml::table& root, Reader& r, CampaignSpec& spec) {
  if (const toml::node* n = root.get("record")) {
    if (const toml::table* t = n->as_table()) {
      r.only_keys(*t, "record.",
                  {"residual", "heads", "neurons", "evidence_top_k", "deletion_max_tokens"});
      spec.record.residual = r.boolean(*t, "record.", "residual").value_or(true);
      spec.record.heads = r.boolean(*t, "record.", "heads").value_or(true);
      spec.record.neurons = r.integer(*t, "record.", "neurons", 0, 65536).value_or(0);
      spec.record.evidence_top_k = r.integer(*t, "record.", "evidence_top_k", 1, 1024).value_or(5);
      spec.record.deletion_max_tokens =
          r.integer(*t, "record.", "deletion_max_tokens", 0, 4096).value_or(0);
    } else {
      r.problem("record", "must be a table");
    }
  }
}

// [faithfulness]: removal curves for every explained case (its presence turns them on).
void read_faithfulness(const toml::table& root, Reader& r, CampaignSpec& spec) {
  const toml::node* n = root.get("faithfulness");
  if (n == nullptr) return;
  const toml::table* t = n->as_table();
  if (t == nullptr) {
    r.problem("faithfulness", "must be a table");
    return;
  }
  const std::string at = "faithfulness.";
  r.only_keys(*t, at,
              {"operators", "single_tokens", "fractions", "seed", "informative_recovery",
               "urt_ratio", "oit_share", "graph_correlation", "graph_kept_share"});
  lrp::OutcomeThresholds& th = spec.faithfulness.thresholds;
  th.recovery = r.number(*t, at, "informative_recovery", 0.0).value_or(th.recovery);
  th.urt_ratio = r.number(*t, at, "urt_ratio", 0.0).value_or(th.urt_ratio);
  th.oit_share = r.number(*t, at, "oit_share", 0.0).value_or(th.oit_share);
  if (th.recovery > 1) r.problem(at + "informative_recovery", "must lie in [0, 1]");
  if (th.oit_share > 1) r.problem(at + "oit_share", "must lie in [0, 1]");
  th.graph_correlation = r.number(*t, at, "graph_correlation", -1.0).value_or(th.graph_correlation);
  th.graph_kept_share = r.number(*t, at, "graph_kept_share", -1e9).value_or(th.graph_kept_share);
  if (th.graph_correlation > 1) r.problem(at + "graph_correlation", "must lie in [-1, 1]");
  lrp::FaithfulnessOptions& opt = spec.faithfulness.options;
  spec.faithfulness.enabled = true;
  if (t->get("operators") != nullptr) {
    opt.operators.clear();
    const auto names = r.strings(*t, at, "operators");
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto op = lrp::parse_removal(names[i]);
      const std::string key = at + "operators[" + std::to_string(i) + "]";
      if (!op)
        r.problem(key, "'" + excerpt(names[i]) + "' is not \"delete\" or \"zero\"");
      else if (std::find(opt.operators.begin(), opt.operators.end(), *op) != opt.operators.end())
        r.problem(key, "'" + excerpt(names[i]) + "' is listed twice");
      else
        opt.operators.push_back(*op);
    }
    if (names.empty()) r.problem(at + "operators", "must name at least one operator");
  }
  opt.single_tokens = r.integer(*t, at, "single_tokens", 0, 256).value_or(opt.single_tokens);
  opt.seed = static_cast<std::uint64_t>(
      r.integer(*t, at, "seed", 0, std::numeric_limits<std::int64_t>::max()).value_or(0));
  if (const toml::node* f = t->get("fractions")) {
    opt.fractions.clear();
    const toml::array* a = f->as_array();
    if (a == nullptr) r.problem(at + "fractions", "must be an array of numbers in (0, 1]");
    for (std::size_t i = 0; a != nullptr && i < a->size(); ++i) {
      const std::string key = at + "fractions[" + std::to_string(i) + "]";
      const auto v = (*a)[i].value<double>();
      if (!(*a)[i].is_number() || !v)
        r.problem(key, "must be a number");
      else if (!(*v > 0 && *v <= 1))
        r.problem(key, std::to_string(*v) + " is outside (0, 1]");
      else if (!opt.fractions.empty() && *v <= opt.fractions.back())
        r.problem(key, "fractions must increase");
      else
        opt.fractions.push_back(*v);
    }
  }
  if (opt.single_tokens == 0 && opt.fractions.empty())
    r.problem(at + "fractions", "no steps: give single_tokens > 0 or some fractions");
}

// [graphs]: which cases get an attribution graph, and its options (rule: the
// campaign's first unless named).
void read_graphs(const toml::table& root, Reader& r, CampaignSpec& spec) {
  if (!spec.rules.empty()) spec.graphs.rule = spec.rules.front();
  if (const toml::node* n = root.get("graphs")) {
    if (const toml::table* t = n->as_table()) {
      r.only_keys(*t, "graphs.",
                  {"cases", "rule", "max_memory", "mass", "node_threshold", "interventions"});
      spec.graphs.cases = r.integer(*t, "graphs.", "cases", -1, 1 << 30).value_or(0);
      if (const auto rule = r.string(*t, "graphs.", "rule", false)) {
        try {
          spec.graphs.rule = lrp::parse_rule(*rule);
        } catch (const Error& e) {
          r.problem("graphs.rule", e.what());
        }
      }
      if (const auto budget = r.string(*t, "graphs.", "max_memory", false)) {
        try {
          spec.graphs.max_memory = parse_byte_size(*budget);
        } catch (const Error& e) {
          r.problem("graphs.max_memory", e.what());
        }
      }
      spec.graphs.mass = r.number(*t, "graphs.", "mass", 0.0).value_or(0.85);
      if (spec.graphs.mass <= 0 || spec.graphs.mass > 1)
        r.problem("graphs.mass", "must lie in (0, 1]");
      spec.graphs.node_threshold = r.number(*t, "graphs.", "node_threshold", 0.0).value_or(0.01);
      spec.graphs.interventions =
          r.integer(*t, "graphs.", "interventions", 0, 1 << 20).value_or(spec.graphs.interventions);
    } else {
      r.problem("graphs", "must be a table");
    }
  }
}

// [layout]: stages, transport, balance, memory budget, batching and commits.
void read_layout(const toml::table& root, Reader& r, CampaignSpec& spec) {
  if (const toml::node* n = root.get("layout")) {
    if (const toml::table* t = n->as_table()) {
      r.only_keys(*t, "layout.",
                  {"stages", "transport", "balance", "memory_per_rank", "batch_cases",
                   "batch_items", "pack_tokens", "commit_seconds"});
      if (const auto balance = r.string(*t, "layout.", "balance", false)) {
        if (*balance == "time" || *balance == "parameters")
          spec.layout.balance_by_time = *balance == "time";
        else
          r.problem("layout.balance", "'" + excerpt(*balance) + "': expected time or parameters");
      }
      if (const toml::node* st = t->get("stages"); st != nullptr && st->is_string()) {
        if (st->value<std::string>() == "auto")
          spec.layout.stages = 0;
        else
          r.problem("layout.stages", "must be a number of stages or \"auto\"");
      } else {
        spec.layout.stages =
            static_cast<int>(r.integer(*t, "layout.", "stages", 1, 4096).value_or(1));
      }
      if (const auto budget = r.string(*t, "layout.", "memory_per_rank", false)) {
        try {
          spec.layout.memory_per_rank = parse_byte_size(*budget);
        } catch (const Error& e) {
          r.problem("layout.memory_per_rank", e.what());
        }
      }
      if (spec.layout.stages == 0 && spec.layout.memory_per_rank == 0)
        r.problem("layout.stages", "\"auto\" needs layout.memory_per_rank (the budget to fit)");
      if (const auto transport = r.string(*t, "layout.", "transport", false)) {
        try {
          spec.layout.transport = dist::parse_transport(*transport);
        } catch (const Error& e) {
          r.problem("layout.transport", e.what());
        }
      }
      spec.layout.batch_cases =
          static_cast<int>(r.integer(*t, "layout.", "batch_cases", 1, 4096).value_or(4));
      spec.layout.batch_items =
          static_cast<int>(r.integer(*t, "layout.", "batch_items", 1, 4096).value_or(32));
      spec.layout.pack_tokens =
          r.integer(*t, "layout.", "pack_tokens", 0, std::int64_t{1} << 24).value_or(512);
      spec.layout.commit_seconds = r.number(*t, "layout.", "commit_seconds", 0.0).value_or(30.0);
    } else {
      r.problem("layout", "must be a table");
    }
  }
}

}  // namespace

const char* to_string(Mode m) {
  return m == Mode::FixedSet ? "fixed-set" : "explain-failures";
}

SpecError::SpecError(const std::string& file, std::vector<std::string> problems)
    : Error(join_lines(file, problems)), problems_(std::move(problems)) {}

CampaignSpec parse_spec(const std::string& toml_text, const std::string& file) {
  toml::table root;
  try {
    root = toml::parse(toml_text, file);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw Error(Where{file, {}, std::nullopt, b.line},
                "not valid TOML: " + std::string(e.description()) + " (column " +
                    std::to_string(b.column) + ")");
  }
  // Every problem is collected, so that one run of the spec names all of them.
  std::vector<std::string> problems;
  Reader r(fs::absolute(fs::path(file)).parent_path(), problems);
  CampaignSpec spec;
  spec.file = file;
  r.only_keys(root, "",
              {"name", "mode", "reference", "own_failures", "store", "rules", "models", "cases",
               "benchmarks", "record", "faithfulness", "graphs", "layout"});
  read_header(root, r, spec);
  read_rules(root, r, spec);
  read_models(root, r, spec);
  read_cases(root, r, spec);
  read_benchmarks(root, r, spec);
  read_reference(root, r, spec);
  read_record(root, r, spec);
  read_faithfulness(root, r, spec);
  read_graphs(root, r, spec);
  read_layout(root, r, spec);
  if (!problems.empty()) throw SpecError(file, std::move(problems));
  return spec;
}

CampaignSpec load_spec(const std::string& path) {
  return parse_spec(io::read_file(path, kMaxSpecBytes), path);
}

nlohmann::json CampaignSpec::to_json() const {
  nlohmann::json j;
  j["name"] = name;
  j["mode"] = to_string(mode);
  j["reference"] = reference;
  if (own_failures) j["own_failures"] = true;  // only when on, so earlier specs keep their hash
  j["store"] = store;
  j["rules"] = nlohmann::json::array();
  for (auto r : rules)
    j["rules"].push_back(lrp::to_string(r));
  for (const auto& m : models) {
    // Canonical names: a spec saying bf16 is the campaign saying bfloat16.
    nlohmann::json jm{{"name", m.name},
                      {"path", m.path},
                      {"dtype", model::to_string(m.dtype)},
                      {"device", m.device.to_string()}};
    for (const auto& c : m.checkpoints)
      jm["checkpoints"].push_back({{"name", c.name}, {"path", c.path}});
    j["models"].push_back(jm);
  }
  for (const auto& c : cases)
    j["cases"].push_back(
        {{"path", c.path}, {"limit", c.limit}, {"seed", c.seed}, {"models", c.models}});
  // Only when there are some, so specs without them keep their hash.
  for (const auto& b : benchmarks) {
    j["benchmarks"].push_back(
        {{"path", b.path},
         {"limit", b.limit},
         {"seed", b.seed},
         {"models", b.models},
         {"chat", b.chat ? b.chat->to_json() : nlohmann::json(false)},
         {"max_new_tokens", b.max_new_tokens},
         {"decide_per_char", b.decide_per_char},
         {"min_delta", b.min_delta},
         {"pairs", eval::to_string(b.pairs)},
         {"search",
          {{"positions", b.search.positions}, {"k", b.search.k}, {"tokens", b.search.tokens}}},
         {"skip_bad_lines", b.skip_bad_lines}});
    // Only when not the default, so earlier specs keep their hash.
    if (b.checker_timeout != 60.0) j["benchmarks"].back()["checker_timeout"] = b.checker_timeout;
  }
  j["record"] = {{"residual", record.residual},
                 {"heads", record.heads},
                 {"neurons", record.neurons},
                 {"evidence_top_k", record.evidence_top_k}};
  // Only when on, so specs without it keep their hash (and their stores resume).
  if (record.deletion_max_tokens > 0)
    j["record"]["deletion_max_tokens"] = record.deletion_max_tokens;
  // Only when on, so specs without it keep their hash (and their stores resume).
  if (faithfulness.enabled) {
    const lrp::FaithfulnessOptions& f = faithfulness.options;
    nlohmann::json& jf = j["faithfulness"];
    for (const lrp::Removal op : f.operators)
      jf["operators"].push_back(lrp::to_string(op));
    jf["single_tokens"] = f.single_tokens;
    jf["fractions"] = f.fractions;
    jf["seed"] = f.seed;
    const lrp::OutcomeThresholds& th = faithfulness.thresholds;
    jf["informative_recovery"] = th.recovery;
    jf["urt_ratio"] = th.urt_ratio;
    jf["oit_share"] = th.oit_share;
    jf["graph_correlation"] = th.graph_correlation;
    jf["graph_kept_share"] = th.graph_kept_share;
  }
  j["graphs"] = {{"cases", graphs.cases},
                 {"rule", lrp::to_string(graphs.rule)},
                 {"max_memory", graphs.max_memory},
                 {"mass", graphs.mass},
                 {"node_threshold", graphs.node_threshold},
                 {"interventions", graphs.interventions}};
  // The layout changes how the work is spread, not what is computed: a
  // campaign may resume with other batch sizes, so it is left out of the hash.
  return j;
}

std::string CampaignSpec::hash() const {
  const std::string s = to_json().dump();
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace clrp::campaign
