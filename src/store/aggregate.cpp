#include "clrp/store/aggregate.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

#include "evaluation_aggregate.hpp"
#include "faithfulness_aggregate.hpp"
#include "h5.hpp"
#include "kill_hook.hpp"
#include "schema.hpp"

namespace clrp::store {

namespace {

// Named slices of one flat vector of sums, so one MPI_Reduce carries them all.
struct Sums {
  std::vector<double> v;
  std::size_t add(std::size_t n) {
    v.resize(v.size() + n, 0.0);
    return v.size() - n;
  }
};

// Entropy, Gini, top-1 and top-5 share of the distribution |r| / Σ|r|.
std::array<double, 4> concentration(std::vector<double> a) {
  const double total = std::accumulate(a.begin(), a.end(), 0.0);
  if (total <= 0 || a.empty()) return {0, 0, 0, 0};
  std::sort(a.begin(), a.end());
  const double n = static_cast<double>(a.size());
  double entropy = 0, weighted = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double p = a[i] / total;
    if (p > 0) entropy -= p * std::log(p);
    weighted += static_cast<double>(i + 1) * a[i];
  }
  const double gini = 2 * weighted / (n * total) - (n + 1) / n;
  double top5 = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(5, a.size()); ++i)
    top5 += a[a.size() - 1 - i];
  return {entropy, gini, a.back() / total, top5 / total};
}

// P(at least one of k random distinct tokens of T lies in the E evidence tokens).
double random_hit(std::size_t T, std::size_t E, std::size_t k) {
  k = std::min(k, T);
  double miss = 1;
  for (std::size_t j = 0; j < k; ++j) {
    if (T - E <= j) return 1.0;
    miss *= static_cast<double>(T - E - j) / static_cast<double>(T - j);
  }
  return 1 - miss;
}

}  // namespace

