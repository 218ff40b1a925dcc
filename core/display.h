// Rich output for notebooks. nibble::display(x) hands a mime bundle ("text/plain" -> ...,
// "text/html" -> ...) to the display hook that a front end registered: the nibble Jupyter kernel
// publishes it as display_data, the terminal notebook runner prints its text/plain. Without a hook
// display() does nothing, so notebook code also runs unchanged in a plain program.
//
//   nibble::display(nibble::Tensor::randn({3, 4}));   // a table in Jupyter: shape, summary, values
//   nibble::display_heatmap(attention.select(0, head), 16);   // image/png, viridis, 16 px per cell
//   nibble::display(nibble::MimeBundle{{"text/plain", "hi"}, {"text/html", "<b>hi</b>"}});
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nibble {

using MimeBundle = std::map<std::string, std::string>;  // mime type -> data
using DisplayHook = std::function<void(const MimeBundle&)>;

// Installs the hook (an empty function removes it) and returns the one it replaces. Front ends only.
DisplayHook set_display_hook(DisplayHook hook);
bool has_display_hook();

void display(const MimeBundle& bundle);
void display(const Tensor& t);
void display(const std::string& text);  // text/plain only

// text/plain (as printed by fmt) and text/html (shape, summary statistics, a table of the values
// for up to 2-d, the first and last rows and columns when large) of a tensor.
MimeBundle mime_bundle(const Tensor& t);

// A 2-d map as image/png (base64, as Jupyter wants it): the viridis heatmap of io::save_heatmap_png,
// each cell drawn `upscale` pixels square; text/plain says the shape and the value range.
void display_heatmap(const Tensor& map, int64_t upscale = 8);
MimeBundle heatmap_bundle(const Tensor& map, int64_t upscale = 8);

std::string base64(const std::vector<unsigned char>& bytes);  // RFC 4648, with '=' padding

}  // namespace nibble
