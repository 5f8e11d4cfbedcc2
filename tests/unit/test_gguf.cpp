// GGUF reader: good files parse completely; every malformed file is refused
// with a clrp::Error that names the file and the byte offset (and the key or
// tensor), never a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "clrp/io/dequant.hpp"
#include "clrp/io/gguf.hpp"
#include "clrp/model/config.hpp"
#include "clrp/util/error.hpp"

namespace {

using clrp::io::DType;
using clrp::io::GgufFile;
using clrp::io::GgufValue;
using VT = GgufValue::Type;

// ggml type ids used below.
constexpr std::uint32_t kF32 = 0, kF16 = 1, kQ8_0 = 8, kQ4_K = 12, kBF16 = 30;

// A tiny GGUF writer: appends little-endian fields and remembers where each
// tensor's offset field lies so that tests can corrupt it.
class Builder {
 public:
  std::vector<std::uint8_t> b;

  Builder& u8(std::uint8_t v) { return raw(&v, 1); }
  Builder& u16(std::uint16_t v) { return raw(&v, 2); }
  Builder& u32(std::uint32_t v) { return raw(&v, 4); }
  Builder& u64(std::uint64_t v) { return raw(&v, 8); }
  Builder& f32(float v) { return raw(&v, 4); }
  Builder& f64(double v) { return raw(&v, 8); }
  Builder& str(const std::string& s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  Builder& raw(const void* p, std::size_t n) {
    const auto* c = static_cast<const std::uint8_t*>(p);
    b.insert(b.end(), c, c + n);
    return *this;
  }
  Builder& header(std::uint32_t version, std::uint64_t n_tensors, std::uint64_t n_kv) {
    raw("GGUF", 4);
    u32(version);
    return u64(n_tensors).u64(n_kv);
  }
  // Key and type; the caller appends the value.
  Builder& key(const std::string& k, VT t) { return str(k).u32(static_cast<std::uint32_t>(t)); }
  // Tensor info with ne[] given innermost first, as stored.
  Builder& tensor(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type,
                  std::uint64_t offset) {
    str(name).u32(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne)
      u64(d);
    u32(type);
    offset_fields.push_back(b.size());
    return u64(offset);
  }
  Builder& pad(std::size_t alignment) {
    while (b.size() % alignment != 0)
      b.push_back(0);
    return *this;
  }
  std::size_t size() const { return b.size(); }

  std::vector<std::size_t> offset_fields;
};

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / ("clrp_gguf_" + name + ".gguf")).string();
}

std::string write(const std::string& name, const std::vector<std::uint8_t>& bytes) {
  const std::string p = temp_path(name);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  EXPECT_TRUE(out.good()) << p;
  return p;
}

std::uint16_t to_half(float f) {
  // Exact for the small values used here (normal halves with short mantissas).
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const int exp = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
  const std::uint32_t mant = (x >> 13) & 0x3ffu;
  if ((x & 0x7fffffffu) == 0) return static_cast<std::uint16_t>(sign);
  return static_cast<std::uint16_t>(sign | (static_cast<std::uint32_t>(exp) << 10) | mant);
}

// A complete, valid file: metadata of every value type, four tensors.
struct GoodFile {
  Builder b;
  std::size_t data_start = 0;
};

