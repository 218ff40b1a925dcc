// nibble::display and the tensor's mime bundle (core/display.h).
#include "core/display.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"

namespace nibble {
namespace {

// Removes any hook a test installed, whatever happens in it.
struct HookGuard {
  ~HookGuard() { set_display_hook({}); }
};

TEST(Display, WithoutAHookDoesNothing) {
  HookGuard guard;
  set_display_hook({});
  EXPECT_FALSE(has_display_hook());
  display(Tensor::ones({2}));  // must not throw or print
  display(std::string("text"));
}

TEST(Display, HandsTheBundleToTheHookAndReturnsThePreviousHook) {
  HookGuard guard;
  std::vector<MimeBundle> seen;
  EXPECT_FALSE(static_cast<bool>(set_display_hook([&](const MimeBundle& b) { seen.push_back(b); })));
  EXPECT_TRUE(has_display_hook());
  display(MimeBundle{{"text/plain", "a"}, {"text/html", "<i>a</i>"}});
  display(std::string("b"));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].at("text/html"), "<i>a</i>");
  EXPECT_EQ(seen[1].size(), 1u);
  EXPECT_EQ(seen[1].at("text/plain"), "b");
  const DisplayHook previous = set_display_hook({});
  ASSERT_TRUE(static_cast<bool>(previous));
  previous(MimeBundle{{"text/plain", "c"}});  // the returned hook is the one installed above
  EXPECT_EQ(seen.size(), 3u);
}

TEST(Display, TensorBundleHasPlainTextAndAnHtmlTableOfTheValues) {
  const Tensor t = Tensor::from_vector({1.5f, -2.0f, 3.25f, 4.0f}, {2, 2});
  const MimeBundle b = mime_bundle(t);
  EXPECT_EQ(b.at("text/plain"), to_string(t));
  const std::string& html = b.at("text/html");
  EXPECT_NE(html.find("shape=[2, 2]"), std::string::npos) << html;
  // min -2, max 4, mean (1.5 - 2 + 3.25 + 4) / 4 = 1.6875
  EXPECT_NE(html.find("min=-2 max=4 mean=1.688"), std::string::npos) << html;
  EXPECT_NE(html.find("<tr><td>1.5</td><td>-2</td></tr><tr><td>3.25</td><td>4</td></tr>"), std::string::npos) << html;
}

TEST(Display, LargeTensorShowsTheCornersOnly) {
  const Tensor t = Tensor::arange(100).reshape({10, 10});
  const std::string html = mime_bundle(t).at("text/html");
  // rows 0-3, a gap, rows 6-9; each with columns 0-3, a gap, 6-9: 9 x 9 cells.
  size_t cells = 0;
  for (size_t at = html.find("<td>"); at != std::string::npos; at = html.find("<td>", at + 1)) ++cells;
  EXPECT_EQ(cells, 81u);
  EXPECT_NE(html.find("<td>99</td>"), std::string::npos);
  EXPECT_EQ(html.find("<td>45</td>"), std::string::npos);  // row 4 is in the gap
  EXPECT_NE(html.find("&hellip;"), std::string::npos);
}

TEST(Display, UndefinedTensorIsAnError) {
  EXPECT_THROW(mime_bundle(Tensor()), Error);
}

}  // namespace
}  // namespace nibble
