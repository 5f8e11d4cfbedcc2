// safetensors reader: good files, shards, and one test per kind of corruption.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "clrp/io/safetensors.hpp"
#include "clrp/util/error.hpp"

namespace fs = std::filesystem;
using clrp::io::SafetensorsCheckpoint;
using clrp::io::SafetensorsFile;

namespace {

// A temporary directory removed at the end of each test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("clrp_st_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

std::string with_length_prefix(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// Expects constructing a SafetensorsFile from `bytes` to throw an Error whose
// message contains every fragment.
void expect_error(const std::string& bytes, std::initializer_list<const char*> fragments) {
  TempDir dir;
  const auto p = dir / "bad.safetensors";
  write_file(p, bytes);
  try {
    SafetensorsFile f(p.string());
    FAIL() << "no error for a corrupt file";
  } catch (const clrp::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    for (const char* f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
  }
}

const std::string kGoodHeader =
    R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
    R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}})";

}  // namespace

TEST(Safetensors, ReadsTensorsAndMetadata) {
  TempDir dir;
  std::string data = floats({1, 2, 3, 4});
  data += std::string("\x80\x3f\x00\x40", 4);  // bf16 1.0, 2.0
  write_file(dir / "m.safetensors", with_length_prefix(kGoodHeader, data));
  SafetensorsFile f((dir / "m.safetensors").string());
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const auto& a = f.get("a");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(f.read_f32(a), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(f.read_f32(f.get("b")), (std::vector<float>{1.0f, 2.0f}));
}

TEST(Safetensors, ShardedCheckpointFollowsTheIndex) {
  TempDir dir;
  write_file(
      dir / "s1.safetensors",
      with_length_prefix(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats({5})));
  write_file(
      dir / "s2.safetensors",
      with_length_prefix(R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats({7})));
  write_file(dir / "model.safetensors.index.json",
             R"({"metadata":{},"weight_map":{"x":"s1.safetensors","y":"s2.safetensors"}})");
  SafetensorsCheckpoint ck(dir.path().string());
  EXPECT_EQ(ck.read_f32(ck.get("y")), std::vector<float>{7});
  EXPECT_EQ(ck.files().size(), 2u);

  write_file(dir / "model.safetensors.index.json",
             R"({"weight_map":{"x":"s2.safetensors","y":"s2.safetensors"}})");
  try {
    SafetensorsCheckpoint bad(dir.path().string());
    FAIL();
  } catch (const clrp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight_map.x"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, TooShortForHeaderLength) {
  expect_error("abc", {"byte offset 0", "too short"});
}

TEST(Safetensors, HeaderLengthPastEnd) {
  std::string bytes = with_length_prefix(kGoodHeader, "");
  bytes[0] = '\xff';
  bytes[1] = '\xff';
  expect_error(bytes, {"byte offset 0", "header length", "past the end"});
}

TEST(Safetensors, TruncatedData) {
  expect_error(with_length_prefix(kGoodHeader, floats({1, 2})),
               {"'a.data_offsets'", "past the end"});
}

TEST(Safetensors, InvalidJsonReportsOffset) {
  expect_error(with_length_prefix(R"({"a": {"dtype": )", ""), {"invalid JSON", "byte offset"});
}

TEST(Safetensors, DeepNestingIsRefused) {
  expect_error(with_length_prefix(std::string(5000, '['), ""), {"nested deeper"});
}

TEST(Safetensors, UnknownDtype) {
  expect_error(
      with_length_prefix(R"({"a":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}})", "x"),
      {"'a.dtype'", "unknown"});
}

TEST(Safetensors, ShapeDoesNotMatchSpan) {
  expect_error(with_length_prefix(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                  floats({1, 2})),
               {"'a.data_offsets'", "needs 12"});
}

TEST(Safetensors, NegativeShape) {
  expect_error(
      with_length_prefix(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", floats({1})),
      {"'a.shape'", "non-negative"});
}

TEST(Safetensors, OverlappingTensors) {
  expect_error(with_length_prefix(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                  floats({1, 2, 3})),
               {"overlaps"});
}

// Held to the safetensors library's Metadata::validate: the tensors, sorted by
// offset, tile the data section exactly, and every name is unique.
TEST(Safetensors, DuplicateTensorNameIsRefused) {
  // nlohmann keeps the last 'a'; the first entry's bytes would then belong to no tensor.
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  const std::string second = std::to_string(8 + header.rfind("\"a\""));
  expect_error(with_length_prefix(header, floats({1, 2})),
               {"duplicate key 'a'", "field 'a'", ("byte offset " + second).c_str()});
}

TEST(Safetensors, DuplicateMetadataKeyIsRefused) {
  expect_error(with_length_prefix(R"({"__metadata__":{"k":"1","k":"2"},)"
                                  R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                  floats({1})),
               {"duplicate key 'k'", "field '__metadata__.k'"});
}

TEST(Safetensors, HoleBetweenTensorsIsRefused) {
  expect_error(with_length_prefix(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                  R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                  floats({1, 2, 3})),
               {"'b.data_offsets'", "bytes [4, 8)", "belong to no tensor", "'a' ends at 4"});
}

TEST(Safetensors, HoleAtTheStartIsRefused) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  const std::string at = std::to_string(8 + header.size() + 4);
  expect_error(with_length_prefix(header, floats({1, 2})),
               {"'a.data_offsets'", ("byte offset " + at).c_str(), "bytes [0, 4)"});
}

TEST(Safetensors, TrailingBytesAreRefused) {
  expect_error(with_length_prefix(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                  floats({1, 2})),
               {"'a.data_offsets'", "data section is 8 bytes", "ends at 4"});
  expect_error(with_length_prefix("{}", "xy"), {"names no tensor"});
}

TEST(Safetensors, TilingAcceptsAnyHeaderOrderAndEmptyTensors) {
  TempDir dir;
  // Header order differs from data order; an empty tensor sits at offset 0 and one at the end.
  write_file(dir / "m.safetensors",
             with_length_prefix(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                                R"("z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
                                R"("e":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},)"
                                R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                floats({1, 2})));
  SafetensorsFile f((dir / "m.safetensors").string());
  EXPECT_EQ(f.read_f32(f.get("b")), std::vector<float>{2});
  EXPECT_EQ(f.read_f32(f.get("a")), std::vector<float>{1});
  write_file(dir / "empty.safetensors", with_length_prefix("{}", ""));
  EXPECT_TRUE(SafetensorsFile((dir / "empty.safetensors").string()).tensors().empty());
}

TEST(Safetensors, ShapeProductOverflowIsRefused) {
  expect_error(with_length_prefix(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],)"
                                  R"("data_offsets":[0,4]}})",
                                  floats({1})),
               {"'a.shape'", "overflows"});
}

TEST(Safetensors, BeginAfterEnd) {
  expect_error(with_length_prefix(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})",
                                  floats({1, 2})),
               {"'a.data_offsets'", "begin"});
}

TEST(Safetensors, MissingField) {
  expect_error(with_length_prefix(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", floats({1})),
               {"'a.shape'", "missing"});
}

TEST(Safetensors, PickledWeightsAreRefused) {
  TempDir dir;
  write_file(dir / "pytorch_model.bin", "not really a pickle");
  try {
    SafetensorsCheckpoint ck(dir.path().string());
    FAIL();
  } catch (const clrp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("pickled"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("safetensors"), std::string::npos) << e.what();
  }
}
