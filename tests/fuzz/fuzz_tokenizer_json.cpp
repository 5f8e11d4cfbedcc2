// libFuzzer target: arbitrary bytes as a tokenizer.json. Every input must either
// load (and then encode and decode a fixed text) or be refused with clrp::Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "clrp/text/tokenizer.hpp"
#include "clrp/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    auto tok = clrp::text::Tokenizer::from_tokenizer_json_text(json, "fuzz/tokenizer.json");
    static constexpr std::string_view kText =
        "Hello world! It's 2024: 12345 caf\xC3\xA9 e\xCC\x81 \xE4\xB8\xAD\xE6\x96\x87 "
        "\xF0\x9F\x98\x80  \n\t <|endoftext|><s>[MASK] x   y\r\n";
    for (bool special : {true, false}) {
      const auto ids = tok->encode(kText, special);
      (void)tok->decode(ids, false);
      (void)tok->decode(ids, true);
      for (auto id : ids)
        (void)tok->token_string(id);
    }
    (void)tok->encode("", true);
  } catch (const clrp::Error&) {
    // refused with a message: fine
  }
  return 0;
}