void write_aggregates(Store& store) {
  MPI_Comm comm = store.comm();
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const hid_t file = static_cast<hid_t>(store.file_id());
  h5::Id dxpl = h5::make(H5Pcreate(H5P_DATASET_XFER), H5Pclose, "transfer list");
  h5::check(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "collective transfers");
  if (H5Lexists(file, "/aggregate", H5P_DEFAULT) > 0)
    h5::check(H5Ldelete(file, "/aggregate", H5P_DEFAULT), "cannot replace /aggregate");
  const auto rows_committed = store.committed_rows();
  const auto evaluations = store.committed_evaluations();
  const auto& tables = store.tables();
  for (std::size_t ti = 0; ti < tables.size(); ++ti) {
    const TableInfo& info = tables[ti];
    const std::size_t R = static_cast<std::size_t>(info.R());
    const std::size_t L = static_cast<std::size_t>(info.layers);
    const std::size_t S = kSegmentColumns, P = kPositionBuckets;
    const std::string g = info.group();
    h5::Id group = h5::make(H5Gopen2(file, g.c_str(), H5P_DEFAULT), H5Gclose, g);
    const hsize_t N = rows_committed[ti];
    const hsize_t r0 = N * static_cast<hsize_t>(rank) / static_cast<hsize_t>(size);
    const hsize_t r1 = N * static_cast<hsize_t>(rank + 1) / static_cast<hsize_t>(size);
    schema::CaseRows rows;
    std::vector<double> conservation((r1 - r0) * R), segments((r1 - r0) * R * S);
    {
      h5::Id d = h5::make(H5Dopen2(group, "cases", H5P_DEFAULT), H5Dclose, g + "/cases");
      rows = schema::CaseRows::read(d, r0, r1 - r0);
      h5::Id c = h5::make(H5Dopen2(group, "conservation", H5P_DEFAULT), H5Dclose, "conservation");
      h5::read_rows(c, H5T_NATIVE_DOUBLE, {R}, r0, r1 - r0, conservation.data());
      h5::Id s = h5::make(H5Dopen2(group, "segment_relevance", H5P_DEFAULT), H5Dclose, "segments");
      h5::read_rows(s, H5T_NATIVE_DOUBLE, {R, S}, r0, r1 - r0, segments.data());
    }
    // Deletion test: per case, tokens to flip under each rule, then random order.
    const std::size_t D = info.deletion_max_tokens > 0 ? R + 1 : 0;
    std::vector<std::int32_t> deletion((r1 - r0) * D);
    if (D > 0) {
      h5::Id d = h5::make(H5Dopen2(group, "deletion_tokens", H5P_DEFAULT), H5Dclose, "deletion");
      h5::read_rows(d, H5T_NATIVE_INT32, {D}, r0, r1 - r0, deletion.data());
    }
    // Attribution graphs: per case the kGraphSummaryColumns summary, NaN without a graph.
    const std::size_t G = info.graphs ? static_cast<std::size_t>(kGraphSummaryColumns) : 0;
    std::vector<double> graph((r1 - r0) * G);
    if (G > 0) {
      h5::Id d = h5::make(H5Dopen2(group, "graph_summary", H5P_DEFAULT), H5Dclose, "graphs");
      h5::read_rows(d, H5T_NATIVE_DOUBLE, {G}, r0, r1 - r0, graph.data());
    }
    using schema::Rows;
    const std::size_t last = rows.size() - 1;
    const hsize_t t0 = rows.empty() ? 0 : rows.offset(0, Rows::Token);
    const hsize_t t1 =
        rows.empty() ? 0 : rows.offset(last, Rows::Token) + rows.length(last, Rows::Token);
    std::vector<float> tokrel((t1 - t0) * R), layer;
    std::vector<std::int8_t> evidence(t1 - t0), segment(t1 - t0);
    {
      h5::Id d = h5::make(H5Dopen2(group, "token_relevance", H5P_DEFAULT), H5Dclose, "tokens");
      h5::read_rows(d, H5T_NATIVE_FLOAT, {R}, t0, t1 - t0, tokrel.data());
      h5::Id e = h5::make(H5Dopen2(group, "token_evidence", H5P_DEFAULT), H5Dclose, "evidence");
      h5::read_rows(e, H5T_NATIVE_INT8, {}, t0, t1 - t0, evidence.data());
      h5::Id sg = h5::make(H5Dopen2(group, "token_segment", H5P_DEFAULT), H5Dclose, "segments");
      h5::read_rows(sg, H5T_NATIVE_INT8, {}, t0, t1 - t0, segment.data());
      if (info.residual) {
        layer.resize((t1 - t0) * R * L);
        h5::Id l = h5::make(H5Dopen2(group, "layer_relevance", H5P_DEFAULT), H5Dclose, "layers");
        h5::read_rows(l, H5T_NATIVE_FLOAT, {R, L}, t0, t1 - t0, layer.data());
      }
    }

    Sums sums;
    const std::size_t o_cases = sums.add(1), o_delta = sums.add(2), o_hist = sums.add(kDeltaBins),
                      o_seg = sums.add(R * S), o_segn = sums.add(R * S), o_nnorm = sums.add(1),
                      o_conc = sums.add(R * 4), o_pos = sums.add(R * P), o_layer = sums.add(R * L),
                      o_cons = sums.add(R * 2), o_ev = sums.add(1), o_hit = sums.add(R),
                      o_rand = sums.add(1), o_del = sums.add(D * 3), o_graph = sums.add(G * 3),
                      o_rec = sums.add(1), o_recall = sums.add(R * 2), o_chance = sums.add(2);
    // max Δℓ, max |err| per rule, max per graph column; min Δℓ, min per graph column.
    std::vector<double> maxes(1 + R + G, -std::numeric_limits<double>::infinity());
    std::vector<double> mins(1 + G, std::numeric_limits<double>::infinity());
    double& min_delta = mins[0];
    auto& v = sums.v;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      CaseRecord row;
      rows.to_record(i, row);
      const double delta = row.delta;
      const std::size_t T = rows.length(i, Rows::Token), base = rows.offset(i, Rows::Token) - t0;
      v[o_cases] += 1;
      v[o_delta] += delta;
      v[o_delta + 1] += delta * delta;
      min_delta = std::min(min_delta, delta);
      maxes[0] = std::max(maxes[0], delta);
      const double clipped = std::clamp(delta, kDeltaLow, kDeltaHigh);
      const int bin = std::min(kDeltaBins - 1, static_cast<int>(std::floor(clipped - kDeltaLow)));
      v[o_hist + static_cast<std::size_t>(bin)] += 1;
      const bool normalise = std::abs(delta) > 1e-9;
      if (normalise) v[o_nnorm] += 1;
      std::size_t evidence_tokens = 0;
      for (std::size_t t = 0; t < T; ++t)
        evidence_tokens += evidence[base + t] != 0;
      if (evidence_tokens > 0) {
        v[o_ev] += 1;
        v[o_rand] += random_hit(T, evidence_tokens, static_cast<std::size_t>(info.evidence_top_k));
      }
      // Evidence recovery: among the removable tokens (segment != −1, not the
      // last), the share of the evidence in the top k and the top ⌈10 %⌉ by
      // |relevance| (ties to the earlier token), against the same share for
      // as many random tokens (k / n, ⌈0.1 n⌉ / n).
      std::vector<std::size_t> candidates;
      std::size_t evidence_candidates = 0;
      for (std::size_t t = 0; t + 1 < T; ++t)
        if (segment[base + t] != -1) {
          candidates.push_back(t);
          evidence_candidates += evidence[base + t] != 0;
        }
      const std::size_t nc = candidates.size();
      const std::size_t top_k =
          std::min<std::size_t>(nc, static_cast<std::size_t>(info.evidence_top_k));
      const std::size_t top_tenth = (nc + 9) / 10;
      if (evidence_candidates > 0) {
        v[o_rec] += 1;
        v[o_chance] += static_cast<double>(top_k) / static_cast<double>(nc);
        v[o_chance + 1] += static_cast<double>(top_tenth) / static_cast<double>(nc);
        for (std::size_t r = 0; r < R; ++r) {
          std::vector<std::size_t> order = candidates;
          const auto mag = [&](std::size_t t) { return std::abs(tokrel[(base + t) * R + r]); };
          std::stable_sort(order.begin(), order.end(),
                           [&](std::size_t a, std::size_t b) { return mag(a) > mag(b); });
          std::size_t found = 0;
          for (std::size_t j = 0; j < std::max(top_k, top_tenth); ++j) {
            found += evidence[base + order[j]] != 0;
            if (j + 1 == top_k)
              v[o_recall + r * 2] +=
                  static_cast<double>(found) / static_cast<double>(evidence_candidates);
            if (j + 1 == top_tenth)
              v[o_recall + r * 2 + 1] +=
                  static_cast<double>(found) / static_cast<double>(evidence_candidates);
          }
        }
      }
      for (std::size_t c = 0; c < G; ++c) {
        const double x = graph[i * G + c];
        if (std::isnan(x)) continue;  // no graph for this case
        v[o_graph + c * 3] += 1;
        v[o_graph + c * 3 + 1] += x;
        v[o_graph + c * 3 + 2] += x * x;
        maxes[1 + R + c] = std::max(maxes[1 + R + c], x);
        mins[1 + c] = std::min(mins[1 + c], x);
      }
      for (std::size_t j = 0; j < D; ++j) {
        // 0: Δℓ <= 0 before any deletion, so there is nothing to flip.
        const std::int32_t k = deletion[i * D + j];
        if (k == 0) continue;
        v[o_del + j * 3] += 1;
        if (k > 0) {
          v[o_del + j * 3 + 1] += 1;
          v[o_del + j * 3 + 2] += k;
        }
      }
      for (std::size_t r = 0; r < R; ++r) {
        for (std::size_t s = 0; s < S; ++s) {
          const double x = segments[(i * R + r) * S + s];
          v[o_seg + r * S + s] += x;
          if (normalise) v[o_segn + r * S + s] += x / std::abs(delta);
        }
        std::vector<double> mag(T);
        for (std::size_t t = 0; t < T; ++t) {
          const double x = tokrel[(base + t) * R + r];
          mag[t] = std::abs(x);
          v[o_pos + r * P + (t * P) / T] += x;
        }
        const auto c = concentration(mag);
        for (int k = 0; k < 4; ++k)
          v[o_conc + r * 4 + static_cast<std::size_t>(k)] += c[static_cast<std::size_t>(k)];
        for (std::size_t l = 0; l < (info.residual ? L : 0); ++l) {
          double s = 0;
          for (std::size_t t = 0; t < T; ++t)
            s += layer[((base + t) * R + r) * L + l];
          v[o_layer + r * L + l] += s;
        }
        const double err = conservation[i * R + r];
        v[o_cons + r * 2] += std::abs(err);
        v[o_cons + r * 2 + 1] += err;
        maxes[1 + r] = std::max(maxes[1 + r], std::abs(err));
        if (evidence_tokens > 0) {
          // Top-k tokens by |relevance|, ties to the earlier token.
          std::vector<std::size_t> order(T);
          std::iota(order.begin(), order.end(), 0);
          const std::size_t k =
              std::min<std::size_t>(T, static_cast<std::size_t>(info.evidence_top_k));
          std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k),
                            order.end(), [&](std::size_t a, std::size_t b) {
                              return mag[a] != mag[b] ? mag[a] > mag[b] : a < b;
                            });
          bool hit = false;
          for (std::size_t j = 0; j < k; ++j)
            hit = hit || evidence[base + order[j]] != 0;
          v[o_hit + r] += hit ? 1 : 0;
        }
      }
    }
    std::vector<double> total(v.size()), total_max(maxes.size()), total_mins(mins.size());
    MPI_Reduce(v.data(), total.data(), static_cast<int>(v.size()), MPI_DOUBLE, MPI_SUM, 0, comm);
    MPI_Reduce(maxes.data(), total_max.data(), static_cast<int>(maxes.size()), MPI_DOUBLE, MPI_MAX,
               0, comm);
    MPI_Reduce(mins.data(), total_mins.data(), static_cast<int>(mins.size()), MPI_DOUBLE, MPI_MIN,
               0, comm);
    const double total_min = total_mins[0];

    // Means over cases (rank 0 holds the totals; the others write nothing).
    const double n = total[o_cases];
    const auto mean = [&](std::size_t at, std::size_t count, double by) {
      std::vector<double> out(count);
      for (std::size_t i = 0; i < count; ++i)
        out[i] = by > 0 ? total[at + i] / by : std::nan("");
      return out;
    };
    h5::Id agg = h5::ensure_groups(
        file, "/aggregate/" + info.model + "/" + info.checkpoint + "/" + info.benchmark);
    h5::set_attr(agg, "cases", static_cast<std::uint64_t>(N));
    const bool w = rank == 0;
    const double m = n > 0 ? total[o_delta] / n : std::nan("");
    const double var = n > 0 ? std::max(0.0, total[o_delta + 1] / n - m * m) : std::nan("");
    h5::write_doubles(agg, "delta_stats", {5},
                      {n, m, std::sqrt(var), n > 0 ? total_min : std::nan(""),
                       n > 0 ? total_max[0] : std::nan("")},
                      w, dxpl);
    h5::write_doubles(
        agg, "delta_histogram", {kDeltaBins},
        std::vector<double>(total.begin() + static_cast<std::ptrdiff_t>(o_hist),
                            total.begin() + static_cast<std::ptrdiff_t>(o_hist + kDeltaBins)),
        w, dxpl);
    h5::write_doubles(agg, "segment_relevance", {R, S}, mean(o_seg, R * S, n), w, dxpl);
    h5::write_doubles(agg, "segment_relevance_normalized", {R, S},
                      mean(o_segn, R * S, total[o_nnorm]), w, dxpl);
    h5::write_doubles(agg, "concentration", {R, 4}, mean(o_conc, R * 4, n), w, dxpl);
    h5::write_doubles(agg, "position_deciles", {R, P}, mean(o_pos, R * P, n), w, dxpl);
    if (info.residual)
      h5::write_doubles(agg, "layer_relevance", {R, L}, mean(o_layer, R * L, n), w, dxpl);
    std::vector<double> cons(R * 3);
    for (std::size_t r = 0; r < R; ++r) {
      cons[r * 3] = n > 0 ? total[o_cons + r * 2] / n : std::nan("");
      cons[r * 3 + 1] = n > 0 ? total_max[1 + r] : std::nan("");
      cons[r * 3 + 2] = n > 0 ? total[o_cons + r * 2 + 1] / n : std::nan("");
    }
    h5::write_doubles(agg, "conservation", {R, 3}, cons, w, dxpl);
    std::vector<double> ev(R * 3);
    const double ne = total[o_ev];
    for (std::size_t r = 0; r < R; ++r) {
      ev[r * 3] = ne;
      ev[r * 3 + 1] = ne > 0 ? total[o_hit + r] / ne : std::nan("");
      ev[r * 3 + 2] = ne > 0 ? total[o_rand] / ne : std::nan("");
    }
    h5::write_doubles(agg, "evidence_hit_rate", {R, 3}, ev, w, dxpl);
    // Per rule: cases with evidence among the removable tokens, mean recovery
    // in the top k and its chance, in the top 10 % and its chance.
    std::vector<double> rec(R * 5);
    const double nr = total[o_rec];
    for (std::size_t r = 0; r < R; ++r) {
      rec[r * 5] = nr;
      rec[r * 5 + 1] = nr > 0 ? total[o_recall + r * 2] / nr : std::nan("");
      rec[r * 5 + 2] = nr > 0 ? total[o_chance] / nr : std::nan("");
      rec[r * 5 + 3] = nr > 0 ? total[o_recall + r * 2 + 1] / nr : std::nan("");
      rec[r * 5 + 4] = nr > 0 ? total[o_chance + 1] / nr : std::nan("");
    }
    h5::write_doubles(agg, "evidence_recovery", {R, 5}, rec, w, dxpl);
    if (G > 0) {
      // Per summary column (kGraphSummaryColumnNames): cases with a graph,
      // mean, standard deviation (population), min, max.
      std::vector<double> stats(G * 5, std::nan(""));
      for (std::size_t c = 0; c < G; ++c) {
        const double k = total[o_graph + c * 3];
        stats[c * 5] = k;
        if (k <= 0) continue;
        const double mu = total[o_graph + c * 3 + 1] / k;
        stats[c * 5 + 1] = mu;
        stats[c * 5 + 2] = std::sqrt(std::max(0.0, total[o_graph + c * 3 + 2] / k - mu * mu));
        stats[c * 5 + 3] = total_mins[1 + c];
        stats[c * 5 + 4] = total_max[1 + R + c];
      }
      h5::write_doubles(agg, "graph_summary_stats", {G, 5}, stats, w, dxpl);
    }
    if (info.evaluations) write_evaluation_aggregates(agg, evaluations[ti], w, dxpl);
    if (info.faithfulness()) write_faithfulness_aggregates(group, agg, info, N, w, dxpl);
    kill_point("aggregate");  // /aggregate replaced in part
    if (D > 0) {
      // Rows: rules, then the random order; columns: cases with Δℓ > 0, flip
      // rate among them, mean tokens to flip among the flipped.
      std::vector<double> del(D * 3);
      for (std::size_t j = 0; j < D; ++j) {
        const double eligible = total[o_del + j * 3], flipped = total[o_del + j * 3 + 1];
        del[j * 3] = eligible;
        del[j * 3 + 1] = eligible > 0 ? flipped / eligible : std::nan("");
        del[j * 3 + 2] = flipped > 0 ? total[o_del + j * 3 + 2] / flipped : std::nan("");
      }
      h5::write_doubles(agg, "deletion", {D, 3}, del, w, dxpl);
    }
  }
  h5::check(H5Fflush(file, H5F_SCOPE_GLOBAL), "cannot flush the store");
}

}  // namespace clrp::store
