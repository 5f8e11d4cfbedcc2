#include "clrp/store/inspect.hpp"

#include <vector>

#include "clrp/util/error.hpp"
#include "h5.hpp"
#include "schema.hpp"

namespace clrp::store {

namespace {

std::vector<double> read_all(hid_t group, const std::string& name) {
  h5::Id d = h5::make(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose, name);
  h5::Id space = h5::make(H5Dget_space(d), H5Sclose, name);
  std::vector<double> out(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)));
  h5::check(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), name);
  return out;
}

// Visits /runs/<model>/<checkpoint>/<benchmark> groups (depth 3).
void children(hid_t g, std::vector<std::string>& out) {
  H5G_info_t info;
  h5::check(H5Gget_info(g, &info), "group info");
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[1024];
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    out.emplace_back(name);
  }
}

}  // namespace

nlohmann::json inspect_store(const std::string& path) {
  h5::quiet();
  h5::Id file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                         path + ": cannot open");
  if (!h5::has_attr(file, "schema") || h5::get_string_attr(file, "schema") != schema::kSchema)
    throw Error(Where{path},
                "not a clrp store (no schema attribute " + std::string(schema::kSchema) + ")");
  nlohmann::json j;
  j["path"] = path;
  j["schema"] = schema::kSchema;
  j["campaign"] = h5::get_string_attr(file, "campaign");
  j["clrp_version"] = h5::get_string_attr(file, "clrp_version");
  j["spec_hash"] = h5::get_string_attr(file, "spec_hash");
  j["spec"] = nlohmann::json::parse(h5::get_string_attr(file, "spec"));
  j["tables"] = nlohmann::json::array();
  std::uint64_t cases = 0, tokens = 0;
  if (H5Lexists(file, "/runs", H5P_DEFAULT) > 0) {
    h5::Id runs = h5::make(H5Gopen2(file, "/runs", H5P_DEFAULT), H5Gclose, "/runs");
    std::vector<std::string> models;
    children(runs, models);
    for (const auto& m : models) {
      h5::Id gm = h5::make(H5Gopen2(runs, m.c_str(), H5P_DEFAULT), H5Gclose, m);
      std::vector<std::string> cks;
      children(gm, cks);
      for (const auto& c : cks) {
        h5::Id gc = h5::make(H5Gopen2(gm, c.c_str(), H5P_DEFAULT), H5Gclose, c);
        std::vector<std::string> benches;
        children(gc, benches);
        for (const auto& b : benches) {
          h5::Id gt = h5::make(H5Gopen2(gc, b.c_str(), H5P_DEFAULT), H5Gclose, b);
          nlohmann::json t;
          t["group"] = "/runs/" + m + "/" + c + "/" + b;
          t["model"] = m;
          t["checkpoint"] = c;
          t["benchmark"] = b;
          t["checkpoint_path"] = h5::get_string_attr(gt, "checkpoint_path");
          t["rules"] = nlohmann::json::parse(h5::get_string_attr(gt, "rules"));
          t["layers"] = h5::get_i64_attr(gt, "layers");
          t["heads"] = h5::get_i64_attr(gt, "heads");
          t["neurons"] = h5::get_i64_attr(gt, "neurons");
          t["committed_cases"] = h5::get_u64_attr(gt, "committed_rows");
          t["committed_tokens"] = h5::get_u64_attr(gt, "committed_tokens");
          h5::Id d = h5::make(H5Dopen2(gt, "cases", H5P_DEFAULT), H5Dclose, "cases");
          t["rows_in_file"] = h5::rows(d);
          cases += t["committed_cases"].get<std::uint64_t>();
          tokens += t["committed_tokens"].get<std::uint64_t>();
          const std::string agg = "/aggregate/" + m + "/" + c + "/" + b;
          if (H5Lexists(file, "/aggregate", H5P_DEFAULT) > 0 &&
              H5Oexists_by_name(file, agg.c_str(), H5P_DEFAULT) > 0) {
            h5::Id ga = h5::make(H5Gopen2(file, agg.c_str(), H5P_DEFAULT), H5Gclose, agg);
            const auto ds = read_all(ga, "delta_stats");
            const auto cons = read_all(ga, "conservation");
            const auto ev = read_all(ga, "evidence_hit_rate");
            const auto seg = read_all(ga, "segment_relevance_normalized");
            nlohmann::json a;
            a["cases"] = h5::get_u64_attr(ga, "cases");
            a["delta"] = {{"mean", ds[1]}, {"std", ds[2]}, {"min", ds[3]}, {"max", ds[4]}};
            for (std::size_t r = 0; r < t["rules"].size(); ++r) {
              const std::string rule = t["rules"][r];
              a["conservation_mean_abs"][rule] = cons[r * 3];
              a["evidence_hit_rate"][rule] = {
                  {"cases", ev[r * 3]}, {"top_k", ev[r * 3 + 1]}, {"random", ev[r * 3 + 2]}};
              for (int s = 0; s < kSegmentColumns; ++s)
                a["segment_share"][rule][kSegmentColumnNames[s]] =
                    seg[r * kSegmentColumns + static_cast<std::size_t>(s)];
            }
            t["aggregate"] = a;
          }
          j["tables"].push_back(t);
        }
      }
    }
  }
  j["committed_cases"] = cases;
  j["committed_tokens"] = tokens;
  return j;
}

}  // namespace clrp::store
