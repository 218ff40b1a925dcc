// Image reading and writing (core/io/image.h): exact round trips, heatmaps, damaged files, and
// no half-written or stray .tmp files when a save fails.
#include "core/io/image.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include <zlib.h>

#include "core/io/temp_dir.h"
#include "gradcheck.h"

namespace nibble::io {
namespace {

using nibble::testing::read_bytes;
using nibble::testing::TempDir;
using nibble::testing::throws_error_containing;
using nibble::testing::write_bytes;

// A [C, H, W] image whose values are all exact 8-bit levels k/255.
Tensor levels_image(int64_t c, int64_t h, int64_t w) {
  Tensor t = Tensor::empty({c, h, w});
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data()[i] = static_cast<float>((i * 53 + 7) % 256) / 255.0f;
  return t;
}

bool is_png(const std::vector<unsigned char>& bytes) {
  const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return bytes.size() > 8 && std::equal(signature, signature + 8, bytes.begin());
}

TEST(Image, GrayAndColourRoundTripsAreExact) {
  TempDir dir;
  for (int64_t channels : {1, 3}) {
    const Tensor image = levels_image(channels, 9, 13);
    const std::string path = dir.file("img" + std::to_string(channels) + ".png");
    save_png(path, image);
    EXPECT_TRUE(is_png(read_bytes(path)));
    const Tensor back = load_image(path);
    ASSERT_EQ(back.shape(), image.shape());
    EXPECT_EQ(back.to_vector(), image.to_vector()) << channels << " channels";
  }
  EXPECT_EQ(dir.listing().size(), 2u) << "no .tmp files may remain";
}

TEST(Image, TwoDimensionalInputIsGrayscale) {
  TempDir dir;
  const Tensor image = levels_image(1, 4, 5).reshape({4, 5});
  save_png(dir.file("g.png"), image);
  const Tensor back = load_image(dir.file("g.png"));
  EXPECT_EQ(back.shape(), (Shape{1, 4, 5}));
  EXPECT_EQ(back.to_vector(), image.to_vector());
}

TEST(Image, ValuesAreClampedToZeroOne) {
  TempDir dir;
  save_png(dir.file("c.png"), Tensor::from_vector({-3.0f, 0.5f, 7.0f}, {1, 3}));
  const std::vector<float> back = load_image(dir.file("c.png")).to_vector();
  EXPECT_EQ(back, (std::vector<float>{0.0f, 128.0f / 255.0f, 1.0f}));
}

TEST(Image, BadInputIsRejectedAndNothingIsWritten) {
  TempDir dir;
  const std::string path = dir.file("bad.png");
  EXPECT_TRUE(throws_error_containing(
      [&] {
        save_png(path, Tensor::zeros({2, 4, 4}));
      },
      "expected [H, W], [1, H, W] or [3, H, W]"));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        save_png(path, Tensor::zeros({4, 4, 4}));
      },
      "but got [4, 4, 4]"));
  Tensor nan = Tensor::zeros({2, 2});
  nan.data()[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(throws_error_containing([&] { save_png(path, nan); }, "is not finite"));
  EXPECT_TRUE(throws_error_containing([&] { save_heatmap_png(path, nan); }, "is not finite"));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        save_heatmap_png(path, Tensor::zeros({1, 2, 2}));
      },
      "expected a 2-d map"));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        save_heatmap_png(path, Tensor::zeros({2, 2}), 0);
      },
      "upscale must be >= 1"));
  EXPECT_TRUE(dir.listing().empty());
}