GoodFile make_good(std::uint32_t version, std::uint32_t alignment = 32) {
  GoodFile g;
  Builder& b = g.b;
  const bool custom_alignment = alignment != 32;
  b.header(version, 4, 16 + (custom_alignment ? 1 : 0));
  b.key("t.u8", VT::UINT8).u8(200);
  b.key("t.i8", VT::INT8).u8(static_cast<std::uint8_t>(-5));
  b.key("t.u16", VT::UINT16).u16(60000);
  b.key("t.i16", VT::INT16).u16(static_cast<std::uint16_t>(-300));
  b.key("t.u32", VT::UINT32).u32(4000000000u);
  b.key("t.i32", VT::INT32).u32(static_cast<std::uint32_t>(-70000));
  b.key("t.f32", VT::FLOAT32).f32(0.25f);
  b.key("t.bool", VT::BOOL).u8(1);
  b.key("general.architecture", VT::STRING).str("llama");
  b.key("t.u64", VT::UINT64).u64(std::uint64_t{1} << 40);
  b.key("t.i64", VT::INT64).u64(static_cast<std::uint64_t>(std::int64_t{-1} << 40));
  b.key("t.f64", VT::FLOAT64).f64(-1.5);
  b.key("t.arr_i32", VT::ARRAY).u32(static_cast<std::uint32_t>(VT::INT32)).u64(3);
  b.u32(1).u32(static_cast<std::uint32_t>(-2)).u32(3);
  b.key("t.arr_str", VT::ARRAY).u32(static_cast<std::uint32_t>(VT::STRING)).u64(3);
  b.str("a").str("").str("\xc4\xa0hello");
  b.key("t.arr_f32", VT::ARRAY).u32(static_cast<std::uint32_t>(VT::FLOAT32)).u64(2);
  b.f32(1.0f).f32(-0.5f);
  b.key("t.arr_arr", VT::ARRAY).u32(static_cast<std::uint32_t>(VT::ARRAY)).u64(2);
  b.u32(static_cast<std::uint32_t>(VT::UINT8)).u64(2).u8(7).u8(8);
  b.u32(static_cast<std::uint32_t>(VT::BOOL)).u64(0);
  if (custom_alignment) b.key("general.alignment", VT::UINT32).u32(alignment);

  // ne innermost first: "w" is 2 rows x 3 columns; "q" 2 x 32 (Q8_0); "h" F16 [4];
  // "k" Q4_K [256], first in the directory and so first in the data section.
  const std::uint64_t a = alignment;
  auto up = [a](std::uint64_t x) { return (x + a - 1) / a * a; };
  const std::uint64_t off_k = 0, off_w = up(off_k + 144), off_q = up(off_w + 24),
                      off_h = up(off_q + 2 * 34);
  b.tensor("k", {256}, kQ4_K, off_k);
  b.tensor("w", {3, 2}, kF32, off_w);
  b.tensor("q", {32, 2}, kQ8_0, off_q);
  b.tensor("h", {4}, kF16, off_h);
  b.pad(alignment);
  g.data_start = b.size();
  auto at = [&](std::uint64_t off) {
    while (b.size() < g.data_start + off)
      b.u8(0);
  };
  // Q4_K: d = 1, dmin = 0.5, scales all 1, mins all 2 (6-bit fields), nibbles 0..15.
  at(off_k);
  b.u16(to_half(1.0f)).u16(to_half(0.5f));
  for (int i = 0; i < 4; ++i)
    b.u8(1);  // sc[0..3]
  for (int i = 0; i < 4; ++i)
    b.u8(2);  // m[0..3]
  for (int i = 0; i < 4; ++i)
    b.u8(0x21);  // sc[4..7] = 1, m[4..7] = 2
  for (int i = 0; i < 128; ++i)
    b.u8(static_cast<std::uint8_t>((i % 16) | ((15 - i % 16) << 4)));
  at(off_w);
  for (int i = 0; i < 6; ++i)
    b.f32(static_cast<float>(i) + 0.5f);
  at(off_q);
  for (int r = 0; r < 2; ++r) {
    b.u16(to_half(r == 0 ? 0.5f : 2.0f));
    for (int i = 0; i < 32; ++i)
      b.u8(static_cast<std::uint8_t>(static_cast<std::int8_t>(i - 16)));
  }
  at(off_h);
  for (float v : {1.0f, -2.0f, 0.5f, 0.0f})
    b.u16(to_half(v));
  return g;
}

