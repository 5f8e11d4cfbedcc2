#include "jinja_service.hpp"

#include "clrp/text/jinja_service_script.hpp"  // generated from jinja_service.py
#include "clrp/util/error.hpp"
#include "clrp/util/line_service.hpp"
#include "clrp/util/project_venv.hpp"

namespace clrp::text::detail {

namespace {

constexpr const char* kService = "the Jinja engine of chat templates";
constexpr const char* kHowToGetOne =
    "run scripts/bootstrap.sh (its .venv has Jinja2), or set CLRP_PYTHON to a Python with "
    "jinja2 >= 3.1 (pip install 'jinja2>=3.1')";

nlohmann::json parse_line(const std::string& line) {
  return util::parse_json_reply(line, kService);
}

}  // namespace

std::string find_jinja_python() {
  if (auto python = util::find_python_with("jinja2")) return *python;
  if (auto python = util::find_on_path("python3")) return *python;
  throw Error(std::string("chat templates are rendered by Jinja2, the engine transformers uses, ") +
              "in a Python process, and no Python was found: " + kHowToGetOne);
}

JinjaService& JinjaService::instance() {
  static JinjaService service;
  return service;
}

JinjaService::JinjaService() = default;
JinjaService::~JinjaService() = default;

void JinjaService::start_locked() {
  if (service_ && service_->running()) return;
  if (!service_) {
    python_ = find_jinja_python();
    util::LineServiceOptions o;
    // -I: no user site-packages, no PYTHON* variables; -B: no .pyc files;
    // -X utf8: UTF-8 whatever the node's locale.
    o.argv = {python_, "-I", "-B", "-X", "utf8", "-c", std::string(kJinjaServiceScript)};
    o.timeout_seconds = 60.0;  // a template runs in milliseconds; this bounds one that loops
    o.memory_bytes = std::uint64_t{2} << 30;
    o.name = kService;
    service_ = std::make_unique<util::LineService>(std::move(o));
  }
  try {
    const nlohmann::json hello = parse_line(service_->start());
    if (!hello.value("ready", false))
      throw Error(Where{python_}, std::string(kService) + " could not start: " +
                                      hello.value("error", hello.dump()) + "; " + kHowToGetOne);
    version_ = hello.at("jinja2").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    service_.reset();
    throw Error(Where{python_},
                std::string(kService) + " sent a greeting clrp does not understand: " + e.what());
  } catch (...) {
    service_.reset();
    throw;
  }
}

std::string JinjaService::engine() {
  const std::lock_guard lock(mutex_);
  start_locked();
  return "jinja2 " + version_ + " (" + python_ + ")";
}

JinjaReply JinjaService::render(const nlohmann::json& request) {
  const std::lock_guard lock(mutex_);
  start_locked();
  std::string line;
  try {
    line = request.dump();
  } catch (const nlohmann::json::type_error&) {
    throw Error("a chat message or option is not valid UTF-8; the template cannot be rendered");
  }
  const nlohmann::json reply = parse_line(service_->request(line));
  JinjaReply out;
  try {
    if (const auto text = reply.find("text"); text != reply.end()) {
      out.text = text->get<std::string>();
      return out;
    }
    if (const auto reads = reply.find("reads"); reads != reply.end()) {
      out.reads = reads->get<std::vector<std::string>>();
      return out;
    }
    out.error = reply.at("error").get<std::string>();
    out.kind = reply.at("kind").get<std::string>();
    if (const auto line = reply.find("line"); line != reply.end() && line->is_number_integer())
      out.line = line->get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string(kService) + " sent a reply clrp does not understand (" + e.what() +
                "): " + reply.dump().substr(0, 200));
  }
  return out;
}

}  // namespace clrp::text::detail