TEST(Image, HeatmapHasExpectedSizeAndViridisEnds) {
  TempDir dir;
  const std::string path = dir.file("attention.png");
  Tensor map = Tensor::zeros({10, 10});
  for (int64_t i = 0; i < 100; ++i)
    map.data()[i] = static_cast<float>(i) * 0.01f - 0.3f;  // min -0.3, max 0.69
  save_heatmap_png(path, map, 8);
  EXPECT_TRUE(is_png(read_bytes(path)));
  const Tensor rgb = load_image(path);
  ASSERT_EQ(rgb.shape(), (Shape{3, 80, 80}));
  // Minimum (cell 0,0) -> viridis dark purple #440154; maximum (cell 9,9) -> yellow #fde725.
  EXPECT_EQ(rgb.at({0, 0, 0}) * 255.0f, 0x44);
  EXPECT_EQ(rgb.at({1, 0, 0}) * 255.0f, 0x01);
  EXPECT_EQ(rgb.at({2, 0, 0}) * 255.0f, 0x54);
  EXPECT_EQ(rgb.at({0, 79, 79}) * 255.0f, 0xfd);
  EXPECT_EQ(rgb.at({1, 79, 79}) * 255.0f, 0xe7);
  EXPECT_EQ(rgb.at({2, 79, 79}) * 255.0f, 0x25);
  // Each cell is a uniform 8x8 block; neighbouring cells differ.
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t dy = 0; dy < 8; ++dy)
      for (int64_t dx = 0; dx < 8; ++dx)
        EXPECT_EQ(rgb.at({c, 40 + dy, 24 + dx}), rgb.at({c, 40, 24}));
  }
  EXPECT_NE(rgb.at({1, 40, 24}), rgb.at({1, 40, 32}));
}

TEST(Image, ConstantHeatmapUsesTheMiddleColour) {
  TempDir dir;
  save_heatmap_png(dir.file("flat.png"), Tensor::full({3, 4}, 2.5f));
  const Tensor rgb = load_image(dir.file("flat.png"));
  ASSERT_EQ(rgb.shape(), (Shape{3, 3, 4}));
  // Halfway between viridis samples 4 (#26828e) and 5 (#1f9e89): (34.5, 144, 139.5) rounded.
  EXPECT_EQ(rgb.at({0, 1, 1}) * 255.0f, 35.0f);
  EXPECT_EQ(rgb.at({1, 1, 1}) * 255.0f, 144.0f);
  EXPECT_EQ(rgb.at({2, 1, 1}) * 255.0f, 140.0f);
}

// A 2x1 32-bit BMP (blue, green, red, alpha per pixel, rows bottom-up): stb reports 4 channels.
std::vector<unsigned char> bmp_with_alpha() {
  std::vector<unsigned char> b;
  auto u16 = [&b](uint32_t v) {
    for (int i = 0; i < 2; ++i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
  };
  auto u32 = [&b](uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<unsigned char>(v >> (8 * i)));
  };
  b.push_back('B'), b.push_back('M');
  u32(14 + 40 + 8), u16(0), u16(0), u32(14 + 40);            // file header
  u32(40), u32(2), u32(1), u16(1), u16(32), u32(0), u32(8);  // info header: 2x1, 32 bpp, BI_RGB
  u32(2835), u32(2835), u32(0), u32(0);
  for (unsigned char v : {10, 20, 30, 128, 40, 50, 60, 255}) b.push_back(v);  // BGRA, BGRA
  return b;
}

