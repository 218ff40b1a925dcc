// Plots for notebooks and reports: line, scatter, bar and heatmap charts built from vectors or
// tensors, written as Vega-Lite v5 specs (https://vega.github.io/vega-lite/). In the nibble kernel
// nibble::display(chart) shows the chart; elsewhere viz::save(chart, "name") writes name.vl.json
// and, when the renderer is installed (the npm packages vega + vega-lite + vega-cli for SVG,
// Debian's rsvg-convert for PNG; `tools/dev kernel` installs them), name.png. The library draws
// nothing itself.
//
//   auto c = nibble::viz::line(steps, train_loss, "train").add(steps, test_loss, "test")
//                .title("Loss").x_label("step").y_label("bits/char");
//   nibble::display(c);                        // Jupyter: the chart (text/plain elsewhere)
//   nibble::viz::save(c, "figures/loss");      // figures/loss.vl.json + figures/loss.png
//   nibble::display(nibble::viz::bar({"gzip", "xz", "zstd"},
//   {2.9, 2.5, 2.6}).y_label("bits/char"));
//   nibble::display(nibble::viz::heatmap(attention.select(0, head)).title("head 0"));
//
// Inputs are checked when the chart is built: empty data, series of different lengths and NaN or
// infinite values throw nibble::Error naming the builder.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/display.h"
#include "core/tensor.h"

namespace nibble::viz {

// The numbers of one axis of a chart: from a braced list,
// std::vector<double|float|int|int64_t|size_t>, or a 1-d Tensor (a 0-d or n-d tensor is refused:
// flatten it first if that is what you mean).
class Values {
 public:
  Values(std::initializer_list<double> v) : v_(v) {}
  Values(const std::vector<double>& v) : v_(v) {}
  Values(const std::vector<float>& v) : v_(v.begin(), v.end()) {}
  Values(const std::vector<int>& v) : v_(v.begin(), v.end()) {}
  Values(const std::vector<int64_t>& v) : v_(v.begin(), v.end()) {}
  Values(const std::vector<size_t>& v) : v_(v.begin(), v.end()) {}
  Values(const Tensor& t);
  const std::vector<double>& data() const { return v_; }
  size_t size() const { return v_.size(); }

 private:
  std::vector<double> v_;
};

enum class Kind { line, scatter, bar, heatmap };

class Chart;
struct Saved;

// y against x (x must be as long as y). Without x, y is plotted against 0, 1, 2, ...
Chart line(const Values& x, const Values& y, const std::string& series = "");
Chart line(const Values& y);
Chart scatter(const Values& x, const Values& y, const std::string& series = "");
// One bar per category, in the order given.
Chart bar(const std::vector<std::string>& categories, const Values& values,
          const std::string& series = "");
// A 2-d map [rows, cols] as coloured cells (viridis, low = dark purple, high = yellow); row 0 at
// the top. Labels are optional (indices otherwise) and must match the sizes when given.
Chart heatmap(const Tensor& map, const std::vector<std::string>& row_labels = {},
              const std::vector<std::string>& col_labels = {});

class Chart {
 public:
  // Another series on the same axes (line, scatter: x and y; bar: one value per category of the
  // first series). Series are told apart by colour and named in the legend.
  Chart& add(const Values& x, const Values& y, const std::string& series);
  Chart& add(const Values& values, const std::string& series);  // bar charts

  Chart& title(const std::string& text);
  Chart& x_label(const std::string& text);
  Chart& y_label(const std::string& text);
  Chart& size(int width,
              int height);       // plotting area in pixels (400 x 250; heatmaps: square cells)
  Chart& log_y(bool on = true);  // a logarithmic y axis (all y must then be > 0)

  Kind kind() const { return kind_; }
  // The Vega-Lite v5 spec as JSON text (indent < 0: one line). Data rows are inline:
  // line/scatter {"x", "y", "series"}, bar {"category", "value", "series"}, heatmap {"row", "col",
  // "value"}.
  std::string spec(int indent = -1) const;
  // One line for text-only front ends: kind, title, series and their sizes, axis labels, ranges.
  std::string describe() const;

 private:
  friend Chart line(const Values&, const Values&, const std::string&);
  friend Chart scatter(const Values&, const Values&, const std::string&);
  friend Chart bar(const std::vector<std::string>&, const Values&, const std::string&);
  friend Chart heatmap(const Tensor&, const std::vector<std::string>&,
                       const std::vector<std::string>&);
  friend Saved save(const Chart&, const std::string&);

  struct Series {
    std::string name;
    std::vector<double> x, y;  // bar: y only (x is the category index)
  };
  Kind kind_ = Kind::line;
  std::vector<Series> series_;
  std::vector<std::string> categories_;               // bar
  std::vector<std::string> row_labels_, col_labels_;  // heatmap
  int64_t rows_ = 0, cols_ = 0;                       // heatmap
  std::vector<double> cells_;                         // heatmap, row-major
  std::string title_, x_label_, y_label_;
  int width_ = 400, height_ = 250;
  bool log_y_ = false;
};

// text/plain (describe()), application/vnd.vegalite.v5+json (spec()) and, when the renderer is
// installed, image/svg+xml for front ends without a Vega-Lite renderer (Jupyter Notebook 6). Drawing
// the SVG runs vl2svg, about a second; if it fails, text/plain says why and the rest is published.
MimeBundle mime_bundle(const Chart& chart);

// What save() wrote. png is "" when no PNG could be made; note then says why.
struct Saved {
  std::string spec_path;  // stem + ".vl.json"
  std::string png_path;   // stem + ".png" or ""
  std::string note;
};
// Writes stem.vl.json and stem.png (folders are made). Without the renderer a heatmap's PNG is
// drawn cell by cell (io::save_heatmap_png, no axes); other charts get only the spec, and note says
// why.
Saved save(const Chart& chart, const std::string& stem);
// The same for a Vega-Lite spec given as JSON text (the notebook runner saves displayed charts so);
// `svg`, when not empty, is the chart already drawn (a bundle's image/svg+xml), so vega is not run
// again.
Saved save_spec(const std::string& spec_json, const std::string& stem, const std::string& svg = "");

// "" when the renderer is installed, else what is missing and how to get it. Found: vl2svg from
// $NIBBLE_VL2SVG, the build tree's vega/node_modules/.bin (tools/dev kernel), or the PATH;
// rsvg-convert on the PATH (Debian librsvg2-bin).
std::string renderer_missing();
// The chart drawn by vega as SVG text. Throws nibble::Error when the renderer is missing or fails.
std::string render_svg(const std::string& spec_json);

}  // namespace nibble::viz

namespace nibble {
// Shows a chart in the notebook (the bundle of viz::mime_bundle); does nothing without a front end.
void display(const viz::Chart& chart);
}  // namespace nibble