// Parses `bytes` expecting failure; returns the message.
std::string expect_error(const std::string& name, const std::vector<std::uint8_t>& bytes,
                         const std::vector<std::string>& must_contain = {}) {
  const std::string p = write(name, bytes);
  try {
    GgufFile f(p);
    ADD_FAILURE() << name << ": parsed without error";
    return {};
  } catch (const clrp::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find("byte offset"), std::string::npos) << msg;
    EXPECT_TRUE(e.where().offset.has_value()) << msg;
    for (const auto& s : must_contain)
      EXPECT_NE(msg.find(s), std::string::npos) << msg;
    return msg;
  }
}

void set_u32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) {
  std::memcpy(b.data() + at, &v, 4);
}

void set_u64(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t v) {
  std::memcpy(b.data() + at, &v, 8);
}

void check_good(const GgufFile& f, std::uint32_t version) {
  EXPECT_EQ(f.version(), version);
  EXPECT_EQ(f.metadata().size(), f.has("general.alignment") ? 17u : 16u);
  EXPECT_EQ(f.get_int("t.u8"), 200);
  EXPECT_EQ(f.get_int("t.i8"), -5);
  EXPECT_EQ(f.get_int("t.u16"), 60000);
  EXPECT_EQ(f.get_int("t.i16"), -300);
  EXPECT_EQ(f.get_int("t.u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("t.i32"), -70000);
  EXPECT_EQ(f.get_float("t.f32"), 0.25);
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("t.u64"), std::int64_t{1} << 40);
  EXPECT_EQ(f.get_int("t.i64"), std::int64_t{-1} << 40);
  EXPECT_EQ(f.get_float("t.f64"), -1.5);
  EXPECT_EQ(f.get_float("t.u8"), 200.0);  // integers are accepted as numbers
  EXPECT_EQ(f.get_int_array("t.arr_i32"), (std::vector<std::int64_t>{1, -2, 3}));
  EXPECT_EQ(f.get_float_array("t.arr_i32"), (std::vector<double>{1, -2, 3}));
  EXPECT_EQ(f.get_string_array("t.arr_str"), (std::vector<std::string>{"a", "", "\xc4\xa0hello"}));
  EXPECT_EQ(f.get_float_array("t.arr_f32"), (std::vector<double>{1.0, -0.5}));
  const GgufValue& aa = f.metadata().at("t.arr_arr");
  ASSERT_EQ(aa.type, VT::ARRAY);
  ASSERT_EQ(aa.element_type, VT::ARRAY);
  ASSERT_EQ(aa.elements.size(), 2u);
  EXPECT_EQ(aa.elements[0].element_type, VT::UINT8);
  ASSERT_EQ(aa.elements[0].elements.size(), 2u);
  EXPECT_EQ(std::get<std::uint64_t>(aa.elements[0].elements[1].scalar), 8u);
  EXPECT_EQ(aa.elements[1].element_type, VT::BOOL);
  EXPECT_TRUE(aa.elements[1].elements.empty());
  EXPECT_EQ(f.get_int_opt("missing"), std::nullopt);
  EXPECT_EQ(f.get_string_opt("missing"), std::nullopt);
  EXPECT_EQ(f.get_float_opt("t.f32"), 0.25);

  ASSERT_EQ(f.tensors().size(), 4u);
  const auto& w = f.get("w");
  EXPECT_EQ(w.dtype, DType::F32);
  EXPECT_EQ(w.shape, (std::vector<std::int64_t>{2, 3}));  // reversed from ne = {3, 2}
  EXPECT_EQ(w.nbytes, 24u);
  EXPECT_EQ(w.file, f.path());
  EXPECT_EQ(w.file_offset % f.alignment(), 0u);
  EXPECT_NE(w.data, nullptr);
  EXPECT_EQ(f.read_f32(w), (std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f}));

  const auto& q = f.get("q");
  EXPECT_EQ(q.dtype, DType::Q8_0);
  EXPECT_EQ(q.shape, (std::vector<std::int64_t>{2, 32}));
  EXPECT_EQ(q.nbytes, 68u);
  auto qv = f.read_f32(q);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(qv[i], static_cast<float>(i - 16) * 0.5f);
    EXPECT_EQ(qv[32 + i], static_cast<float>(i - 16) * 2.0f);
  }
  EXPECT_EQ(f.read_f32(f.get("h")), (std::vector<float>{1.0f, -2.0f, 0.5f, 0.0f}));

  const auto& k = f.get("k");
  EXPECT_EQ(k.dtype, DType::Q4_K);
  EXPECT_EQ(k.shape, (std::vector<std::int64_t>{256}));
  EXPECT_EQ(k.file_offset, f.data_offset());
  auto kv = f.read_f32(k);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const int i = 32 * c + l;
      EXPECT_EQ(kv[64 * c + l], static_cast<float>(i % 16) - 1.0f) << i;
      EXPECT_EQ(kv[64 * c + 32 + l], static_cast<float>(15 - i % 16) - 1.0f) << i;
    }
}

