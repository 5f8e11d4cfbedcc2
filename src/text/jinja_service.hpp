// The Jinja engine that renders chat templates: Jinja2 itself, in one
// long-lived Python process per clrp process (src/text/jinja_service.py says
// how it is configured to equal transformers' apply_chat_template, and the
// protocol). Private to text/: ChatTemplate is its one user.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace clrp::util {
class LineService;
}  // namespace clrp::util

namespace clrp::text::detail {

/// What the engine answered: the rendered text, or why there is none.
struct JinjaReply {
  std::optional<std::string> text;
  std::optional<std::vector<std::string>> reads;  ///< a "variables" request's answer
  std::string error;                              ///< the template's or the engine's own words
  std::string kind;                               ///< "syntax", "raised", "option", "failed"
  std::optional<int> line;                        ///< the template line at fault, when known
};

class JinjaService {
 public:
  /// The process-wide service (started at its first request; thread-safe).
  static JinjaService& instance();

  /// Renders `request` (the protocol's request object). clrp::Error only when
  /// the engine itself cannot run (no Python with Jinja2 >= 3.1, a crash, a
  /// timeout); a template's own failure is a reply with `error` set.
  JinjaReply render(const nlohmann::json& request);

  /// "jinja2 3.1.6 (/path/to/python)" (starts the process).
  std::string engine();

  ~JinjaService();

 private:
  JinjaService();
  void start_locked();

  std::mutex mutex_;
  std::string python_;
  std::string version_;
  std::unique_ptr<util::LineService> service_;
};

/// The interpreter the service runs on: $CLRP_PYTHON, else the project's
/// .venv with jinja2, else python3 on $PATH. clrp::Error saying how to get one.
std::string find_jinja_python();

}  // namespace clrp::text::detail
