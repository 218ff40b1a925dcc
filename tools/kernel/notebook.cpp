// Notebook cells from .ipynb files and the terminal runner (see notebook.h).
#include "tools/kernel/notebook.h"

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/display.h"
#include "core/error.h"
#include "tools/kernel/session.h"

namespace nibble::repl {

std::vector<std::string> read_code_cells(const std::string& ipynb_path) {
  std::ifstream in(ipynb_path);
  check(static_cast<bool>(in), "nibble::repl::read_code_cells", "cannot open " + ipynb_path,
        "give the path of a .ipynb file");
  nlohmann::json nb;
  try {
    nb = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    fail("nibble::repl::read_code_cells", ipynb_path + " is not JSON: " + e.what(), "is it a Jupyter notebook?");
  }
  check(nb.value("nbformat", 0) == 4 && nb.contains("cells") && nb["cells"].is_array(),
        "nibble::repl::read_code_cells", ipynb_path + " is not an nbformat-4 notebook",
        "save it from Jupyter (nbformat 4)");
  std::vector<std::string> cells;
  for (const nlohmann::json& c : nb["cells"]) {
    if (c.value("cell_type", "") != "code") continue;
    const nlohmann::json& src = c["source"];
    std::string code;
    if (src.is_string()) {
      code = src.get<std::string>();
    } else {
      for (const nlohmann::json& line : src) code += line.get<std::string>();
    }
    cells.push_back(code);
  }
  return cells;
}

NotebookRun run_notebook(const std::string& ipynb_path, bool echo_headers) {
  const std::vector<std::string> cells = read_code_cells(ipynb_path);
  Session session;
  const DisplayHook previous = set_display_hook([](const MimeBundle& b) {
    auto it = b.find("text/plain");
    std::printf("%s\n", it != b.end() ? it->second.c_str() : "[rich output without text/plain]");
    std::fflush(stdout);
  });
  NotebookRun run;
  for (const std::string& code : cells) {
    ++run.cells;
    if (echo_headers) {
      std::printf("[cell %d]\n", run.cells);
      std::fflush(stdout);
    }
    const CellResult r = session.run(code);
    std::fflush(stdout);
    if (!r.diagnostics.empty()) std::fprintf(stderr, "%s", r.diagnostics.c_str());
    if (!r.ok) {
      std::fprintf(stderr, "cell %d failed: %s\n%s\n", run.cells, r.error_name.c_str(), r.error_value.c_str());
      run.failed_cell = run.cells;
      break;
    }
  }
  set_display_hook(previous);
  return run;
}

}  // namespace nibble::repl
