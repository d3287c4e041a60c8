// moe/data/source_size.hpp — what the "data" section will load, told from the sources' declared
// shapes before any sample is read (IDX headers, HDF5 dataspaces, CSV file sizes, the synthetic
// generator's config, the text corpus' file sizes) and the row limits; the memory guard
// (moe/train/memory_estimate.hpp) sizes a run with it.
#pragma once
#include <cstdint>
#include <string>

#include "moe/data/config.hpp"

namespace moe::data {

struct SourceSize {
    int64_t train_rows = 0, test_rows = 0; // samples kept (after data.train_limit / test_limit)
    int64_t declared_rows = 0;             // training samples the source declares (before the limit)
    int d = 0, channels = 0, height = 0, width = 0;
    int n_classes = 0;   // when the source tells without reading its labels (else 0)
    uint64_t bytes = 0;  // what loading and building the splits holds at its peak
    uint64_t sample_bytes = 0; // one copy of the samples kept
    bool known = false;  // false: a source could not be described (its loader will say why)
};

// Never throws: a source that cannot be opened or parsed gives known = false, and the loader
// reports the problem in its own words.
SourceSize source_size(const DataConfig & cfg);

} // namespace moe::data
