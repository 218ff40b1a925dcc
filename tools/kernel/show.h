// Included into the session by the kernel (not by users) when a cell ends in an expression without
// a semicolon: `t` or `viz::line(y)` as the last line shows its value as the cell's result
// (Jupyter's execute_result, "Out[n]"), as in xeus-cling. Session::run rewrites the tail E into
//   auto __nibble_result_N = nibble::repl_detail::show([]() -> auto { return E; });
// (a variable, because clang 16 takes a top-level call of a qualified template for a declaration),
// or with `-> decltype(auto)` when E cannot be copied.
// What is shown: anything with a mime_bundle() (Tensor, viz::Chart), a MimeBundle, text, numbers,
// bool and whatever fmt can format; other values and void are evaluated and not shown.
#pragma once

#include <fmt/format.h>

#include <string>
#include <type_traits>
#include <utility>

#include "core/display.h"
#include "core/viz.h"

namespace nibble::repl_detail {

// Defined by the kernel program (tools/kernel/session.cpp): hands the bundle to the running cell's
// result.
void set_result(const MimeBundle& bundle);

template <class T, class = void>
struct has_mime_bundle : std::false_type {};
template <class T>
struct has_mime_bundle<T, std::void_t<decltype(mime_bundle(std::declval<const T&>()))>>
    : std::true_type {};

template <class T>
void show_value(const T& v) {
  using U = std::decay_t<T>;
  if constexpr (std::is_same_v<U, MimeBundle>) {
    set_result(v);
  } else if constexpr (has_mime_bundle<U>::value) {
    set_result(mime_bundle(v));
  } else if constexpr (std::is_same_v<U, bool>) {
    set_result(MimeBundle{{"text/plain", v ? "true" : "false"}});
  } else if constexpr (std::is_same_v<U, std::string> || std::is_same_v<U, const char*> ||
                       std::is_same_v<U, char*>) {
    set_result(MimeBundle{{"text/plain", "\"" + std::string(v) + "\""}});
  } else if constexpr (fmt::is_formattable<U>::value) {
    set_result(MimeBundle{{"text/plain", fmt::format("{}", v)}});
  }
}

template <class F>
int show(F&& expression) {
  if constexpr (std::is_void_v<decltype(expression())>) {
    expression();
  } else {
    decltype(auto) v = expression();
    show_value(v);
  }
  return 0;
}

}  // namespace nibble::repl_detail
