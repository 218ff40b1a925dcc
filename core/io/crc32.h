// CRC-32 (zlib's, the polynomial of gzip and PNG) of a byte range of any size: the checksum the
// checkpoint (core/io/checkpoint.cpp) and .nbz (compression/nbz.cpp) formats end with.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace nibble::io {

inline uint32_t crc32_of(const unsigned char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {  // zlib takes uInt lengths: feed it in chunks
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, data, chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace nibble::io
