// Vega-Lite specs from vectors and tensors, and rendering them through vega's own tools (see
// core/viz.h).
#include "core/viz.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/io/image.h"

#ifndef NIBBLE_VEGA_DIR
#define NIBBLE_VEGA_DIR ""
#endif

namespace nibble::viz {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::line:
      return "line";
    case Kind::scatter:
      return "scatter";
    case Kind::bar:
      return "bar";
    case Kind::heatmap:
      return "heatmap";
  }
  return "chart";
}

void check_values(const std::vector<double>& v, const std::string& op, const std::string& what) {
  NIBBLE_CHECK(!v.empty(), op, what + " is empty", "a chart needs at least one value");
  for (size_t i = 0; i < v.size(); ++i)
    NIBBLE_CHECK(
        std::isfinite(v[i]), op, fmt::format("{}[{}] is {}", what, i, v[i]),
        "NaN or infinite values cannot be plotted: check the computation, or drop those points");
}

std::vector<double> iota(size_t n) {
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<double>(i);
  return x;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The first executable `name` in the PATH, or "".
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string vl2svg_program() {
  if (const char* e = std::getenv("NIBBLE_VL2SVG"); e != nullptr && *e != '\0') return e;
  const std::string local = std::string(NIBBLE_VEGA_DIR) + "/node_modules/.bin/vl2svg";
  if (std::string(NIBBLE_VEGA_DIR).size() > 0 && access(local.c_str(), X_OK) == 0) return local;
  return on_path("vl2svg");
}

// Runs a shell command; returns its exit status and what it printed (stdout and stderr).
int run_command(const std::string& command, std::string* output) {
  std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output->append(buf, n);
  return pclose(pipe);
}

std::string temp_path(const std::string& suffix) {
  static std::atomic<int> counter{0};
  return (fs::temp_directory_path() /
          fmt::format("nibble-viz-{}-{}{}", getpid(), counter++, suffix))
      .string();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  NIBBLE_CHECK(static_cast<bool>(out), "nibble::viz::save", "cannot write " + path,
               "is the folder writable? (the disk full?)");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void make_parent(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  std::error_code err;
  if (!parent.empty()) fs::create_directories(parent, err);
  NIBBLE_CHECK(!err, "nibble::viz::save",
               "cannot make the folder " + parent.string() + ": " + err.message(),
               "is a file in the way, or the parent folder not writable?");
}

// "min..max" of all values, for describe().
std::string range(const std::vector<double>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return fmt::format("{:.4g}..{:.4g}", *lo, *hi);
}

}  // namespace

Values::Values(const Tensor& t) {
  NIBBLE_CHECK(t.defined() && t.dim() == 1, "nibble::viz::Values",
               t.defined() ? "a tensor of shape " + t.shape_str() + " is not 1-d"
                           : "the tensor is undefined",
               "pass a 1-d tensor (t.reshape({-1}) flattens one)");
  const std::vector<float> f = t.to_vector();
  v_.assign(f.begin(), f.end());
}

// ---- builders
// ------------------------------------------------------------------------------------

Chart line(const Values& x, const Values& y, const std::string& series) {
  Chart c;
  c.kind_ = Kind::line;
  c.add(x, y, series);
  return c;
}

Chart line(const Values& y) { return line(Values(iota(y.size())), y); }

Chart scatter(const Values& x, const Values& y, const std::string& series) {
  Chart c;
  c.kind_ = Kind::scatter;
  c.add(x, y, series);
  return c;
}

Chart bar(const std::vector<std::string>& categories, const Values& values,
          const std::string& series) {
  NIBBLE_CHECK(!categories.empty(), "nibble::viz::bar", "no categories", "one name per bar");
  NIBBLE_CHECK(categories.size() == values.size(), "nibble::viz::bar",
               fmt::format("{} categories but {} values", categories.size(), values.size()),
               "give one value per category");
  Chart c;
  c.kind_ = Kind::bar;
  c.categories_ = categories;
  c.add(values, series);
  return c;
}

Chart heatmap(const Tensor& map, const std::vector<std::string>& row_labels,
              const std::vector<std::string>& col_labels) {
  const std::string op = "nibble::viz::heatmap";
  NIBBLE_CHECK(map.defined() && map.dim() == 2, op,
               map.defined() ? "the map has shape " + map.shape_str() + ", not [rows, cols]"
                             : "the map is undefined",
               "pass a 2-d tensor (t.select(0, i) takes one slice of a 3-d one)");
  NIBBLE_CHECK(row_labels.empty() || static_cast<int64_t>(row_labels.size()) == map.size(0), op,
               fmt::format("{} row labels for {} rows", row_labels.size(), map.size(0)),
               "one label per row, or none");
  NIBBLE_CHECK(col_labels.empty() || static_cast<int64_t>(col_labels.size()) == map.size(1), op,
               fmt::format("{} column labels for {} columns", col_labels.size(), map.size(1)),
               "one label per column, or none");
  Chart c;
  c.kind_ = Kind::heatmap;
  c.rows_ = map.size(0);
  c.cols_ = map.size(1);
  const std::vector<float> v = map.to_vector();
  c.cells_.assign(v.begin(), v.end());
  check_values(c.cells_, op, "the map " + map.shape_str());
  c.row_labels_ = row_labels;
  c.col_labels_ = col_labels;
  c.x_label_ = "column";
  c.y_label_ = "row";
  // Square cells, the whole map within about 400 x 300 pixels (at least 2 pixels a cell).
  const int64_t cell =
      std::max<int64_t>(2, std::min(400 / c.cols_, 300 / std::max<int64_t>(1, c.rows_)));
  c.width_ = static_cast<int>(cell * c.cols_);
  c.height_ = static_cast<int>(cell * c.rows_);
  return c;
}

Chart& Chart::add(const Values& x, const Values& y, const std::string& series) {
  const std::string op = fmt::format("nibble::viz::{}", kind_name(kind_));
  NIBBLE_CHECK(kind_ == Kind::line || kind_ == Kind::scatter, op,
               "add(x, y, series) is for line and scatter charts",
               "a bar chart takes add(values, series)");
  NIBBLE_CHECK(x.size() == y.size(), op,
               fmt::format("x has {} values but y has {}", x.size(), y.size()), "give one x per y");
  check_values(x.data(), op, "x");
  check_values(y.data(), op, "y");
  if (log_y_)
    for (double v : y.data())
      NIBBLE_CHECK(v > 0, op, fmt::format("y = {} on a log axis", v),
                   "a logarithmic axis needs y > 0");
  series_.push_back(Series{series, x.data(), y.data()});
  return *this;
}

Chart& Chart::add(const Values& values, const std::string& series) {
  NIBBLE_CHECK(kind_ == Kind::bar, fmt::format("nibble::viz::{}", kind_name(kind_)),
               "add(values, series) is for bar charts",
               "line and scatter charts take add(x, y, series)");
  NIBBLE_CHECK(values.size() == categories_.size(), "nibble::viz::bar",
               fmt::format("{} values for {} categories", values.size(), categories_.size()),
               "give one value per category");
  check_values(values.data(), "nibble::viz::bar", "values");
  if (log_y_)
    for (double v : values.data())
      NIBBLE_CHECK(v > 0, "nibble::viz::bar", fmt::format("value {} on a log axis", v),
                   "a logarithmic axis needs > 0");
  series_.push_back(Series{series, {}, values.data()});
  return *this;
}

Chart& Chart::title(const std::string& text) {
  title_ = text;
  return *this;
}

Chart& Chart::x_label(const std::string& text) {
  x_label_ = text;
  return *this;
}

Chart& Chart::y_label(const std::string& text) {
  y_label_ = text;
  return *this;
}

Chart& Chart::size(int width, int height) {
  NIBBLE_CHECK(width > 0 && height > 0, "nibble::viz::Chart::size",
               fmt::format("{} x {} pixels", width, height), "width and height must be positive");
  width_ = width;
  height_ = height;
  return *this;
}

Chart& Chart::log_y(bool on) {
  NIBBLE_CHECK(kind_ != Kind::heatmap, "nibble::viz::heatmap", "log_y on a heatmap",
               "take the log of the map instead");
  if (on)
    for (const Series& s : series_)
      for (double v : s.y)
        NIBBLE_CHECK(v > 0, "nibble::viz::Chart::log_y",
                     fmt::format("series \"{}\" has y = {}", s.name, v),
                     "a logarithmic axis needs all y > 0");
  log_y_ = on;
  return *this;
}

// ---- the Vega-Lite spec
// ----------------------------------------------------------------------------

std::string Chart::spec(int indent) const {
  json s;
  s["$schema"] = "https://vega.github.io/schema/vega-lite/v5.json";
  if (!title_.empty()) s["title"] = title_;
  s["width"] = width_;
  s["height"] = height_;
  json rows = json::array();
  // A legend only when there is something to tell apart or a name was given.
  const bool named = series_.size() > 1 || (series_.size() == 1 && !series_[0].name.empty());
  json color = {{"field", "series"}, {"type", "nominal"}, {"title", nullptr}, {"sort", nullptr}};
  json y_scale = log_y_ ? json{{"type", "log"}} : json{{"zero", kind_ == Kind::bar}};

  if (kind_ == Kind::line || kind_ == Kind::scatter) {
    for (const Series& ser : series_)
      for (size_t i = 0; i < ser.y.size(); ++i)
        rows.push_back({{"x", ser.x[i]}, {"y", ser.y[i]}, {"series", ser.name}});
    s["mark"] = kind_ == Kind::line
                    ? json{{"type", "line"}, {"point", series_.front().y.size() <= 30}}
                    : json{{"type", "point"}, {"filled", true}};
    s["encoding"]["x"] = {{"field", "x"},
                          {"type", "quantitative"},
                          {"title", x_label_.empty() ? "x" : x_label_},
                          {"scale", {{"zero", false}}}};
    s["encoding"]["y"] = {{"field", "y"},
                          {"type", "quantitative"},
                          {"title", y_label_.empty() ? "y" : y_label_},
                          {"scale", y_scale}};
    if (named) s["encoding"]["color"] = color;
  } else if (kind_ == Kind::bar) {
    for (const Series& ser : series_)
      for (size_t i = 0; i < ser.y.size(); ++i)
        rows.push_back({{"category", categories_[i]}, {"value", ser.y[i]}, {"series", ser.name}});
    s["mark"] = {{"type", "bar"}};
    json sort = categories_;  // bars in the order given, not alphabetical
    s["encoding"]["x"] = {{"field", "category"},
                          {"type", "nominal"},
                          {"sort", sort},
                          {"title", x_label_.empty() ? nullptr : json(x_label_)},
                          {"axis", {{"labelAngle", 0}}}};
    s["encoding"]["y"] = {{"field", "value"},
                          {"type", "quantitative"},
                          {"title", y_label_.empty() ? "value" : y_label_},
                          {"scale", y_scale}};
    if (named) {
      s["encoding"]["color"] = color;
      if (series_.size() > 1) s["encoding"]["xOffset"] = {{"field", "series"}, {"sort", nullptr}};
    }
  } else {
    auto row_name = [&](int64_t r) {
      return row_labels_.empty() ? json(r) : json(row_labels_[static_cast<size_t>(r)]);
    };
    auto col_name = [&](int64_t c) {
      return col_labels_.empty() ? json(c) : json(col_labels_[static_cast<size_t>(c)]);
    };
    json row_order = json::array(), col_order = json::array();
    for (int64_t r = 0; r < rows_; ++r) row_order.push_back(row_name(r));
    for (int64_t c = 0; c < cols_; ++c) col_order.push_back(col_name(c));
    for (int64_t r = 0; r < rows_; ++r)
      for (int64_t c = 0; c < cols_; ++c)
        rows.push_back({{"row", row_name(r)},
                        {"col", col_name(c)},
                        {"value", cells_[static_cast<size_t>(r * cols_ + c)]}});
    s["mark"] = {{"type", "rect"}};
    // Large maps: no per-cell axis labels beyond what fits (vega thins them itself).
    s["encoding"]["x"] = {{"field", "col"},
                          {"type", "ordinal"},
                          {"sort", col_order},
                          {"title", x_label_},
                          {"axis", {{"labelAngle", 0}}}};
    s["encoding"]["y"] = {
        {"field", "row"}, {"type", "ordinal"}, {"sort", row_order}, {"title", y_label_}};
    s["encoding"]["color"] = {{"field", "value"},
                              {"type", "quantitative"},
                              {"scale", {{"scheme", "viridis"}}},
                              {"title", "value"}};
    s["config"]["axis"]["labelOverlap"] = true;
    s["config"]["view"]["strokeWidth"] = 0;
  }
  s["data"]["values"] = std::move(rows);
  return s.dump(indent);
}

std::string Chart::describe() const {
  std::string out = fmt::format("{} chart", kind_name(kind_));
  if (!title_.empty()) out += " \"" + title_ + "\"";
  if (kind_ == Kind::heatmap) {
    return out +
           fmt::format(": [{}, {}] cells, values {} (viridis: dark purple = low, yellow = high)",
                       rows_, cols_, range(cells_));
  }
  out += ":";
  for (size_t i = 0; i < series_.size(); ++i) {
    const Series& ser = series_[i];
    out += i ? "; " : " ";
    if (!ser.name.empty()) out += ser.name + " ";
    out += kind_ == Kind::bar ? fmt::format("{} bars, values {}", ser.y.size(), range(ser.y))
                              : fmt::format("{} points, y {}", ser.y.size(), range(ser.y));
  }
  if (!x_label_.empty()) out += "; x: " + x_label_;
  if (!y_label_.empty()) out += "; y: " + y_label_;
  return out;
}

// ---- rendering
// -----------------------------------------------------------------------------------

std::string renderer_missing() {
  std::string missing;
  const std::string program = vl2svg_program();
  if (program.empty())
    missing =
        "vl2svg (npm packages vega, vega-lite, vega-cli: `tools/dev kernel` installs them in "
        "build/vega)";
  else if (access(program.c_str(), X_OK) != 0)
    missing = program + " (from NIBBLE_VL2SVG: not an executable file)";
  if (on_path("rsvg-convert").empty())
    missing +=
        std::string(missing.empty() ? "" : " and ") + "rsvg-convert (Debian package librsvg2-bin)";
  return missing.empty() ? "" : "not found: " + missing;
}

std::string render_svg(const std::string& spec_json) {
  const std::string program = vl2svg_program();
  NIBBLE_CHECK(
      !program.empty(), "nibble::viz::render_svg", "vl2svg is not installed",
      "run `tools/dev kernel` (npm packages vega, vega-lite, vega-cli) or set NIBBLE_VL2SVG");
  const std::string in = temp_path(".vl.json"), out = temp_path(".svg");
  write_file(in, spec_json);
  std::string log;
  const int status =
      run_command(shell_quote(program) + " " + shell_quote(in) + " " + shell_quote(out), &log);
  std::string svg = status == 0 ? read_file(out) : "";
  std::remove(in.c_str());
  std::remove(out.c_str());
  NIBBLE_CHECK(status == 0 && svg.find("<svg") != std::string::npos, "nibble::viz::render_svg",
               fmt::format("{} failed (exit status {}): {}", program, status, log),
               "is the spec valid Vega-Lite? (paste it into https://vega.github.io/editor)");
  return svg;
}

MimeBundle mime_bundle(const Chart& chart) {
  MimeBundle b{{"text/plain", chart.describe()},
               {"application/vnd.vegalite.v5+json", chart.spec()}};
  if (!renderer_missing().empty()) return b;
  try {
    b["image/svg+xml"] = render_svg(b["application/vnd.vegalite.v5+json"]);
  } catch (const Error& e) {
    // Front ends with a Vega-Lite renderer still draw the spec; the others show why there is no SVG.
    b["text/plain"] += std::string("\n(no SVG fallback: ") + e.what() + ")";
  }
  return b;
}

Saved save_spec(const std::string& spec_json, const std::string& stem, const std::string& svg) {
  NIBBLE_CHECK(!stem.empty(), "nibble::viz::save", "the file name is empty",
               "save(chart, \"figures/loss\")");
  Saved saved;
  saved.spec_path = stem + ".vl.json";
  make_parent(saved.spec_path);
  write_file(saved.spec_path, spec_json);
  saved.note = renderer_missing();
  if (!saved.note.empty()) return saved;
  const std::string svg_path = temp_path(".svg");
  write_file(svg_path, svg.empty() ? render_svg(spec_json) : svg);
  std::string log;
  const std::string png = stem + ".png";
  const int status =
      run_command("rsvg-convert -o " + shell_quote(png) + " " + shell_quote(svg_path), &log);
  std::remove(svg_path.c_str());
  NIBBLE_CHECK(status == 0, "nibble::viz::save",
               fmt::format("rsvg-convert failed (exit status {}): {}", status, log),
               "is " + png + " writable?");
  saved.png_path = png;
  return saved;
}

Saved save(const Chart& chart, const std::string& stem) {
  Saved saved = save_spec(chart.spec(2), stem);
  if (saved.png_path.empty() && chart.kind_ == Kind::heatmap) {
    // No renderer: the cells pixel by pixel (no axes), which still shows the map.
    std::vector<float> v(chart.cells_.begin(), chart.cells_.end());
    const int64_t upscale = std::max<int64_t>(1, 256 / std::max(chart.rows_, chart.cols_));
    io::save_heatmap_png(stem + ".png", Tensor::from_vector(v, {chart.rows_, chart.cols_}),
                         upscale);
    saved.png_path = stem + ".png";
    saved.note += " (the PNG is the heatmap's cells without axes)";
  }
  return saved;
}

}  // namespace nibble::viz

namespace nibble {
void display(const viz::Chart& chart) {
  if (has_display_hook())
    display(viz::mime_bundle(chart));  // no rendering when nobody is listening
}
}  // namespace nibble
