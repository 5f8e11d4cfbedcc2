// clrp: contrastive LRP for LLM failures. See README.md and `clrp --help`.
#include <CLI/CLI.hpp>
#include <iostream>

#include "clrp/app/commands.hpp"
#include "clrp/util/error.hpp"
#include "clrp/util/threads.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "clrp: explains why language models fail on benchmarks, with contrastive LRP.\n"
      "Run 'clrp <command> --help' for the options of each command."};
  app.set_version_flag("--version", std::string("clrp ") + CLRP_VERSION);
  app.require_subcommand(1);
  int threads = 0;
  // Bounded: thread pools of that size are created eagerly (100,000 would hang).
  app.add_option("--threads", threads, "Compute threads, at most 1024 (default: one per core)")
      ->check(CLI::Range(0, 1024));
  app.parse_complete_callback([&threads] { clrp::util::set_compute_threads(threads); });
  clrp::app::register_tokenize(app);
  clrp::app::register_predict(app);
  clrp::app::register_model_info(app);
  clrp::app::register_bench(app);
  clrp::app::register_env(app);
  clrp::app::register_explain(app);
  clrp::app::register_graph(app);
  clrp::app::register_evaluate(app);
  clrp::app::register_run(app);
  clrp::app::register_inspect(app);
  clrp::app::register_merge(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const clrp::Error& e) {
    std::cerr << "clrp: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "clrp: internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
