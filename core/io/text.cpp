#include "core/io/text.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace nibble::data {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string resolve_dir(const std::string& dir) {
  const std::string d = dir.empty() ? kFortunesPackageDir : dir;
  std::error_code ec;
  NIBBLE_CHECK(fs::is_directory(d, ec), "load_fortunes", "directory " + d + " does not exist",
        "apt-get install fortunes");
  return d;
}

// Appends the lines of `content` that are not "%" separators ("%\r" too, for DOS line ends).
void append_without_separators(const std::string& content, std::string& out) {
  size_t start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    const bool has_newline = end != std::string::npos;
    if (!has_newline) end = content.size();
    const std::string_view line(content.data() + start, end - start);
    if (line != "%" && line != "%\r") {
      out.append(line);
      out.push_back('\n');  // also terminates a last line that lacked its newline
    }
    start = end + 1;
  }
}

}  // namespace

std::vector<std::string> fortune_files(const std::string& dir_arg) {
  const std::string dir = resolve_dir(dir_arg);
  std::vector<std::string> names;
  std::error_code list_error;
  fs::directory_iterator listing(dir, list_error);
  NIBBLE_CHECK(!list_error, "load_fortunes", dir + ": cannot list (" + list_error.message() + ")");
  for (const fs::directory_entry& entry : listing) {
    std::error_code ec;
    if (!fs::is_regular_file(entry.path(), ec)) continue;  // follows symlinks; skips subdirectories
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> files;
  for (const std::string& name : names) {
    if (ends_with(name, ".dat")) continue;
    if (ends_with(name, ".u8") &&
        std::binary_search(names.begin(), names.end(), name.substr(0, name.size() - 3))) {
      continue;
    }
    files.push_back(dir + "/" + name);
  }
  return files;
}

std::string load_fortunes(const std::string& dir) {
  const std::vector<std::string> files = fortune_files(dir);
  std::string text;
  for (const std::string& path : files) {
    std::ifstream in(path, std::ios::binary);
    NIBBLE_CHECK(in.good(), "load_fortunes", path + ": cannot open");
    std::ostringstream content;
    content << in.rdbuf();
    append_without_separators(content.str(), text);
  }
  NIBBLE_CHECK(!text.empty(), "load_fortunes",
        "no fortunes found in " + (dir.empty() ? std::string(kFortunesPackageDir) : dir),
        "apt-get install fortunes");
  return text;
}

std::vector<int64_t> CharVocab::encode(std::string_view text) const {
  std::array<int64_t, 256> id_of;
  id_of.fill(-1);
  for (size_t i = 0; i < chars.size(); ++i)
    id_of[static_cast<unsigned char>(chars[i])] = static_cast<int64_t>(i);
  std::vector<int64_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    ids[i] = id_of[c];
    NIBBLE_CHECK(ids[i] >= 0, "CharVocab::encode",
          "byte " + std::to_string(c) + " at position " + std::to_string(i) +
              " is not in the vocabulary",
          "build the vocabulary from text that contains every character you will encode");
  }
  return ids;
}

std::string CharVocab::decode(const std::vector<int64_t>& ids) const {
  std::string text(ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    NIBBLE_CHECK(ids[i] >= 0 && ids[i] < size(), "CharVocab::decode",
          "id " + std::to_string(ids[i]) + " at position " + std::to_string(i) + " is outside 0.." +
              std::to_string(size() - 1));
    text[i] = chars[static_cast<size_t>(ids[i])];
  }
  return text;
}

EncodedText encode_chars(std::string_view text) {
  std::array<bool, 256> seen{};
  for (char c : text) seen[static_cast<unsigned char>(c)] = true;
  EncodedText out;
  for (int b = 0; b < 256; ++b) {
    if (seen[static_cast<size_t>(b)]) out.vocab.chars.push_back(static_cast<char>(b));
  }
  out.ids = out.vocab.encode(text);
  return out;
}

}  // namespace nibble::data