TEST(Gguf, ParsesVersion3) {
  GoodFile g = make_good(3);
  GgufFile f(write("good_v3", g.b.b));
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset(), g.data_start);
  check_good(f, 3);
  EXPECT_EQ(f.files(), std::vector<std::string>{f.path()});
}

TEST(Gguf, ParsesVersion2WithCustomAlignment) {
  GoodFile g = make_good(2, 64);
  GgufFile f(write("good_v2", g.b.b));
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  check_good(f, 2);
}

TEST(Gguf, EmptyFileWithNoTensorsParses) {
  Builder b;
  b.header(3, 0, 0);
  GgufFile f(write("empty_ok", b.b));
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_TRUE(f.metadata().empty());
}

// The architectures and families are tables: messages list what the tables hold.
TEST(Gguf, UnknownArchitectureListsTheSupportedOnes) {
  Builder b;
  b.header(3, 0, 1);
  b.key("general.architecture", VT::STRING).str("phi3");
  GgufFile f(write("arch_phi3", b.b));
  try {
    clrp::model::read_gguf_config(f);
    FAIL() << "read a phi3 config";
  } catch (const clrp::Error& e) {
    const std::string what = e.what();
    for (const char* want : {"general.architecture", "'phi3'", "(supported: llama, gemma3)"})
      EXPECT_NE(what.find(want), std::string::npos) << what;
  }
  const auto& names = clrp::model::supported_families();
  ASSERT_EQ(names.size(), clrp::model::kFamilyCount);
  for (std::size_t i = 0; i < names.size(); ++i)
    EXPECT_EQ(clrp::model::to_string(static_cast<clrp::model::Family>(i)), names[i]);
  EXPECT_EQ(clrp::model::to_string(clrp::model::Family::Gemma3), "gemma3_text");
}

TEST(Gguf, TypedAccessorsNameKeyOnWrongTypeOrMissing) {
  GoodFile g = make_good(3);
  GgufFile f(write("accessors", g.b.b));
  auto expect_key_error = [&](auto fn, const std::string& key) {
    try {
      fn();
      ADD_FAILURE() << "no error for " << key;
    } catch (const clrp::Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(f.path()), std::string::npos) << e.what();
    }
  };
  expect_key_error([&] { f.get_string("t.u8"); }, "t.u8");
  expect_key_error([&] { f.get_int("general.architecture"); }, "general.architecture");
  expect_key_error([&] { f.get_int("t.f32"); }, "t.f32");
  expect_key_error([&] { f.get_bool("t.u8"); }, "t.u8");
  expect_key_error([&] { f.get_int("nope"); }, "nope");
  expect_key_error([&] { f.get_string_array("t.arr_i32"); }, "t.arr_i32");
  expect_key_error([&] { f.get_int_array("t.arr_f32"); }, "t.arr_f32");
  expect_key_error([&] { f.get_float_array("t.arr_str"); }, "t.arr_str");
  expect_key_error([&] { f.get_int_opt("general.architecture"); }, "general.architecture");
  expect_key_error([&] { f.get("no.such.tensor"); }, "no.such.tensor");
}

