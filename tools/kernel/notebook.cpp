// Notebook cells from .ipynb files and the terminal runner (see notebook.h).
#include "tools/kernel/notebook.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/display.h"
#include "core/error.h"
#include "core/viz.h"
#include "tools/kernel/session.h"

namespace nibble::repl {

std::vector<unsigned char> from_base64(const std::string& text) {
  std::vector<unsigned char> out;
  uint32_t bits = 0;
  int have = 0;
  for (char c : text) {
    if (c == '=' || c == '\n') continue;
    const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char* at = std::strchr(digits, c);
    check(at != nullptr && c != '\0', "nibble::repl::from_base64", std::string("not a base64 character: '") + c + "'",
          "image/png data must be base64");
    bits = (bits << 6) | static_cast<uint32_t>(at - digits);
    have += 6;
    if (have >= 8) {
      have -= 8;
      out.push_back(static_cast<unsigned char>((bits >> have) & 0xff));
    }
  }
  return out;
}

NotebookRun run_notebook(const std::string& ipynb_path, bool echo_headers, const std::string& figures_dir) {
  const std::vector<std::string> cells = read_code_cells(ipynb_path);
  Session session;
  NotebookRun run;
  int figures_in_cell = 0;
  const DisplayHook show = [&](const MimeBundle& b) {
    auto png = b.find("image/png");
    if (png != b.end() && !figures_dir.empty()) {
      std::filesystem::create_directories(figures_dir);
      const std::string path =
          figures_dir + "/cell_" + std::to_string(run.cells) + "_" + std::to_string(++figures_in_cell) + ".png";
      const std::vector<unsigned char> bytes = from_base64(png->second);
      std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                  static_cast<std::streamsize>(bytes.size()));
      std::printf("[figure saved: %s]\n", path.c_str());
    }
    auto chart = b.find("application/vnd.vegalite.v5+json");
    if (chart != b.end() && !figures_dir.empty()) {
      // A chart: its spec and, when vega's renderer is installed, a PNG (core/viz.h).
      const auto svg = b.find("image/svg+xml");
      const viz::Saved saved = viz::save_spec(
          chart->second, figures_dir + "/cell_" + std::to_string(run.cells) + "_" + std::to_string(++figures_in_cell),
          svg != b.end() ? svg->second : "");
      std::printf("[figure saved: %s%s]\n", saved.png_path.empty() ? saved.spec_path.c_str() : saved.png_path.c_str(),
                  saved.note.empty() ? "" : ("; no PNG, renderer " + saved.note).c_str());
    }
    auto it = b.find("text/plain");
    std::printf("%s\n", it != b.end() ? it->second.c_str() : "[rich output without text/plain]");
    std::fflush(stdout);
  };
  const DisplayHook previous = set_display_hook(show);
  for (const std::string& code : cells) {
    ++run.cells;
    figures_in_cell = 0;
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
    if (!r.result.empty()) show(r.result);  // a trailing expression's value, shown like a display
  }
  set_display_hook(previous);
  return run;
}

}  // namespace nibble::repl
