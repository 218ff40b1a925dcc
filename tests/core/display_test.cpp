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

TEST(Display, Base64MatchesRfc4648Vectors) {
  // RFC 4648 section 10 test vectors.
  auto b64 = [](const std::string& s) { return base64(std::vector<unsigned char>(s.begin(), s.end())); };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foob"), "Zm9vYg==");
  EXPECT_EQ(b64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64({0xff, 0xfe}), "//4=");
}

TEST(Display, HeatmapIsABase64PngOfTheUpscaledSize) {
  const Tensor map = Tensor::from_vector({0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f}, {2, 3});
  const MimeBundle b = heatmap_bundle(map, 4);
  const std::string& png = b.at("image/png");
  // The PNG signature 89 50 4E 47 0D 0A 1A 0A in base64 starts with "iVBORw0KGgo".
  EXPECT_EQ(png.rfind("iVBORw0KGgo", 0), 0u);
  // The IHDR chunk follows: width 12 = 3 * 4 and height 8 = 2 * 4 as big-endian 32-bit numbers at
  // bytes 16..23; bytes 12..23 ("IHDR" + width + height) are base64 characters 16..31.
  const std::vector<unsigned char> ihdr = {'I', 'H', 'D', 'R', 0, 0, 0, 12, 0, 0, 0, 8};
  EXPECT_EQ(png.substr(16, 16), base64(ihdr));
  EXPECT_NE(b.at("text/plain").find("[2, 3] from 0 (dark purple) to 5 (yellow)"), std::string::npos)
      << b.at("text/plain");
  EXPECT_THROW(heatmap_bundle(Tensor::ones({2, 2, 2})), Error);  // not a 2-d map
}

}  // namespace
}  // namespace nibble