TEST(Gguf, EveryTruncationIsRefused) {
  GoodFile g = make_good(3);
  const auto& full = g.b.b;
  for (std::size_t n = 0; n < full.size(); ++n) {
    std::vector<std::uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string p = write("truncated", cut);
    try {
      GgufFile f(p);
      ADD_FAILURE() << "truncated at " << n << " of " << full.size() << " parsed";
    } catch (const clrp::Error& e) {
      const std::string msg = e.what();
      ASSERT_NE(msg.find(p), std::string::npos) << msg;
      ASSERT_NE(msg.find("byte offset"), std::string::npos) << "cut at " << n << ": " << msg;
      ASSERT_LE(*e.where().offset, n) << msg;
    }
  }
}

TEST(Gguf, TruncatedAtSelectedPoints) {
  GoodFile g = make_good(3);
  auto cut = [&](std::size_t n) {
    return std::vector<std::uint8_t>(g.b.b.begin(), g.b.b.begin() + static_cast<std::ptrdiff_t>(n));
  };
  expect_error("trunc_magic", cut(2), {"too short"});
  expect_error("trunc_counts", cut(12), {"end of file", "tensor count"});
  // Two bytes into the name of the 16th key: its length runs past the end.
  const std::string key = "t.arr_arr";
  const auto it = std::search(g.b.b.begin(), g.b.b.end(), key.begin(), key.end());
  const auto key_at = static_cast<std::size_t>(it - g.b.b.begin());
  expect_error("trunc_key", cut(key_at + 2),
               {"byte offset " + std::to_string(key_at - 8), "metadata[15]", "runs past the end"});
  expect_error("trunc_data", cut(g.b.size() - 1), {"past the end", "'h'"});
}

TEST(Gguf, WrongMagic) {
  GoodFile g = make_good(3);
  g.b.b[0] = 'X';
  expect_error("magic", g.b.b, {"not a GGUF file", "byte offset 0"});
}

TEST(Gguf, VersionOneIsRefused) {
  Builder b;
  b.header(1, 0, 0);
  expect_error("v1", b.b, {"version 1", "byte offset 4"});
}

TEST(Gguf, UnknownAndBigEndianVersions) {
  Builder b;
  b.header(4, 0, 0);
  expect_error("v4", b.b, {"unsupported GGUF version 4"});
  Builder be;
  be.header(0x03000000u, 0, 0);
  expect_error("big_endian", be.b, {"big-endian"});
}

TEST(Gguf, StringLengthPastEnd) {
  Builder b;
  b.header(3, 0, 1);
  const std::size_t at = b.size();
  b.u64(1000).raw("abcdefghijklmnopqrstuvwxyz", 26);
  expect_error("strlen_key", b.b, {"byte offset " + std::to_string(at), "length 1000"});

  Builder v;
  v.header(3, 0, 1);
  v.str("my.key").u32(static_cast<std::uint32_t>(VT::STRING));
  const std::size_t vat = v.size();
  v.u64(~std::uint64_t{0}).raw("abc", 3);
  expect_error("strlen_value", v.b, {"byte offset " + std::to_string(vat), "'my.key'"});
}

TEST(Gguf, HugeArrayCount) {
  for (VT et : {VT::UINT8, VT::UINT64, VT::STRING, VT::ARRAY}) {
    Builder b;
    b.header(3, 0, 1);
    b.key("tokenizer.ggml.tokens", VT::ARRAY).u32(static_cast<std::uint32_t>(et));
    const std::size_t at = b.size();
    b.u64(std::uint64_t{1} << 62).u64(0).u64(0);
    expect_error("array_count", b.b,
                 {"byte offset " + std::to_string(at), "'tokenizer.ggml.tokens'", "array count"});
  }
}

TEST(Gguf, ArrayCountJustPastEnd) {
  Builder b;
  b.header(3, 0, 1);
  b.key("a", VT::ARRAY).u32(static_cast<std::uint32_t>(VT::UINT32)).u64(3).u32(1).u32(2);
  expect_error("array_short", b.b, {"'a'", "array count 3"});
}

