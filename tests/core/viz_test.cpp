// Charts as Vega-Lite specs, their display bundle and the files save() writes (core/viz.h). The
// specs are checked by parsing them: the data rows must be the inputs, the encodings what the chart
// promises.
#include "core/viz.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace nibble {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json parsed(const viz::Chart& c) { return json::parse(c.spec()); }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Width and height from a PNG's IHDR chunk (big-endian at bytes 16..23).
std::pair<uint32_t, uint32_t> png_size(const std::string& bytes) {
  auto be = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return {be(16), be(20)};
}

// A fresh folder under the system temp directory, removed at the end of the test.
struct TempDir {
  fs::path path =
      fs::temp_directory_path() /
      ("nibble-viz-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
       "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// Sets an environment variable for the duration of a test.
struct EnvGuard {
  std::string name, old;
  bool had;
  EnvGuard(const std::string& n, const std::string& value) : name(n) {
    const char* v = std::getenv(n.c_str());
    had = v != nullptr;
    if (had) old = v;
    setenv(n.c_str(), value.c_str(), 1);
  }
  ~EnvGuard() {
    if (had)
      setenv(name.c_str(), old.c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

TEST(Viz, LineSpecIsVegaLiteV5WithTheInputsAsRows) {
  const std::vector<double> x{1, 2, 4}, y{0.5, -1.25, 3};
  const json s = parsed(viz::line(x, y).title("Loss").x_label("step").y_label("bits/char"));
  EXPECT_EQ(s["$schema"], "https://vega.github.io/schema/vega-lite/v5.json");
  EXPECT_EQ(s["title"], "Loss");
  EXPECT_EQ(s["mark"]["type"], "line");
  EXPECT_EQ(s["encoding"]["x"]["field"], "x");
  EXPECT_EQ(s["encoding"]["x"]["type"], "quantitative");
  EXPECT_EQ(s["encoding"]["x"]["title"], "step");
  EXPECT_EQ(s["encoding"]["y"]["title"], "bits/char");
  EXPECT_FALSE(s["encoding"].contains("color"));  // one unnamed series: no legend
  const json& rows = s["data"]["values"];
  ASSERT_EQ(rows.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i]["x"].get<double>(), x[i]);
    EXPECT_EQ(rows[i]["y"].get<double>(), y[i]);
  }
}

TEST(Viz, SeveralSeriesAreRowsTaggedByNameAndColoured) {
  const json s = parsed(viz::line({0, 1}, {3, 2}, "train").add({0, 1, 2}, {4, 3.5, 3.25}, "test"));
  const json& rows = s["data"]["values"];
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0]["series"], "train");
  EXPECT_EQ(rows[1]["y"].get<double>(), 2.0);
  EXPECT_EQ(rows[2]["series"], "test");
  EXPECT_EQ(rows[4]["y"].get<double>(), 3.25);
  EXPECT_EQ(s["encoding"]["color"]["field"], "series");
  EXPECT_EQ(s["encoding"]["color"]["type"], "nominal");
}

TEST(Viz, LineWithoutXCountsFromZeroAndTakesTensorsAndFloatVectors) {
  const json s = parsed(viz::line(Tensor::from_vector({7, 8, 9})));
  const json& rows = s["data"]["values"];
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2]["x"].get<double>(), 2.0);
  EXPECT_EQ(rows[2]["y"].get<double>(), 9.0);
  const std::vector<float> f{0.25f, 0.5f};
  const std::vector<int> n{10, 20};
  const json t = parsed(viz::scatter(n, f));
  EXPECT_EQ(t["mark"]["type"], "point");
  EXPECT_EQ(t["data"]["values"][1]["x"].get<double>(), 20.0);
  EXPECT_EQ(t["data"]["values"][1]["y"].get<double>(), 0.5);
}

TEST(Viz, BarKeepsTheCategoriesInTheGivenOrder) {
  const json s = parsed(viz::bar({"zstd", "gzip", "xz"}, {2.5, 3.0, 2.25}, "fortunes")
                            .add({1.5, 2.0, 1.75}, "shakespeare")
                            .y_label("bits/char"));
  EXPECT_EQ(s["mark"]["type"], "bar");
  EXPECT_EQ(s["encoding"]["x"]["sort"], json({"zstd", "gzip", "xz"}));
  EXPECT_EQ(s["encoding"]["y"]["title"], "bits/char");
  EXPECT_EQ(s["encoding"]["xOffset"]["field"], "series");  // grouped bars
  const json& rows = s["data"]["values"];
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[1]["category"], "gzip");
  EXPECT_EQ(rows[1]["value"].get<double>(), 3.0);
  EXPECT_EQ(rows[5]["series"], "shakespeare");
  EXPECT_EQ(rows[5]["value"].get<double>(), 1.75);
}

