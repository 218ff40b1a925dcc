// The code cells of a notebook (see notebook.h). Untrusted JSON: every field's type is checked
// before it is used, so a malformed notebook is a nibble::Error naming the file and the cell,
// never nlohmann's type_error.
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tools/kernel/notebook.h"

namespace nibble::repl {

namespace {
const char* const kOp = "nibble::repl::read_code_cells";
}  // namespace

std::vector<std::string> read_code_cells(const std::string& ipynb_path) {
  std::ifstream in(ipynb_path, std::ios::binary);
  check(static_cast<bool>(in), kOp, "cannot open " + ipynb_path, "give the path of a .ipynb file");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_code_cells(text, ipynb_path);
}

std::vector<std::string> parse_code_cells(const std::string& text, const std::string& source_name) {
  // nlohmann's parser keeps its own stack (no recursion) and its values are destroyed without
  // recursion (3.10+), so deep nesting costs memory, not the stack.
  const nlohmann::json nb = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  check(!nb.is_discarded(), kOp, source_name + " is not JSON", "is it a Jupyter notebook?");
  const auto not_notebook = [&] {
    fail(kOp, source_name + " is not an nbformat-4 notebook", "save it from Jupyter (nbformat 4)");
  };
  if (!nb.is_object()) not_notebook();
  const auto format = nb.find("nbformat");
  const auto cells_it = nb.find("cells");
  if (format == nb.end() || !format->is_number_integer() || format->get<int64_t>() != 4 ||
      cells_it == nb.end() || !cells_it->is_array())
    not_notebook();
  std::vector<std::string> cells;
  int number = 0;
  for (const nlohmann::json& c : *cells_it) {
    ++number;
    const std::string which = source_name + ": cell " + std::to_string(number);
    check(c.is_object(), kOp, which + " is not a JSON object",
          "the notebook is damaged; open it in Jupyter");
    const auto type = c.find("cell_type");
    check(type != c.end() && type->is_string(), kOp, which + " has no \"cell_type\" string",
          "the notebook is damaged; open it in Jupyter");
    if (type->get<std::string>() != "code") continue;
    const auto src = c.find("source");
    check(src != c.end() && (src->is_string() || src->is_array()), kOp,
          which + ": \"source\" must be a string or a list of strings",
          "the notebook is damaged; open it in Jupyter");
    std::string code;
    if (src->is_string()) {
      code = src->get<std::string>();
    } else {
      for (const nlohmann::json& line : *src) {
        check(line.is_string(), kOp, which + ": \"source\" must be a string or a list of strings",
              "the notebook is damaged; open it in Jupyter");
        code += line.get<std::string>();
      }
    }
    cells.push_back(code);
  }
  return cells;
}

}  // namespace nibble::repl
