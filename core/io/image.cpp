#include "core/io/image.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <vector>

#include "core/io/atomic_file.h"

// stb is a single-file library: exactly one translation unit defines *_IMPLEMENTATION to compile
// its code, and this is that unit. *_STATIC keeps stb's functions private to libnibble, so they
// cannot clash with another copy of stb in a program that links us. We only decode from memory
// and encode to memory (our own file handling gives better error messages and atomic writes),
// so stb's stdio code is left out. stb is not written for -Wall -Wextra -Werror; we silence
// warnings for its code only, never for ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wtype-limits"
// Every allocation stb_image makes goes through these (declared below, defined after the include):
// they refuse any block larger than the budget decode_image sets for the image at hand, so a small
// file whose header is honest about its size but whose data expands without bound (a zlib bomb in a
// PNG's IDAT, whose output buffer stb doubles until 2 GiB) fails as "outofmem" instead of
// exhausting memory. Found by the CI fuzz run (tests/fuzz/regressions/image/).
namespace nibble::io::stb_budget {
void* malloc_within(size_t size);
void* realloc_within(void* block, size_t size);
}  // namespace nibble::io::stb_budget
#define STBI_MALLOC(size) nibble::io::stb_budget::malloc_within(size)
#define STBI_REALLOC(block, size) nibble::io::stb_budget::realloc_within(block, size)
#define STBI_FREE(block) std::free(block)
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
// Only the course's formats are compiled in (GIF, TGA, PSD, HDR and PIC decoders are left out: less
// code reachable from a hostile file; a 1.4 KB GIF once asked for 2.8 GB).
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#include <stb_image.h>
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace nibble::io::stb_budget {

// The largest block stb may allocate while this thread decodes; 0 outside decode_image (the PNG
// encoder uses stb_image_write's own allocator, which this does not touch).
thread_local size_t g_max_block = 0;

// Zeroed (calloc), so a decoder state that stb reads before writing -- as it did with a JPEG's
// undefined Huffman tables, see check_jpeg_huffman_tables -- is the same on every run, not whatever
// the heap held; a decode can then never depend on what ran before it.
void* malloc_within(size_t size) { return size <= g_max_block ? std::calloc(1, size) : nullptr; }

void* realloc_within(void* block, size_t size) {
  return size <= g_max_block ? std::realloc(block, size) : nullptr;
}

// Sets the budget for one decode and clears it on every way out (stb's errors, our exceptions).
class Scope {
 public:
  explicit Scope(size_t max_block) { g_max_block = max_block; }
  ~Scope() { g_max_block = 0; }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

}  // namespace nibble::io::stb_budget

namespace nibble::io {

namespace {

constexpr int64_t kMaxSide = 1 << 15;  // generous for figures, and far from stb's int limits

void write_png_bytes(const std::string& path, const char* op, const std::vector<unsigned char>& png) {
  write_atomically(path, op, [&png](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  });
}

// Encodes interleaved 8-bit pixels (rows of width * channels bytes) as PNG bytes; `where` names
// the file (or the thing drawn) in the error.
std::vector<unsigned char> encode_png(const std::string& where, const char* op, int64_t height, int64_t width,
                                      int channels, const std::vector<unsigned char>& pixels) {
  std::vector<unsigned char> png;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(context);
    const auto* bytes = static_cast<const unsigned char*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  const int w = static_cast<int>(width), h = static_cast<int>(height);
  NIBBLE_CHECK(stbi_write_png_to_func(append, &png, w, h, channels, pixels.data(), w * channels) != 0, op,
        where + ": PNG encoding failed");
  return png;
}

// Encodes as PNG and saves atomically.
void write_png_pixels(const std::string& path, const char* op, int64_t height, int64_t width,
                      int channels, const std::vector<unsigned char>& pixels) {
  const std::vector<unsigned char> png = encode_png(path, op, height, width, channels, pixels);
  write_png_bytes(path, op, png);
}

void check_side(int64_t side, const std::string& path, const char* op, const char* what) {
  NIBBLE_CHECK(side >= 1 && side <= kMaxSide, op,
        path + ": " + what + " must be 1.." + std::to_string(kMaxSide) + ", got " +
            std::to_string(side));
}

// The viridis colour map (van der Walt & Smith, matplotlib's default), sampled at 10 evenly
// spaced points -- the same values as R's viridisLite::viridis(10). Linear interpolation between
// neighbours is visually indistinguishable from the full 256-entry table.
constexpr unsigned char kViridis[10][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3e, 0x4a, 0x89}, {0x31, 0x68, 0x8e},
    {0x26, 0x82, 0x8e}, {0x1f, 0x9e, 0x89}, {0x35, 0xb7, 0x79}, {0x6d, 0xcd, 0x59},
    {0xb4, 0xde, 0x2c}, {0xfd, 0xe7, 0x25}};

void viridis(float t, unsigned char rgb[3]) {
  const float x = std::fmin(std::fmax(t, 0.0f), 1.0f) * 9.0f;
  const int i = std::min(static_cast<int>(x), 8);
  const float frac = x - static_cast<float>(i);
  for (int c = 0; c < 3; ++c) {
    const float v = kViridis[i][c] + frac * (kViridis[i + 1][c] - kViridis[i][c]);
    rgb[c] = static_cast<unsigned char>(std::lround(v));
  }
}

}  // namespace

namespace {

// Validation before stb sees a byte: stb_image (Debian's v2.27) trusts its input in places, so
// every check below stands between a hostile file and a known defect of that version.

// stb's reason for its last failure (it may have none).
std::string failure_reason() {
  const char* reason = stbi_failure_reason();
  return reason != nullptr ? reason : "no reason given";
}

enum class ImageFormat { Png, Jpeg, Bmp, Pnm };

ImageFormat sniff_format(const unsigned char* b, size_t n, const std::string& where) {
  auto starts = [&](std::initializer_list<unsigned char> magic) {
    return n >= magic.size() && std::equal(magic.begin(), magic.end(), b);
  };
  if (starts({0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})) return ImageFormat::Png;
  if (starts({0xff, 0xd8, 0xff})) return ImageFormat::Jpeg;
  if (starts({'B', 'M'})) return ImageFormat::Bmp;
  if (starts({'P', '5'}) || starts({'P', '6'})) return ImageFormat::Pnm;
  const char* known =
      starts({'G', 'I', 'F', '8'}) ? "a GIF"
      : starts({'P', '1'}) || starts({'P', '2'}) || starts({'P', '3'}) || starts({'P', '4'})
          ? "an ASCII or 1-bit PNM (P1-P4)"
      : starts({'8', 'B', 'P', 'S'}) ? "a Photoshop PSD"
      : starts({'#', '?'})           ? "a Radiance HDR"
                                     : "not a PNG, JPEG, BMP or binary PGM/PPM";
  fail("load_image", where + "unsupported image format (" + known + ")",
       "load_image reads PNG, JPEG, BMP and binary PGM/PPM (P5/P6); convert the file, e.g. to PNG");
}

// The stb_image 2.27 DHT defect (found by libFuzzer + UBSan through load_image, issue 17; the
// reproducer is tests/fuzz/regressions/image/jpeg-dht-counts-over-256.jpg):
//
//   stb_image.h v2.27, stbi__process_marker, case 0xC4 (DHT): the 16 code-length counts of a
//   Huffman table are summed into n without a bound, and stbi__build_huffman then writes
//   h->size[k++] for k up to n -- but size[] holds 257 entries (at most 256 codes + a terminator).
//   The 9-byte file  ff d8 ff c4 01 03 10 3f c4  (SOI, DHT of length 259, table class 1 id 0,
//   counts 0x3f + 0xc4 = 259 with the rest read as 0 past the end of the input) writes size[257]
//   and beyond. The write lands inside the stbi__jpeg struct, so only UBSan's bounds check sees it;
//   a release build silently corrupts the decoder's state. A JPEG table has at most 256 symbols
//   (ITU T.81, B.2.4.2), so the fix is to reject n > 256 ("bad DHT header").
//
// We walk the segments the way stb reads them and refuse such a table before stb runs. Like stb,
// the counts are read from the stream even past the segment's declared length, and as 0 past the
// end.
//
// The same walk refuses a scan that decodes with a Huffman table no DHT segment defined before it
// (found by the CI fuzz run; tests/fuzz/regressions/image/jpeg-scan-uses-undefined-huffman-table.jpg):
// stb allocates its decoder with malloc, so such a table is uninitialised memory -- the decode then
// depends on whatever the heap held (an assertion in stbi__jpeg_huff_decode fired only after other
// inputs had run). JPEG has no default tables (Motion-JPEG's are not part of ITU T.81).
void check_jpeg_huffman_tables(const unsigned char* b, size_t n, const std::string& where) {
  auto byte_at = [&](size_t i) -> unsigned { return i < n ? b[i] : 0u; };
  bool defined[2][4] = {};  // [DC, AC][table id]: defined by a DHT segment so far
  bool progressive = false;  // SOF2
  size_t i = 2;  // after SOI
  while (i < n) {
    if (b[i] != 0xff) {  // entropy-coded data after a scan header: skipped, as by the decoder
      ++i;
      continue;
    }
    while (i < n && b[i] == 0xff) ++i;  // fill bytes
    if (i >= n) break;
    const unsigned marker = b[i++];
    // No length: byte stuffing (FF 00), RSTn, TEM, SOI; EOI ends the image.
    if (marker == 0x00 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01 || marker == 0xd8)
      continue;
    if (marker == 0xd9) break;
    const size_t length = (byte_at(i) << 8) | byte_at(i + 1);
    if (marker == 0xc2) progressive = true;
    if (marker == 0xda) {  // SOS: Ns, then (Cs, Td << 4 | Ta) per component, then Ss, Se, Ah << 4 | Al
      const unsigned components = byte_at(i + 2);
      const unsigned spectral_start = byte_at(i + 3 + 2 * components);
      const unsigned refining = byte_at(i + 5 + 2 * components) >> 4;
      for (unsigned k = 0; k < components; ++k) {
        const unsigned tables = byte_at(i + 4 + 2 * k), dc = tables >> 4, ac = tables & 15;
        // The tables this scan decodes with (JPEG's Annex G): a baseline scan both, a progressive
        // DC scan its DC table on the first pass only, a progressive AC scan its AC table.
        const bool uses_dc = !progressive || (spectral_start == 0 && refining == 0);
        const bool uses_ac = !progressive || spectral_start > 0;
        const bool ok = (!uses_dc || dc > 3 || defined[0][dc]) && (!uses_ac || ac > 3 || defined[1][ac]);
        NIBBLE_CHECK(ok, "load_image",
                     where + "corrupt JPEG: the scan at byte " + std::to_string(i - 2) +
                         " decodes with a Huffman table that no DHT segment before it defines",
                     "the file is damaged or crafted; stb_image 2.27 would decode it from uninitialised "
                     "memory");
      }
    }
    if (marker == 0xc4) {
      // stb: L = length - 2; while (L > 0) { q; 16 counts summed to m; m values; L -= 17 + m }
      long left = static_cast<long>(length) - 2;
      size_t at = i + 2;
      while (left > 0) {
        const unsigned table_class = byte_at(at) >> 4, table_id = byte_at(at) & 15;
        if (table_class <= 1 && table_id <= 3) defined[table_class][table_id] = true;  // else stb refuses it
        unsigned symbols = 0;
        for (size_t k = 1; k <= 16; ++k) symbols += byte_at(at + k);
        NIBBLE_CHECK(
            symbols <= 256, "load_image",
            where + "corrupt JPEG: a Huffman table (DHT segment at byte " + std::to_string(i - 2) +
                ") declares " + std::to_string(symbols) + " codes, more than 256",
            "the file is damaged or crafted; stb_image 2.27 would write out of bounds decoding it");
        left -= 17 + static_cast<long>(symbols);
        at += 17 + symbols;
      }
    }
    if (length < 2) break;  // stb refuses it itself
    i += length;
  }
}

// The stb_image 2.27 cut-scan shift (found by tests/fuzz/image_fuzz.cpp; the reproducer is
// tests/fuzz/regressions/image/jpeg-scan-cut-by-marker-shift-32.jpg):
//
//   stb_image.h v2.27, stbi__grow_buffer_unsafe: when a marker interrupts a JPEG's entropy-coded
//   data, the function returns without adding bits, the caller (stbi__jpeg_get_bits,
//   stbi__extend_receive) still subtracts n from code_bits, which goes negative; the next call
//   computes b << (24 - code_bits) with a shift of 32 or more -- undefined behaviour. Later stb
//   versions return 0s when the stream has run out ("if (j->code_bits < n) return 0;").
//
// It cannot be validated away without decoding the scan. It is benign as compiled: once the marker
// is seen, b is always 0, and 0 shifted by anything is 0 (x86-64 masks the count anyway), so the
// rest of the image decodes as zeros -- the "truncated JPEG decodes to grey rows" behaviour. The
// sanitizer and fuzz builds therefore turn off UBSan's shift checks for this file only
// (CMakeLists.txt); every other check, and ASan, stay on.
//
// The stb_image 2.27 empty-IDAT defect (found by tests/fuzz/image_fuzz.cpp; the reproducer is
// tests/fuzz/regressions/image/png-empty-first-idat.png):
//
//   stb_image.h v2.27, stbi__parse_png_file, case IDAT: the first IDAT chunk allocates z->idata only
//   when ioff + length > idata_limit; a chunk of length 0 allocates nothing, and stbi__getn then calls
//   memcpy(NULL, src, 0) -- undefined behaviour (memcpy's arguments are declared non-null), which
//   UBSan reports and an optimiser may exploit. Fix: skip the copy when n == 0.
//
// An empty IDAT carries no data, so we refuse it before stb runs. The walk reads chunks as stb does:
// a 4-byte big-endian length, a 4-byte type, the data and a 4-byte CRC, until IEND.
void check_png_chunks(const unsigned char* b, size_t n, const std::string& where) {
  size_t i = 8;  // after the signature
  while (i + 8 <= n) {
    const uint64_t length = (uint64_t{b[i]} << 24) | (uint64_t{b[i + 1]} << 16) |
                            (uint64_t{b[i + 2]} << 8) | uint64_t{b[i + 3]};
    const bool idat = std::equal(b + i + 4, b + i + 8, "IDAT");
    NIBBLE_CHECK(!(idat && length == 0), "load_image",
                 where + "corrupt PNG: empty IDAT chunk at byte " + std::to_string(i),
                 "the file is damaged or crafted; stb_image 2.27 misbehaves on it");
    if (std::equal(b + i + 4, b + i + 8, "IEND") || length > n) break;
    i += 12 + static_cast<size_t>(length);
  }
}

// A binary PGM/PPM header "P5|P6 <ws> width <ws> height <ws> maxval <one ws>" (with # comments),
// read as stb reads it; the pixel data after it must be all there: stb 2.27 ignores a short read
// and returns the uninitialised rest of its buffer as pixels.
void check_pnm_data(const unsigned char* b, size_t n, const std::string& where) {
  size_t pos = 2;
  auto get = [&]() -> int { return pos < n ? b[pos++] : -1; };
  auto is_space = [](int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  };
  int c = get();
  auto skip_space = [&] {
    for (;;) {
      while (c >= 0 && is_space(c)) c = get();
      if (c != '#') break;
      while (c >= 0 && c != '\n' && c != '\r') c = get();
    }
  };
  auto integer = [&](const char* what) {
    uint64_t value = 0;
    int digits = 0;
    while (c >= '0' && c <= '9') {
      NIBBLE_CHECK(++digits <= 9, "load_image",
                   where + "PNM header: the " + std::string(what) + " has more than 9 digits");
      value = value * 10 + static_cast<uint64_t>(c - '0');
      c = get();
    }
    NIBBLE_CHECK(
        digits > 0, "load_image",
        where + "PNM header: expected the " + std::string(what) + " (a number)",
        "a binary PGM/PPM starts \"P5\" or \"P6\", then width, height and the maximum value");
    return value;
  };
  skip_space();
  const uint64_t width = integer("width");
  skip_space();
  const uint64_t height = integer("height");
  skip_space();
  const uint64_t maxval = integer("maximum value");
  NIBBLE_CHECK(c >= 0 && is_space(c), "load_image",
               where + "PNM header: expected one whitespace character after the maximum value");
  NIBBLE_CHECK(width >= 1 && height >= 1 && maxval >= 1 && maxval <= 65535, "load_image",
               where + "PNM header: width " + std::to_string(width) + ", height " +
                   std::to_string(height) + ", maximum value " + std::to_string(maxval) +
                   " (width and height must be >= 1, the maximum 1..65535)");
  const uint64_t channels = b[1] == '6' ? 3 : 1;
  const uint64_t expected =
      pos + width * height * channels * (maxval > 255 ? 2 : 1);  // < 2^63: 9-digit sides
  NIBBLE_CHECK(n >= expected, "load_image",
               where + "truncated at byte " + std::to_string(n) + " (expected " +
                   std::to_string(expected) + "): the " + std::to_string(width) + " x " +
                   std::to_string(height) + " PNM's pixel data is incomplete",
               "the file was cut short (interrupted copy?)");
}

// An uncompressed BMP (BI_RGB or BI_BITFIELDS) must hold its rows in full: stb reads past the end
// as zeros, so a truncated file would load "fine" with black rows.
void check_bmp_data(const unsigned char* b, size_t n, const std::string& where) {
  auto u16 = [&](size_t at) -> uint64_t { return uint64_t{b[at]} | uint64_t{b[at + 1]} << 8; };
  auto u32 = [&](size_t at) -> uint64_t { return u16(at) | u16(at + 2) << 16; };
  if (n < 26) return;  // too short to describe pixels: stb refuses it
  const uint64_t offset = u32(10), header = u32(14);
  uint64_t width, height, bits, compression;
  if (header == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes, no compression
    width = u16(18), height = u16(20), bits = u16(24), compression = 0;
  } else if (header >= 40 && n >= 34) {
    const auto w = static_cast<int32_t>(u32(18)), h = static_cast<int32_t>(u32(22));
    width = w < 0 ? 0 : static_cast<uint64_t>(w);
    height = static_cast<uint64_t>(h < 0 ? -static_cast<int64_t>(h)
                                         : h);  // negative: rows stored top-down
    bits = u16(28), compression = u32(30);
  } else {
    return;  // stb refuses other headers
  }
  const bool uncompressed = compression == 0 || compression == 3;
  if (!uncompressed || width == 0 || height == 0 || width > (1u << 24) || height > (1u << 24) ||
      (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32))
    return;  // RLE (stb refuses it), or sizes stb refuses itself
  const uint64_t stride = (width * bits + 31) / 32 * 4;  // rows are padded to 4 bytes
  const uint64_t expected = offset + stride * height;
  NIBBLE_CHECK(n >= expected, "load_image",
               where + "truncated at byte " + std::to_string(n) + " (expected " +
                   std::to_string(expected) + "): the " + std::to_string(width) + " x " +
                   std::to_string(height) + " BMP's pixel rows are incomplete",
               "the file was cut short (interrupted copy?)");
}

}  // namespace

Tensor load_image(const std::string& path, int64_t max_values) {
  const std::vector<unsigned char> bytes = read_file_bytes(path, "load_image");
  return decode_image(bytes.data(), bytes.size(), path, max_values);
}

Tensor decode_image(const unsigned char* data, size_t size, const std::string& source_name,
                    int64_t max_values) {
  const std::string where = source_name + ": ";
  NIBBLE_CHECK(max_values >= 1, "load_image",
               where + "max_values must be >= 1, got " + std::to_string(max_values));
  NIBBLE_CHECK(size > 0, "load_image", where + "the file is empty");
  NIBBLE_CHECK(size <= static_cast<size_t>(INT_MAX), "load_image", where + "file too large");
  const ImageFormat format = sniff_format(data, size, where);
  if (format == ImageFormat::Png) check_png_chunks(data, size, where);
  if (format == ImageFormat::Jpeg) check_jpeg_huffman_tables(data, size, where);
  if (format == ImageFormat::Pnm) check_pnm_data(data, size, where);
  if (format == ImageFormat::Bmp) check_bmp_data(data, size, where);

  // The size from the header, before stb allocates anything for the pixels.
  int width = 0, height = 0, channels = 0;
  int header_ok = 0;
  {
    const stb_budget::Scope budget(size_t{1} << 20);  // the decoder's state, no pixels yet
    header_ok = stbi_info_from_memory(data, static_cast<int>(size), &width, &height, &channels);
  }
  if (header_ok == 0) {
    fail("load_image", where + "cannot decode image (" + failure_reason() + ")",
         "is the file a complete PNG/JPEG/BMP/PGM/PPM? it may be truncated or not an image at all");
  }
  // Divide instead of multiplying: a header may claim width = height = 2^31 - 1, whose product
  // times the channels overflows int64 (found by the fuzzer, tests/fuzz/regressions/image/).
  char claimed[32];
  std::snprintf(claimed, sizeof claimed, "%.0f", static_cast<double>(width) * height * channels);
  const bool fits = width >= 1 && height >= 1 && channels >= 1 &&
                    static_cast<int64_t>(width) <= max_values / height / channels;
  NIBBLE_CHECK(fits, "load_image",
               where + "the image is " + std::to_string(width) + " x " + std::to_string(height) +
                   " x " + std::to_string(channels) + " = " +
                   claimed +
                   " values, more than the limit " + std::to_string(max_values),
               "shrink the image, or pass a larger max_values to load_image / decode_image");

  // stb's largest honest block: a 16-bit PNG's inflated rows (2 bytes a value plus a filter byte a
  // row, and stb's own slack) or a progressive JPEG's coefficients (2 bytes a value, rounded up to
  // whole 8 x 8 blocks at the largest subsampling) -- both under 8 bytes a value; 1 MiB covers the
  // fixed tables of a tiny image.
  const int64_t values = static_cast<int64_t>(width) * height * channels;  // <= max_values: checked
  const stb_budget::Scope budget(static_cast<size_t>(values) * 8 + (size_t{1} << 20));
  unsigned char* pixels =
      stbi_load_from_memory(data, static_cast<int>(size), &width, &height, &channels,
                            /*desired_channels=*/0);
  if (pixels == nullptr && failure_reason() == "outofmem") {
    fail("load_image",
         where + "cannot decode image: decoding needs a block of memory larger than a " +
             std::to_string(width) + " x " + std::to_string(height) + " x " +
             std::to_string(channels) + " image can (its compressed data expands far beyond its pixels)",
         "the file is damaged or crafted; re-save it with an image editor");
  }
  if (pixels == nullptr) {
    fail("load_image", where + "cannot decode image (" + failure_reason() + ")",
         "is the file a complete PNG/JPEG/BMP/PGM/PPM? it may be truncated or not an image at all");
  }
  // stb gives 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGB + alpha; we keep grey or RGB.
  const int kept = channels <= 2 ? 1 : 3;
  Tensor out;
  try {
    out = Tensor::empty({kept, height, width});
  } catch (...) {
    stbi_image_free(pixels);
    throw;
  }
  float* dst = out.data();
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int c = 0; c < kept; ++c) {
    for (int64_t p = 0; p < plane; ++p) dst[c * plane + p] = pixels[p * channels + c] / 255.0f;
  }
  stbi_image_free(pixels);
  return out;
}