TEST(Viz, HeatmapIsOneRowPerCellWithViridis) {
  const Tensor m = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const json s = parsed(viz::heatmap(m));
  EXPECT_EQ(s["mark"]["type"], "rect");
  EXPECT_EQ(s["encoding"]["color"]["scale"]["scheme"], "viridis");
  const json& rows = s["data"]["values"];
  ASSERT_EQ(rows.size(), 6u);
  // Row-major: the cell (r, c) holds 1 + 3r + c.
  for (const json& cell : rows)
    EXPECT_EQ(cell["value"].get<double>(), 1 + 3 * cell["row"].get<int>() + cell["col"].get<int>());
  EXPECT_EQ(s["encoding"]["y"]["sort"], json({0, 1}));  // row 0 on top
  const json l = parsed(viz::heatmap(m, {"a", "b"}, {"x", "y", "z"}));
  EXPECT_EQ(l["data"]["values"][5]["row"], "b");
  EXPECT_EQ(l["data"]["values"][5]["col"], "z");
  EXPECT_EQ(l["encoding"]["x"]["sort"], json({"x", "y", "z"}));
}

TEST(Viz, SizeAndLogAxisReachTheSpec) {
  const json s = parsed(viz::line({1, 2}, {10, 1000}).size(300, 120).log_y());
  EXPECT_EQ(s["width"], 300);
  EXPECT_EQ(s["height"], 120);
  EXPECT_EQ(s["encoding"]["y"]["scale"]["type"], "log");
}

TEST(Viz, BadInputThrowsNamingTheBuilder) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no nibble::Error");
  };
  EXPECT_NE(message([] { viz::line(std::vector<double>{}); }).find("empty"), std::string::npos);
  EXPECT_NE(message([] {
              viz::line({1, 2, 3}, {1, 2});
            }).find("x has 3 values but y has 2"),
            std::string::npos);
  EXPECT_NE(message([&] {
              viz::scatter({1, 2}, {1, nan});
            }).find("y[1] is nan"),
            std::string::npos);
  EXPECT_NE(message([&] { viz::line({inf, 2}, {1, 2}); }).find("x[0] is inf"), std::string::npos);
  EXPECT_NE(message([] {
              viz::bar({"a", "b"}, {1});
            }).find("2 categories but 1 values"),
            std::string::npos);
  EXPECT_NE(message([] {
              viz::bar({"a"}, {1}).add({1, 2}, "s");
            }).find("2 values for 1 categories"),
            std::string::npos);
  EXPECT_NE(message([] { viz::heatmap(Tensor::ones({4})); }).find("not [rows, cols]"),
            std::string::npos);
  EXPECT_NE(message([] {
              viz::heatmap(Tensor::ones({2, 2}), {"a"});
            }).find("1 row labels for 2 rows"),
            std::string::npos);
  EXPECT_NE(message([&] {
              viz::heatmap(Tensor::from_vector({0, static_cast<float>(nan)}, {1, 2}));
            }).find("nan"),
            std::string::npos);
  EXPECT_NE(message([] { viz::line(Tensor::ones({2, 2})); }).find("not 1-d"), std::string::npos);
  EXPECT_NE(message([] { viz::line({1, 2}, {0, 1}).log_y(); }).find("log"), std::string::npos);
  EXPECT_NE(message([] {
              viz::line({1, 2}, {1, 2}).add({1}, "s");
            }).find("bar charts"),
            std::string::npos);
  EXPECT_NE(message([] { viz::line({1}, {1}).size(0, 10); }).find("0 x 10"), std::string::npos);
  EXPECT_EQ(message([] { viz::line({1, 2}, {1, 2}).title("x"); }), "no nibble::Error");
}

TEST(Viz, DescribeSaysKindTitleSeriesAndRange) {
  EXPECT_EQ(viz::line({0, 1, 2}, {3, 1, 2}, "train").title("Loss").x_label("step").describe(),
            "line chart \"Loss\": train 3 points, y 1..3; x: step");
  EXPECT_EQ(viz::heatmap(Tensor::from_vector({0, 0.5, 1, 2}, {2, 2})).describe(),
            "heatmap chart: [2, 2] cells, values 0..2 (viridis: dark purple = low, yellow = high)");
}