TEST(Gguf, DeeplyNestedArraysAreRefused) {
  Builder b;
  b.header(3, 0, 1);
  b.key("nest", VT::ARRAY);
  for (int i = 0; i < 10; ++i)
    b.u32(static_cast<std::uint32_t>(VT::ARRAY)).u64(1);
  b.u32(static_cast<std::uint32_t>(VT::UINT8)).u64(1).u8(0);
  expect_error("nested", b.b, {"'nest'", "nested"});
}

TEST(Gguf, BadMetadataValues) {
  Builder t;
  t.header(3, 0, 1);
  t.str("k").u32(13).u8(0);
  expect_error("value_type", t.b, {"'k'", "unknown metadata value type 13"});

  Builder bo;
  bo.header(3, 0, 1);
  bo.key("flag", VT::BOOL).u8(2);
  expect_error("bool", bo.b, {"'flag'", "BOOL"});

  Builder et;
  et.header(3, 0, 1);
  et.key("arr", VT::ARRAY).u32(99).u64(0);
  expect_error("elem_type", et.b, {"'arr'", "element type 99"});

  Builder kv;
  kv.header(3, 0, std::uint64_t{1} << 60);
  expect_error("kv_count", kv.b, {"byte offset 16", "metadata count"});

  Builder tc;
  tc.header(3, std::uint64_t{1} << 60, 0);
  expect_error("tensor_count", tc.b, {"byte offset 8", "tensor count"});
}

TEST(Gguf, BadAlignment) {
  for (std::uint32_t a : {0u, 3u, 48u}) {
    Builder b;
    b.header(3, 0, 1);
    b.key("general.alignment", VT::UINT32).u32(a);
    expect_error("alignment", b.b, {"'general.alignment'", "power of two"});
  }
  Builder s;
  s.header(3, 0, 1);
  s.key("general.alignment", VT::STRING).str("32");
  expect_error("alignment_type", s.b, {"'general.alignment'", "integer"});
}

TEST(Gguf, DuplicateKey) {
  Builder b;
  b.header(3, 0, 2);
  b.key("general.name", VT::STRING).str("a");
  const std::size_t at = b.size();
  b.key("general.name", VT::STRING).str("b");
  expect_error("dup_key", b.b,
               {"byte offset " + std::to_string(at), "'general.name'", "duplicate metadata key"});
}

// A file with one tensor description and 64 bytes of data (enough for "w").
Builder one_tensor(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type,
                   std::uint64_t offset) {
  Builder b;
  b.header(3, 1, 0);
  b.tensor(name, std::move(ne), type, offset);
  b.pad(32);
  for (int i = 0; i < 64; ++i)
    b.u8(0);
  return b;
}

TEST(Gguf, TooManyDims) {
  const std::string name = "blk.0.ffn_up.weight";
  Builder b = one_tensor(name, {1, 1, 1, 1, 1}, kF32, 0);
  const std::size_t ndims_at = 24 + 8 + name.size();
  expect_error("ndims", b.b,
               {"byte offset " + std::to_string(ndims_at), "'" + name + "'", "5 dimensions"});
}

TEST(Gguf, ZeroAndOverflowingDims) {
  expect_error("dim_zero", one_tensor("z", {4, 0}, kF32, 0).b, {"'z'", "positive"});
  expect_error("dim_neg", one_tensor("n", {~std::uint64_t{0}}, kF32, 0).b, {"'n'", "positive"});
  expect_error("dim_overflow",
               one_tensor("o", {std::uint64_t{1} << 40, std::uint64_t{1} << 40}, kF32, 0).b,
               {"'o'", "overflows"});
  expect_error("bytes_overflow", one_tensor("p", {std::uint64_t{1} << 62}, kF32, 0).b,
               {"'p'", "overflows"});
}

