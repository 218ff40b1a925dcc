// The display hook and the tensor's HTML form (see core/display.h).
#include "core/display.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/io/image.h"

namespace nibble {

namespace {

DisplayHook& hook() {
  static DisplayHook h;
  return h;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      default: out += c;
    }
  }
  return out;
}

// Indices shown along an axis of length n: all when small, else the first and last `edge` with -1
// standing for the gap.
std::vector<int64_t> shown(int64_t n, int64_t edge) {
  std::vector<int64_t> idx;
  if (n <= 2 * edge + 1) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    return idx;
  }
  for (int64_t i = 0; i < edge; ++i) idx.push_back(i);
  idx.push_back(-1);
  for (int64_t i = n - edge; i < n; ++i) idx.push_back(i);
  return idx;
}

}  // namespace

DisplayHook set_display_hook(DisplayHook h) { return std::exchange(hook(), std::move(h)); }

bool has_display_hook() { return static_cast<bool>(hook()); }

void display(const MimeBundle& bundle) {
  if (hook()) hook()(bundle);
}

void display(const Tensor& t) { display(mime_bundle(t)); }

void display(const std::string& text) { display(MimeBundle{{"text/plain", text}}); }

MimeBundle mime_bundle(const Tensor& t) {
  NIBBLE_CHECK(t.defined(), "nibble::mime_bundle", "the tensor is undefined (default-constructed)",
               "display a tensor made by a factory or an op");
  const std::vector<float> v = t.to_vector();
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0.0;
  for (float x : v) {
    lo = std::min(lo, static_cast<double>(x));
    hi = std::max(hi, static_cast<double>(x));
    sum += x;
  }
  std::string html = "<div class=\"nibble-tensor\"><p><b>Tensor</b> shape=" + html_escape(t.shape_str()) +
                     " dtype=float32";
  if (t.requires_grad()) html += " requires_grad";
  if (!v.empty())
    html += fmt::format(" &middot; min={:.4g} max={:.4g} mean={:.4g}", lo, hi, sum / static_cast<double>(v.size()));
  html += "</p>";
  if (t.dim() <= 2 && !v.empty()) {
    // A 0-d or 1-d tensor is one row; a 2-d tensor is rows x columns.
    const int64_t rows = t.dim() == 2 ? t.size(0) : 1;
    const int64_t cols = t.dim() == 0 ? 1 : t.size(-1);
    html += "<table>";
    for (int64_t r : shown(rows, 4)) {
      html += "<tr>";
      for (int64_t c : shown(cols, 4)) {
        if (r < 0 || c < 0)
          html += "<td>&hellip;</td>";
        else
          html += fmt::format("<td>{:.4g}</td>", v[static_cast<size_t>(r * cols + c)]);
      }
      html += "</tr>";
    }
    html += "</table>";
  }
  html += "</div>";
  return MimeBundle{{"text/plain", to_string(t)}, {"text/html", html}};
}

std::string base64(const std::vector<unsigned char>& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    // Three bytes -> 24 bits -> four 6-bit digits; a short last group is padded with '='.
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = static_cast<uint32_t>(bytes[i]) << 16;
    if (n > 1) v |= static_cast<uint32_t>(bytes[i + 1]) << 8;
    if (n > 2) v |= bytes[i + 2];
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += n > 1 ? digits[(v >> 6) & 63] : '=';
    out += n > 2 ? digits[v & 63] : '=';
  }
  return out;
}

MimeBundle heatmap_bundle(const Tensor& map, int64_t upscale) {
  const std::string png = base64(io::heatmap_png(map, upscale));  // checks the shape and values
  const std::vector<float> v = map.to_vector();
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return MimeBundle{{"image/png", png},
                    {"text/plain", fmt::format("heatmap {} from {:.4g} (dark purple) to {:.4g} (yellow)",
                                               map.shape_str(), *lo, *hi)}};
}

void display_heatmap(const Tensor& map, int64_t upscale) { display(heatmap_bundle(map, upscale)); }

}  // namespace nibble
