// Reading a notebook's code cells, and running them in the terminal (`nibble milestone run`):
// the same Session as the Jupyter kernel, outputs printed as they come, nibble::display(x) printed
// as its text/plain.
#pragma once

#include <string>
#include <vector>

namespace nibble::repl {

// The code cells of an nbformat-4 notebook, in order (markdown cells skipped). Throws nibble::Error
// naming the file when it is not a notebook, and the cell when one is malformed. (cells.cpp: no
// clang inside, so the tests and the fuzz target tests/fuzz/notebook_fuzz.cpp use it without the
// kernel.)
std::vector<std::string> read_code_cells(const std::string& ipynb_path);
// The same from the file's text; source_name names it in errors.
std::vector<std::string> parse_code_cells(const std::string& text, const std::string& source_name);

struct NotebookRun {
  int cells = 0;         // code cells run
  int failed_cell = -1;  // 1-based number of the first cell that failed, -1 when all ran
};

// Runs every code cell in order, stopping at the first error (as "Run all" does). Cell outputs go
// to stdout/stderr; a line "[cell N]" is printed before each cell when `echo_headers`. An image/png
// display is saved as figures_dir/cell_N_K.png (K counts the figures of cell N) when figures_dir is
// not empty (the folder is made); a chart (Vega-Lite) as cell_N_K.vl.json and, when vega's renderer
// is installed, cell_N_K.png (viz::save_spec). A cell's result (a last line without its semicolon)
// is shown like a display.
NotebookRun run_notebook(const std::string& ipynb_path, bool echo_headers, const std::string& figures_dir = "");

// The bytes of RFC 4648 base64 text (the inverse of nibble::base64). Throws on a character outside
// the alphabet.
std::vector<unsigned char> from_base64(const std::string& text);

}  // namespace nibble::repl
