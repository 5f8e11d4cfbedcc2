// A read-only memory mapping of a whole file (RAII).
//
// Model weights are mapped, never read into private memory: a 7B checkpoint
// costs page cache, not heap, and several ranks on one node share it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "clrp/io/read_file.hpp"  // read_text_file, once declared here

namespace clrp::io {

class MappedFile {
 public:
  /// Maps `path`; throws clrp::Error naming the file when it cannot be opened.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, static_cast<std::size_t>(size_)}; }
  const std::byte* data() const { return data_; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace clrp::io