TEST(Gguf, UnknownAndUnsupportedTensorTypes) {
  Builder b = one_tensor("tok_embd", {4}, 99, 0);
  const std::size_t type_at = b.offset_fields[0] - 4;
  expect_error(
      "type_unknown", b.b,
      {"byte offset " + std::to_string(type_at), "'tok_embd'", "unknown ggml tensor type 99"});
  expect_error("type_iq2", one_tensor("t", {256}, 16, 0).b, {"'t'", "IQ2_XXS", "not supported"});
}

TEST(Gguf, QuantisedInnermostDimMustBeWholeBlocks) {
  expect_error("block", one_tensor("q", {48, 2}, kQ8_0, 0).b,
               {"'q'", "not a multiple of its block size 32"});
}

TEST(Gguf, TensorOffsetOutOfBounds) {
  Builder b = one_tensor("w", {4}, kF32, 64);  // 16 bytes at 64: past the 64 data bytes
  expect_error("oob", b.b,
               {"byte offset " + std::to_string(b.offset_fields[0]), "'w'", "past the end"});
  Builder h = one_tensor("w", {4}, kF32, std::uint64_t{1} << 63);
  expect_error("oob_huge", h.b, {"'w'", "past the end"});
  Builder big = one_tensor("w", {100}, kF32, 0);  // 400 bytes at 0
  expect_error("oob_size", big.b, {"'w'", "past the end"});
}

TEST(Gguf, MisalignedOffset) {
  Builder b = one_tensor("w", {4}, kF32, 8);
  expect_error("misaligned", b.b,
               {"byte offset " + std::to_string(b.offset_fields[0]), "'w'", "alignment 32"});
}

TEST(Gguf, OverlappingTensors) {
  Builder b;
  b.header(3, 2, 0);
  b.tensor("a", {16}, kF32, 0);  // bytes 0..64
  b.tensor("b", {4}, kF32, 32);  // bytes 32..48: inside "a"
  b.pad(32);
  for (int i = 0; i < 96; ++i)
    b.u8(0);
  expect_error("overlap", b.b,
               {"byte offset " + std::to_string(b.offset_fields[1]), "'b'", "should be 64", "'a'"});
}

// llama.cpp's gguf_init_from_file_impl: in directory order, each tensor's data
// starts at the previous one's end padded to the alignment, the first at 0.
TEST(Gguf, TensorDataMustFollowInDirectoryOrder) {
  // A gap: "b" could start at 32 (16 bytes of "a" padded to 32) but starts at 64.
  Builder gap;
  gap.header(3, 2, 0);
  gap.tensor("a", {4}, kF32, 0);
  gap.tensor("b", {4}, kF32, 64);
  gap.pad(32);
  for (int i = 0; i < 96; ++i)
    gap.u8(0);
  expect_error("gap", gap.b,
               {"byte offset " + std::to_string(gap.offset_fields[1]), "'b'",
                "offset 64 should be 32", "'a'", "llama.cpp"});

  // The first tensor not at 0.
  Builder first = one_tensor("w", {4}, kF32, 32);
  expect_error("first_not_0", first.b, {"'w'", "offset 32 should be 0", "first tensor"});

  // Contiguous, but listed out of data order.
  Builder swapped;
  swapped.header(3, 2, 0);
  swapped.tensor("b", {4}, kF32, 32);
  swapped.tensor("a", {4}, kF32, 0);
  swapped.pad(32);
  for (int i = 0; i < 64; ++i)
    swapped.u8(0);
  expect_error(
      "swapped", swapped.b,
      {"byte offset " + std::to_string(swapped.offset_fields[0]), "'b'", "offset 32 should be 0"});

  // A custom alignment pads each tensor to it: 16 bytes of "a" take 64.
  Builder custom;
  custom.header(3, 2, 1);
  custom.key("general.alignment", VT::UINT32).u32(64);
  custom.tensor("a", {4}, kF32, 0);
  custom.tensor("b", {4}, kF32, 64);
  custom.pad(64);
  for (int i = 0; i < 80; ++i)
    custom.u8(0);
  GgufFile ok(write("custom_alignment_contiguous", custom.b));
  EXPECT_EQ(ok.get("b").file_offset, ok.data_offset() + 64);
  set_u64(custom.b, custom.offset_fields[1], 32);  // aligned to 32, not to 64
  expect_error("custom_alignment_32", custom.b, {"'b'", "alignment 64"});
}