void save_png(const std::string& path, const Tensor& image) {
  const char* op = "save_png";
  NIBBLE_CHECK(image.defined(), op, path + ": the tensor is undefined");
  const int64_t rank = image.dim();
  const bool ok_shape = rank == 2 || (rank == 3 && (image.size(0) == 1 || image.size(0) == 3));
  NIBBLE_CHECK(ok_shape, op,
        path + ": expected [H, W], [1, H, W] or [3, H, W] but got " + image.shape_str(),
        "for a batch, save one image: x.select(0, i)");
  const int channels = rank == 3 ? static_cast<int>(image.size(0)) : 1;
  const int64_t height = image.size(-2), width = image.size(-1);
  check_side(height, path, op, "height");
  check_side(width, path, op, "width");

  const Tensor x = image.contiguous();  // [C, H, W] planes -> interleaved H x W x C bytes
  const float* src = x.data();
  const int64_t plane = height * width;
  std::vector<unsigned char> pixels(static_cast<size_t>(plane * channels));
  for (int c = 0; c < channels; ++c) {
    for (int64_t p = 0; p < plane; ++p) {
      const float v = src[c * plane + p];
      NIBBLE_CHECK(std::isfinite(v), op,
            path + ": value " + std::to_string(v) + " at channel " + std::to_string(c) +
                ", pixel " + std::to_string(p) + " is not finite");
      pixels[static_cast<size_t>(p * channels + c)] =
          static_cast<unsigned char>(std::lround(std::fmin(std::fmax(v, 0.0f), 1.0f) * 255.0f));
    }
  }
  write_png_pixels(path, op, height, width, channels, pixels);
}

