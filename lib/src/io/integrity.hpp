// integrity.hpp — private to lib/src/io: the run file's 512-byte integrity header (file size and
// CRC-32 in HDF5's user block), filled by RunWriter::commit() and checked by RunReader before
// libhdf5 sees a byte (integrity.cpp).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace moe::io::detail {

constexpr size_t kRunHeaderBytes = 512;

// Writes the header into the first kRunHeaderBytes of the finished image (size and CRC-32 of
// the bytes after it).
void fill_header(std::vector<unsigned char> & image);

// MOE_RUN_FILE_CHECK=0 in the environment: read run files without the check.
bool check_disabled();

// Reads the whole file and checks the header; returns the bytes libhdf5 may open.
std::vector<unsigned char> read_checked(const std::string & path);

} // namespace moe::io::detail
