#include "faithfulness_aggregate.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "clrp/util/bootstrap.hpp"
#include "h5.hpp"
#include "schema.hpp"

namespace clrp::store {

namespace {

template <class T>
std::vector<T> read_all(hid_t group, const char* name, hid_t type,
                        const std::vector<hsize_t>& trailing, hsize_t rows) {
  std::size_t per_row = 1;
  for (auto n : trailing)
    per_row *= n;
  std::vector<T> out(rows * per_row);
  h5::Id d = h5::make(H5Dopen2(group, name, H5P_DEFAULT), H5Dclose, name);
  h5::read_rows(d, type, trailing, 0, rows, out.data());
  return out;
}

// Count, mean and bootstrap interval of the finite values.
void summarise(std::vector<double> values, std::uint64_t seed, double* out) {
  std::erase_if(values, [](double x) { return !std::isfinite(x); });
  double sum = 0;
  for (double x : values)
    sum += x;
  const auto [lo, hi] = util::bootstrap_interval(values, seed);
  out[0] = static_cast<double>(values.size());
  out[1] = values.empty() ? std::nan("") : sum / static_cast<double>(values.size());
  out[2] = lo;
  out[3] = hi;
}

}  // namespace

void write_faithfulness_aggregates(hid_t group, hid_t agg, const TableInfo& info, hsize_t rows,
                                   bool writer, hid_t dxpl) {
  const hsize_t O = info.removal_operators.size(), R = static_cast<hsize_t>(info.R()),
                S = static_cast<hsize_t>(info.faithfulness_steps()), C = 2 * R + 1;
  const std::uint64_t seed = info.faithfulness_seed;
  // Cases in the order of their ids, not of their commits: the bootstrap's
  // draws then do not depend on which rank committed what first.
  std::vector<double> delta(rows);
  std::vector<hsize_t> order(rows);
  {
    h5::Id d = h5::make(H5Dopen2(group, "cases", H5P_DEFAULT), H5Dclose, "cases");
    const schema::CaseRows cases = schema::CaseRows::read(d, 0, rows);
    for (std::size_t i = 0; i < rows; ++i) {
      CaseRecord r;
      cases.to_record(i, r);
      delta[i] = r.delta;
    }
    const std::uint64_t id_bytes = rows == 0 ? 0
                                             : cases.offset(rows - 1, schema::Rows::IdByte) +
                                                   cases.length(rows - 1, schema::Rows::IdByte);
    h5::Id ids = h5::make(H5Dopen2(group, "case_id", H5P_DEFAULT), H5Dclose, "case_id");
    const std::vector<std::string> names = schema::read_case_ids(d, ids, rows, id_bytes);
    std::iota(order.begin(), order.end(), hsize_t{0});
    std::sort(order.begin(), order.end(),
              [&](hsize_t a, hsize_t b) { return names[a] < names[b]; });
  }
  const auto area =
      read_all<double>(group, "faithfulness_area", H5T_NATIVE_DOUBLE, {O, R, 2}, rows);
  const auto flip =
      read_all<std::int32_t>(group, "faithfulness_flip", H5T_NATIVE_INT32, {O, R + 1}, rows);
  const auto curves =
      read_all<float>(group, "faithfulness_delta", H5T_NATIVE_FLOAT, {O, C, S}, rows);
  // int8 in the file, read as int32 (HDF5 converts): codes and bits are signed (−1).
  const auto outcome = read_all<std::int32_t>(group, "outcome", H5T_NATIVE_INT32, {R}, rows);
  const auto pattern = read_all<std::int32_t>(group, "pattern", H5T_NATIVE_INT32, {R}, rows);
  // Outcome counts by code (−1 .. 3); over the failures with evidence, the
  // patterns: cases, URT only, OIT only, both, neither.
  std::vector<double> outcomes(R * 5, 0.0), patterns(R * 5, 0.0);
  for (hsize_t i = 0; i < rows; ++i)
    for (hsize_t r = 0; r < R; ++r) {
      const std::int32_t code = outcome[i * R + r];
      if (code >= -1 && code <= 3) outcomes[r * 5 + static_cast<hsize_t>(code + 1)] += 1;
      const std::int32_t bits = pattern[i * R + r];
      if (bits < 0 || !(delta[i] > 0)) continue;
      patterns[r * 5] += 1;
      patterns[r * 5 + (bits == 1 ? 1 : bits == 2 ? 2 : bits == 3 ? 3 : 4)] += 1;
    }

  std::vector<double> areas(O * R * 2 * 4), differences(O * R * R * 4), flips(O * (R + 1) * 3),
      curve(O * C * S, 0.0);
  for (hsize_t o = 0; o < O; ++o) {
    for (hsize_t r = 0; r < R; ++r) {
      for (hsize_t k = 0; k < 2; ++k) {
        std::vector<double> v;
        v.reserve(rows);
        for (const hsize_t i : order)
          if (delta[i] > 0) v.push_back(area[((i * O + o) * R + r) * 2 + k]);
        summarise(std::move(v), seed, &areas[((o * R + r) * 2 + k) * 4]);
      }
      for (hsize_t b = 0; b < R; ++b) {
        std::vector<double> v;
        v.reserve(rows);
        for (const hsize_t i : order)
          if (delta[i] > 0)
            v.push_back(area[((i * O + o) * R + r) * 2] - area[((i * O + o) * R + b) * 2]);
        summarise(std::move(v), seed, &differences[((o * R + r) * R + b) * 4]);
      }
    }
    for (hsize_t j = 0; j <= R; ++j) {
      double eligible = 0, flipped = 0, tokens = 0;
      for (hsize_t i = 0; i < rows; ++i) {
        const std::int32_t k = flip[(i * O + o) * (R + 1) + j];
        if (k == 0) continue;  // Δℓ <= 0 before any removal: nothing to flip
        eligible += 1;
        if (k > 0) flipped += 1, tokens += k;
      }
      double* out = &flips[(o * (R + 1) + j) * 3];
      out[0] = eligible;
      out[1] = eligible > 0 ? flipped / eligible : std::nan("");
      out[2] = flipped > 0 ? tokens / flipped : std::nan("");
    }
  }
  double positive = 0;
  for (hsize_t i = 0; i < rows; ++i) {
    if (!(delta[i] > 0)) continue;
    positive += 1;
    for (hsize_t x = 0; x < O * C * S; ++x)
      curve[x] += curves[i * O * C * S + x] / delta[i];
  }
  for (double& x : curve)
    x = positive > 0 ? x / positive : std::nan("");

  h5::write_doubles(agg, "faithfulness_area", {O, R, 2, 4}, areas, writer, dxpl);
  h5::write_doubles(agg, "faithfulness_rule_difference", {O, R, R, 4}, differences, writer, dxpl);
  h5::write_doubles(agg, "faithfulness_flip", {O, R + 1, 3}, flips, writer, dxpl);
  h5::write_doubles(agg, "faithfulness_curve", {O, C, S}, curve, writer, dxpl);
  h5::write_doubles(agg, "outcomes", {R, 5}, outcomes, writer, dxpl);
  h5::write_doubles(agg, "patterns", {R, 5}, patterns, writer, dxpl);
}

}  // namespace clrp::store