namespace {

// The viridis heatmap of a 2-d map as PNG bytes (see save_heatmap_png); `path` names it in errors.
std::vector<unsigned char> heatmap_png_bytes(const std::string& path, const char* op, const Tensor& map,
                                             int64_t upscale) {
  NIBBLE_CHECK(map.defined() && map.dim() == 2, op,
        path + ": expected a 2-d map [H, W] but got " +
            (map.defined() ? map.shape_str() : "undefined"),
        "pick one map first, e.g. attention.select(0, head)");
  NIBBLE_CHECK(upscale >= 1 && upscale <= kMaxSide, op,
        path + ": upscale must be >= 1, got " + std::to_string(upscale));
  const int64_t height = map.size(0), width = map.size(1);
  check_side(height * upscale, path, op, "height * upscale");
  check_side(width * upscale, path, op, "width * upscale");

  const std::vector<float> values = map.to_vector();
  float lo = values[0], hi = values[0];
  for (size_t i = 0; i < values.size(); ++i) {
    NIBBLE_CHECK(std::isfinite(values[i]), op,
          path + ": value " + std::to_string(values[i]) + " at index " + std::to_string(i) +
              " is not finite");
    lo = std::fmin(lo, values[i]);
    hi = std::fmax(hi, values[i]);
  }
  const double range = static_cast<double>(hi) - lo;  // in double: hi - lo may overflow a float

  const int64_t out_w = width * upscale, out_h = height * upscale;
  std::vector<unsigned char> pixels(static_cast<size_t>(out_w * out_h * 3));
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      unsigned char rgb[3];
      const double v = values[static_cast<size_t>(y * width + x)];
      viridis(range > 0.0 ? static_cast<float>((v - lo) / range) : 0.5f, rgb);
      for (int64_t dy = 0; dy < upscale; ++dy) {
        for (int64_t dx = 0; dx < upscale; ++dx) {
          unsigned char* px =
              &pixels[static_cast<size_t>(((y * upscale + dy) * out_w + x * upscale + dx) * 3)];
          px[0] = rgb[0], px[1] = rgb[1], px[2] = rgb[2];
        }
      }
    }
  }
  return encode_png(path, op, out_h, out_w, 3, pixels);
}

}  // namespace

void save_heatmap_png(const std::string& path, const Tensor& map, int64_t upscale) {
  write_png_bytes(path, "save_heatmap_png", heatmap_png_bytes(path, "save_heatmap_png", map, upscale));
}

std::vector<unsigned char> heatmap_png(const Tensor& map, int64_t upscale) {
  return heatmap_png_bytes("the heatmap", "heatmap_png", map, upscale);
}

}  // namespace nibble::io