TEST(Image, AlphaChannelIsDropped) {
  TempDir dir;
  write_bytes(dir.file("a.bmp"), bmp_with_alpha());
  const Tensor image = load_image(dir.file("a.bmp"));
  ASSERT_EQ(image.shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(image.to_vector(), (std::vector<float>{30 / 255.0f, 60 / 255.0f, 20 / 255.0f,
                                                   50 / 255.0f, 10 / 255.0f, 40 / 255.0f}));
}

TEST(Image, DamagedFilesRaiseErrorsNamingTheFile) {
  TempDir dir;
  save_png(dir.file("good.png"), levels_image(3, 16, 16));
  const std::vector<unsigned char> png = read_bytes(dir.file("good.png"));

  const std::string truncated = dir.file("truncated.png");
  write_bytes(truncated, std::vector<unsigned char>(
                             png.begin(), png.begin() + static_cast<long>(png.size() / 2)));
  EXPECT_TRUE(throws_error_containing([&] { load_image(truncated); },
                                      truncated + ": cannot decode image ("));

  const std::string garbage = dir.file("garbage.png");
  write_bytes(garbage, {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
  EXPECT_TRUE(throws_error_containing(
      [&] { load_image(garbage); }, garbage + ": unsupported image format (not a PNG, JPEG, BMP"));

  const std::string empty = dir.file("empty.png");
  write_bytes(empty, {});
  EXPECT_TRUE(throws_error_containing([&] { load_image(empty); }, empty + ": the file is empty"));

  EXPECT_TRUE(throws_error_containing([&] { load_image(dir.file("missing.png")); },
                                      dir.file("missing.png") + ": cannot open"));
}

std::vector<unsigned char> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

// The stb_image 2.27 defect (see check_jpeg_huffman_tables in core/io/image.cpp): a DHT whose code
// counts add up to 259 made stb write past a 257-entry array. Refused before stb runs.
TEST(Image, JpegHuffmanTableOfMoreThan256CodesIsRefused) {
  TempDir dir;
  const std::string path = dir.file("dht.jpg");
  write_bytes(path, {0xff, 0xd8, 0xff, 0xc4, 0x01, 0x03, 0x10, 0x3f, 0xc4});
  EXPECT_TRUE(throws_error_containing([&] { load_image(path); },
                                      path + ": corrupt JPEG: a Huffman table (DHT segment at byte "
                                             "2) declares 259 codes, more than 256"));
  // 0x3f + 0xc1 = 256 codes is the most a table may have: not refused by this check (stb then fails
  // on its own, the file having no image).
  write_bytes(path, {0xff, 0xd8, 0xff, 0xc4, 0x01, 0x03, 0x10, 0x3f, 0xc1});
  EXPECT_TRUE(throws_error_containing([&] { load_image(path); }, path + ": cannot decode image ("));
}

// A scan naming a Huffman table that no DHT segment defined (the CI fuzz run's input): stb would
// decode it from uninitialised memory, so the result depended on the heap. Refused before stb runs.
TEST(Image, JpegScanWithAnUndefinedHuffmanTableIsRefused) {
  const std::string path =
      std::string(NIBBLE_SOURCE_DIR) + "/tests/fuzz/regressions/image/jpeg-scan-uses-undefined-huffman-table.jpg";
  EXPECT_TRUE(throws_error_containing(
      [&] { load_image(path); },
      path + ": corrupt JPEG: the scan at byte 593 decodes with a Huffman table that no DHT segment before it "
             "defines"));
}

TEST(Image, RealJpegsStillLoad) {
  // Seeds of the image fuzz target, written by stb_image_write (quality 75 and 90).
  const std::string corpus = std::string(NIBBLE_SOURCE_DIR) + "/tests/fuzz/corpus/image/";
  const Tensor rgb = load_image(corpus + "rgb16x16.jpg");
  EXPECT_EQ(rgb.shape(), (Shape{3, 16, 16}));
  // stb_image_write stores every JPEG as YCbCr, even one written from a grey image.
  const Tensor gray = load_image(corpus + "gray8x8.jpg");
  EXPECT_EQ(gray.shape(), (Shape{3, 8, 8}));
}

TEST(Image, PnmPixelDataMustBeComplete) {
  TempDir dir;
  // "P5\n4 4\n255\n" is 11 bytes; 16 pixels follow in a whole file, 2 in this one.
  const std::string cut = dir.file("cut.pgm");
  write_bytes(cut, bytes_of("P5\n4 4\n255\nAB"));
  EXPECT_TRUE(throws_error_containing(
      [&] { load_image(cut); },
      cut + ": truncated at byte 13 (expected 27): the 4 x 4 PNM's pixel data"));
  // An 18-byte file whose 17-byte header claims 4096 x 4096 = 16 777 216 pixels.
  const std::string big = dir.file("big.pgm");
  write_bytes(big, bytes_of("P5\n4096 4096\n255\nZ"));
  EXPECT_TRUE(throws_error_containing([&] { load_image(big); },
                                      big + ": truncated at byte 18 (expected 16777233)"));
  const std::string digits = dir.file("digits.pgm");
  write_bytes(digits, bytes_of("P5\n99999999999 1\n255\n"));
  EXPECT_TRUE(
      throws_error_containing([&] { load_image(digits); }, "the width has more than 9 digits"));

  // Whole files load, with their values: grey (one comment line), colour, and 16 bits reduced to 8.
  const std::string grey = dir.file("ok.pgm");
  write_bytes(grey, bytes_of(std::string("P5\n# made by hand\n2 2\n255\n\x00\x33\x66\xff", 30)));
  EXPECT_EQ(load_image(grey).to_vector(), (std::vector<float>{0.0f, 0.2f, 0.4f, 1.0f}));
  const std::string colour = dir.file("ok.ppm");
  write_bytes(colour, bytes_of(std::string("P6 1 2 255\n\x00\x33\x66\xff\x00\x00", 17)));
  EXPECT_EQ(load_image(colour).to_vector(),
            (std::vector<float>{0.0f, 1.0f, 0.2f, 0.0f, 0.4f, 0.0f}));
}

TEST(Image, BmpRowsMustBeComplete) {
  TempDir dir;
  const std::string path = dir.file("a.bmp");
  std::vector<unsigned char> bmp =
      bmp_with_alpha();  // 2 x 1, 32 bits: 54-byte header + 8 bytes of pixels
  ASSERT_EQ(bmp.size(), 62u);
  bmp.resize(58);
  write_bytes(path, bmp);
  EXPECT_TRUE(throws_error_containing(
      [&] { load_image(path); },
      path + ": truncated at byte 58 (expected 62): the 2 x 1 BMP's pixel rows"));
}

TEST(Image, OnlyTheCourseFormatsAreRead) {
  TempDir dir;
  const std::string gif = dir.file("a.gif");
  // The smallest GIF: header, 1x1 screen, no colour table, one image, end.
  write_bytes(gif, {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0,    0, 0, 0x2c, 0,
                    0,   0,   0,   1,   0,   1,   0, 0, 2, 2, 0x44, 1, 0, 0x3b});
  EXPECT_TRUE(throws_error_containing([&] { load_image(gif); },
                                      gif + ": unsupported image format (a GIF)"));
  const std::string ascii = dir.file("a.pgm");
  write_bytes(ascii, bytes_of("P2\n1 1\n255\n7\n"));
  EXPECT_TRUE(
      throws_error_containing([&] { load_image(ascii); }, "(an ASCII or 1-bit PNM (P1-P4))"));
}

// The PNG signature and an IHDR chunk (stb reads the size from it; no pixel data is needed to
// refuse).
std::vector<unsigned char> png_header(uint32_t width, uint32_t height, unsigned char colour_type) {
  std::vector<unsigned char> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                  0,    0,   0,   13,  'I',  'H',  'D',  'R'};
  for (uint32_t v : {width, height})
    for (int shift = 24; shift >= 0; shift -= 8)
      b.push_back(static_cast<unsigned char>(v >> shift));
  for (unsigned char c : {static_cast<unsigned char>(8), colour_type, static_cast<unsigned char>(0),
                          static_cast<unsigned char>(0), static_cast<unsigned char>(0)})
    b.push_back(c);
  for (int k = 0; k < 4; ++k) b.push_back(0);  // CRC (stb does not check it)
  return b;
}

// The stb_image 2.27 empty-IDAT defect (core/io/image.cpp): refused before stb runs.
TEST(Image, AnEmptyPngDataChunkIsRefused) {
  TempDir dir;
  const std::string path = dir.file("empty_idat.png");
  std::vector<unsigned char> png = png_header(8, 6, 2);  // 33 bytes: signature, IHDR
  const char chunk[] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0, 0, 0, 0};  // length 0, type, CRC
  png.insert(png.end(), chunk, chunk + sizeof chunk);
  write_bytes(path, png);
  EXPECT_TRUE(throws_error_containing([&] { load_image(path); },
                                      path + ": corrupt PNG: empty IDAT chunk at byte 33"));
}

TEST(Image, TheSizeLimitIsCheckedFromTheHeaderBeforeDecoding) {
  TempDir dir;
  const std::string huge = dir.file("huge.png");
  write_bytes(huge, png_header(16384, 16384, 0));
  EXPECT_TRUE(throws_error_containing(
      [&] { load_image(huge); },
      huge + ": the image is 16384 x 16384 x 1 = 268435456 values, more than the limit 67108864"));

  const std::string small = dir.file("small.png");
  save_png(small, levels_image(3, 10, 20));
  EXPECT_TRUE(throws_error_containing(
      [&] { load_image(small, 599); },
      small + ": the image is 20 x 10 x 3 = 600 values, more than the limit 599"));
  EXPECT_EQ(load_image(small, 600).shape(), (Shape{3, 10, 20}));
  EXPECT_TRUE(throws_error_containing([&] { load_image(small, 0); }, "max_values must be >= 1"));
}

// A PNG whose header is honest (1 x 1 grey) but whose IDAT inflates to 64 MiB of zeros: stb grows its
// output buffer by doubling and, without a cap, allocates whatever the data expands to (the CI fuzz
// run saw a 2 GiB request). decode_image caps every stb allocation by the header's size.
TEST(Image, DataThatInflatesFarBeyondTheHeaderSizeIsRefused) {
  TempDir dir;
  const std::string path = dir.file("bomb.png");
  std::vector<unsigned char> png = png_header(1, 1, 0);
  const std::vector<unsigned char> zeros(size_t{64} << 20, 0);
  uLongf packed_size = compressBound(static_cast<uLong>(zeros.size()));
  std::vector<unsigned char> packed(packed_size);
  ASSERT_EQ(compress2(packed.data(), &packed_size, zeros.data(), static_cast<uLong>(zeros.size()), 9),
            Z_OK);
  for (int shift = 24; shift >= 0; shift -= 8)
    png.push_back(static_cast<unsigned char>(packed_size >> shift));
  for (char c : {'I', 'D', 'A', 'T'}) png.push_back(static_cast<unsigned char>(c));
  png.insert(png.end(), packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(packed_size));
  for (int k = 0; k < 4; ++k) png.push_back(0);  // CRC (stb does not check it)
  const unsigned char iend[] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
  png.insert(png.end(), iend, iend + sizeof iend);
  ASSERT_LT(png.size(), size_t{1} << 17);  // a small file...
  write_bytes(path, png);
  EXPECT_TRUE(throws_error_containing(  // ...refused without decoding its 64 MiB
      [&] { load_image(path); },
      path + ": cannot decode image: decoding needs a block of memory larger than a 1 x 1 x 1 image can"));

  // The cap leaves honest images alone (RealJpegsStillLoad reads real photos through it too).
  const std::string fine = dir.file("fine.png");
  save_png(fine, levels_image(3, 40, 30));
  EXPECT_EQ(load_image(fine).shape(), (Shape{3, 40, 30}));
}

TEST(Image, FailedSaveLeavesNoFileAndNoTemp) {
  TempDir dir;
  // Into a directory that does not exist: the temp file cannot even be created.
  const std::string nowhere = dir.file("no/such/dir/x.png");
  EXPECT_TRUE(throws_error_containing([&] { save_png(nowhere, levels_image(1, 2, 2)); },
                                      "cannot create " + nowhere + ".tmp"));
  EXPECT_TRUE(dir.listing().empty());

  // Onto a path that is a directory: the temp file is written, the rename fails, and the temp
  // file must be cleaned up.
  std::filesystem::create_directory(dir.file("taken.png"));
  EXPECT_TRUE(throws_error_containing(
      [&] { save_png(dir.file("taken.png"), levels_image(1, 2, 2)); }, "cannot rename"));
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"taken.png"});
}

TEST(Image, FailedSaveKeepsThePreviousFile) {
  TempDir dir;
  const std::string path = dir.file("keep.png");
  save_png(path, levels_image(1, 3, 3));
  const std::vector<unsigned char> before = read_bytes(path);
  Tensor bad = Tensor::zeros({3, 3});
  bad.data()[4] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(throws_error_containing([&] { save_png(path, bad); }, "is not finite"));
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"keep.png"});
}

}  // namespace
}  // namespace nibble::io