TEST(Gguf, DuplicateTensorName) {
  Builder b;
  b.header(3, 2, 0);
  b.tensor("a", {4}, kF32, 0);
  const std::size_t at = b.size();
  b.tensor("a", {4}, kF32, 32);
  b.pad(32);
  for (int i = 0; i < 64; ++i)
    b.u8(0);
  expect_error("dup_tensor", b.b,
               {"byte offset " + std::to_string(at), "'a'", "duplicate tensor name"});
}

TEST(Gguf, ScalarAndIntegerTensors) {
  Builder b;
  b.header(3, 2, 0);
  b.tensor("s", {}, kF32, 0);  // 0-d tensor: shape {}, one element
  b.tensor("i", {2}, 26, 32);  // I32
  b.pad(32);
  b.f32(3.0f);
  for (int i = 0; i < 28; ++i)
    b.u8(0);
  b.u32(7).u32(8);
  GgufFile f(write("scalar", b.b));
  EXPECT_TRUE(f.get("s").shape.empty());
  EXPECT_EQ(f.read_f32(f.get("s")), std::vector<float>{3.0f});
  EXPECT_EQ(f.get("i").dtype, DType::I32);
  EXPECT_THROW(f.read_f32(f.get("i")), clrp::Error);
}

TEST(Gguf, BF16TensorConverts) {
  Builder b;
  b.header(3, 1, 0);
  b.tensor("b", {2}, kBF16, 0);
  b.pad(32);
  b.u16(0x3f80).u16(0xc040);  // 1.0, -3.0
  GgufFile f(write("bf16", b.b));
  EXPECT_EQ(f.read_f32(f.get("b")), (std::vector<float>{1.0f, -3.0f}));
}

TEST(Dequant, RefusesPartialBlocksAndPlainTypes) {
  std::vector<std::byte> src(64);
  std::vector<float> dst(64);
  EXPECT_THROW(clrp::io::dequantize(DType::Q8_0, src.data(), dst.data(), 31), clrp::Error);
  EXPECT_THROW(clrp::io::dequantize(DType::F32, src.data(), dst.data(), 1), clrp::Error);
  EXPECT_NO_THROW(clrp::io::dequantize(DType::Q8_0, src.data(), dst.data(), 0));
}

TEST(Dequant, Q4_0AndQ5_0Blocks) {
  // Q4_0: d = 2, nibbles j -> x[j] = j % 16 (low), x[j + 16] = 15 - j % 16 (high).
  std::vector<std::uint8_t> q4(18);
  const std::uint16_t d = to_half(2.0f);
  std::memcpy(q4.data(), &d, 2);
  for (int j = 0; j < 16; ++j)
    q4[2 + j] = static_cast<std::uint8_t>(j | ((15 - j) << 4));
  std::vector<float> y(32);
  clrp::io::dequantize(DType::Q4_0, reinterpret_cast<const std::byte*>(q4.data()), y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 2.0f * static_cast<float>(j - 8));
    EXPECT_EQ(y[j + 16], 2.0f * static_cast<float>(7 - j));
  }
  // Q5_0: same nibbles, qh with every odd bit set -> +16 on odd elements.
  std::vector<std::uint8_t> q5(22);
  std::memcpy(q5.data(), &d, 2);
  set_u32(q5, 2, 0xAAAAAAAAu);
  for (int j = 0; j < 16; ++j)
    q5[6 + j] = q4[2 + j];
  clrp::io::dequantize(DType::Q5_0, reinterpret_cast<const std::byte*>(q5.data()), y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 2.0f * static_cast<float>(j + (j % 2) * 16 - 16));
    EXPECT_EQ(y[j + 16], 2.0f * static_cast<float>(15 - j + (j % 2) * 16 - 16));
  }
}

}  // namespace
