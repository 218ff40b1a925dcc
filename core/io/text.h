// A character-level text corpus: the Unix `fortune` cookies (Debian package `fortunes`, about
// 2.5 MB of quotations, jokes and verse) -- big enough to train a small character language model
// and to measure its cross-entropy in bits per character.
//
//   std::string text = nibble::data::load_fortunes();
//   nibble::data::EncodedText enc = nibble::data::encode_chars(text);
//   enc.vocab.size()  // about 110 distinct byte values;  enc.ids[i] indexes enc.vocab.chars
//
// Which files are read, from a fortune directory (non-recursive, sorted by name so the text is
// the same on every machine):
//   * every regular file, including symlinks to regular files;
//   * except  *.dat    -- binary indexes made by strfile(1), not text;
//   * except  X.u8     when X exists: Debian ships X.u8 as the UTF-8 copy of X (in practice a
//                       symlink to X), so reading both would count every fortune twice. A .u8
//                       file without a plain twin is read;
//   * subdirectories (e.g. off/, the offensive fortunes) are not entered.
// In each file, fortunes are separated by lines holding only "%"; those lines are dropped and
// the fortunes are concatenated as they are (each file's text ends with a newline).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nibble::data {

constexpr const char* kFortunesPackageDir = "/usr/share/games/fortunes";

// The corpus as one string (raw bytes; UTF-8 characters stay multi-byte). An empty dir means
// kFortunesPackageDir. Throws nibble::Error if the directory is missing or holds no fortunes.
std::string load_fortunes(const std::string& dir = "");

// The files load_fortunes(dir) reads, in order (see the rules above).
std::vector<std::string> fortune_files(const std::string& dir = "");

// A byte-level vocabulary: every distinct byte of the training text, sorted, gets an index.
struct CharVocab {
  std::string chars;  // chars[id] is the byte with index id
  int64_t size() const { return static_cast<int64_t>(chars.size()); }
  // Throws nibble::Error on a byte that is not in the vocabulary.
  std::vector<int64_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int64_t>& ids) const;  // throws on ids outside 0..size-1
};

struct EncodedText {
  CharVocab vocab;
  std::vector<int64_t> ids;  // text[i] == vocab.chars[ids[i]]
};

// Builds the vocabulary from `text` and encodes it.
EncodedText encode_chars(std::string_view text);

}  // namespace nibble::data