TEST(Viz, DisplayPublishesTheSpecAndPlainText) {
  std::vector<MimeBundle> seen;
  set_display_hook([&](const MimeBundle& b) { seen.push_back(b); });
  const viz::Chart c = viz::bar({"a", "b"}, {1, 2}).title("t");
  display(c);
  set_display_hook({});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(json::parse(seen[0].at("application/vnd.vegalite.v5+json")), parsed(c));
  EXPECT_EQ(seen[0].at("text/plain"), c.describe());
  if (viz::renderer_missing().empty()) {
    EXPECT_NE(seen[0].at("image/svg+xml").find("<svg"), std::string::npos);
  } else {
    EXPECT_EQ(seen[0].count("image/svg+xml"), 0u);
  }
}

TEST(Viz, SaveWritesTheSpecAndAPngWhenTheRendererIsInstalled) {
  const std::string missing = viz::renderer_missing();
  if (!missing.empty()) GTEST_SKIP() << "chart renderer " << missing;
  TempDir dir;
  const viz::Chart c =
      viz::line({0, 1, 2, 3}, {1, 0.5, 0.25, 0.125}, "loss").title("halving").size(200, 100);
  const viz::Saved saved = viz::save(c, (dir.path / "sub" / "loss").string());
  EXPECT_EQ(saved.spec_path, (dir.path / "sub" / "loss.vl.json").string());
  EXPECT_EQ(json::parse(slurp(saved.spec_path)), parsed(c));
  ASSERT_EQ(saved.png_path, (dir.path / "sub" / "loss.png").string());
  const std::string png = slurp(saved.png_path);
  ASSERT_GT(png.size(), 1000u) << "a PNG of a few hundred bytes is blank";
  EXPECT_EQ(png.substr(0, 8), "\x89PNG\r\n\x1a\n");
  const auto [w, h] = png_size(png);
  EXPECT_GT(w, 200u);  // the plotting area plus axes and title
  EXPECT_GT(h, 100u);
  EXPECT_LT(w, 600u);
  // A heatmap goes through the same renderer.
  const viz::Saved hm = viz::save(viz::heatmap(Tensor::from_vector({0, 1, 2, 3}, {2, 2})),
                                  (dir.path / "hm").string());
  EXPECT_GT(slurp(hm.png_path).size(), 1000u);
}

TEST(Viz, WithoutTheRendererSaveWritesTheSpecAndAHeatmapStillGetsItsCells) {
  EnvGuard no_renderer("NIBBLE_VL2SVG", "/nonexistent/vl2svg");
  EXPECT_NE(viz::renderer_missing().find("/nonexistent/vl2svg"), std::string::npos);
  TempDir dir;
  const viz::Saved line = viz::save(viz::line({1, 2}), (dir.path / "line").string());
  EXPECT_TRUE(fs::exists(line.spec_path));
  EXPECT_EQ(line.png_path, "");
  EXPECT_NE(line.note.find("not found"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path / "line.png"));
  // 2 x 4 cells, each drawn 256 / 4 = 64 pixels square.
  const viz::Saved hm =
      viz::save(viz::heatmap(Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7}, {2, 4})),
                (dir.path / "hm").string());
  ASSERT_EQ(hm.png_path, (dir.path / "hm.png").string());
  const auto [w, h] = png_size(slurp(hm.png_path));
  EXPECT_EQ(w, 4u * 64u);
  EXPECT_EQ(h, 2u * 64u);
}

TEST(Viz, AFailingRendererLeavesTheSpecAndSaysWhyInThePlainText) {
  EnvGuard broken("NIBBLE_VL2SVG", "/bin/false");  // runs, draws nothing, exits 1
  if (!viz::renderer_missing().empty()) GTEST_SKIP() << "chart renderer " << viz::renderer_missing();
  const MimeBundle b = viz::mime_bundle(viz::line({1, 2}, {3, 4}));
  EXPECT_EQ(b.count("image/svg+xml"), 0u);
  EXPECT_EQ(b.count("application/vnd.vegalite.v5+json"), 1u);
  EXPECT_NE(b.at("text/plain").find("no SVG fallback"), std::string::npos) << b.at("text/plain");
  TempDir dir;
  EXPECT_THROW(viz::save(viz::line({1, 2}, {3, 4}), (dir.path / "x").string()), Error);  // save says so loudly
}

}  // namespace
}  // namespace nibble
