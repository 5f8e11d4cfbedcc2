// The subcommands of `clrp`. Each lives in its own src/app/cmd_<name>.cpp and
// registers itself on the top-level CLI11 app; main() only wires them up and
// turns clrp::Error into a message and a non-zero exit status.
#pragma once

namespace CLI {
class App;
}

namespace clrp::app {

void register_tokenize(CLI::App& app);
void register_predict(CLI::App& app);
void register_model_info(CLI::App& app);
void register_bench(CLI::App& app);
void register_env(CLI::App& app);
void register_explain(CLI::App& app);
void register_evaluate(CLI::App& app);
void register_run(CLI::App& app);
void register_inspect(CLI::App& app);
void register_graph(CLI::App& app);
void register_merge(CLI::App& app);

}  // namespace clrp::app
