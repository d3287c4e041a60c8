// fuzz_run_file — libFuzzer target for the HDF5 run-file reader (moe/io/run_file.hpp).
//
// Each input is written to one scratch file per process (in $MOE_FUZZ_SCRATCH, else /dev/shm
// when it is writable, else $TMPDIR or /tmp) and opened with io::RunReader, which must report
// every problem as moe::Error. By default the reader checks the integrity header (size and
// CRC-32) first, as every moe-lab binary does; with MOE_RUN_FILE_CHECK=0 in the environment
// (run_fuzz.sh's second run-file pass) libhdf5 parses the mutated bytes themselves. The reader is then driven the way moe-train --resume / base
// loading and moe-eval use it: the root attributes, /spec (and parse_spec on it), the members
// of /params and /metrics (shape, read_floats, read_doubles), and load_params into a
// ParamStore<float> built from the file's own parameter shapes (so a valid file reaches the
// copy and the NaN check) and into one that also wants a tensor the file lacks.
// A finding is a crash, a sanitizer report, any exception other than moe::Error, or an HDF5
// id still open after the reader is gone.
// HDF5's automatic error printing is switched off (the reader does it as well).
#include <unistd.h>

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_common.hpp"
#include "moe/core/error.hpp"
#include "moe/core/params.hpp"
#include "moe/io/run_file.hpp"
#include "moe/spec/spec.hpp"

const char * const fuzz::kTarget = "fuzz_run_file";
using fuzz::finding;
using fuzz::guarded;

namespace {

std::string g_path;

bool write_input(const uint8_t * data, size_t size) {
    std::FILE * f = std::fopen(g_path.c_str(), "wb");
    if (!f) return false;
    const bool ok = (size == 0 || std::fwrite(data, 1, size, f) == size);
    return std::fclose(f) == 0 && ok;
}

void remove_scratch() { std::remove(g_path.c_str()); }

constexpr size_t kMaxMembers = 16;        // members of a group looked at
constexpr int64_t kMaxElements = 1 << 20; // largest tensor put in the ParamStore

void exercise(const moe::io::RunReader & r) {
    for (const char * a : {"format_version", "tool", "version", "git", "created"})
        guarded("attr_string", [&] { (void)r.attr_string("/", a); });

    guarded("spec", [&] {
        const std::string text = r.spec_json();
        const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (!j.is_discarded()) (void)moe::spec::parse_spec(j, r.path());
    });

    std::vector<std::string> params;
    guarded("list params", [&] { params = r.list("params"); });
    if (params.size() > kMaxMembers) params.resize(kMaxMembers);
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
    for (const auto & n : params) {
        const std::string p = "params/" + n;
        std::vector<int64_t> shp;
        if (!guarded("shape", [&] { shp = r.shape(p); })) continue;
        guarded("read_floats", [&] { (void)r.read_floats(p); });
        guarded("attr trainable", [&] { (void)r.attr_string(p, "trainable"); });
        int64_t n_el = 1;
        bool fits = !shp.empty();
        for (auto d : shp) {
            if (d <= 0 || d > kMaxElements || n_el * d > kMaxElements) {
                fits = false;
                break;
            }
            n_el *= d;
        }
        if (fits) shapes.emplace_back(n, shp);
    }

    for (const char * g : {"metrics/train", "metrics/eval"}) {
        std::vector<std::string> series;
        guarded("list metrics", [&] { series = r.list(g); });
        if (series.size() > kMaxMembers) series.resize(kMaxMembers);
        for (const auto & s : series) {
            const std::string p = std::string(g) + "/" + s;
            guarded("has", [&] { (void)r.has(p); });
            guarded("read_doubles", [&] { (void)r.read_doubles(p); });
        }
    }

    // the file's own tensors: a valid file loads
    if (!shapes.empty()) {
        guarded("load_params (own shapes)", [&] {
            moe::ParamStore<float> store;
            for (const auto & [n, shp] : shapes) store.declare(n, shp, true, moe::Init::Zeros());
            store.allocate(0);
            r.load_params(store, {});
        });
    }
    // a fixed small model, selected by name, plus a tensor the file does not have
    guarded("load_params (fixed model)", [&] {
        moe::ParamStore<float> store;
        store.declare("head.bias", {10}, true, moe::Init::Zeros());
        store.declare("layers.0.bias", {4}, false, moe::Init::Zeros());
        store.declare("fuzz.absent", {3}, true, moe::Init::Zeros());
        store.allocate(0);
        r.load_params(store, {"head.bias", "layers.0.bias"});
        r.load_params(store, {});
    });
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    std::string dir = "/dev/shm";
    if (const char * s = std::getenv("MOE_FUZZ_SCRATCH"); s && *s)
        dir = s; // run_fuzz.sh: removed afterwards
    else if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        const char * t = std::getenv("TMPDIR");
        dir = (t && *t) ? t : "/tmp";
    }
    g_path = dir + "/moe-fuzz-run-" + std::to_string(::getpid()) + ".h5";
    std::atexit(remove_scratch);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    if (!write_input(data, size)) finding("setup", "cannot write the scratch file " + g_path);
    guarded("RunReader", [&] {
        moe::io::RunReader r(g_path);
        exercise(r);
    });
    // every HDF5 id the reader opened must be closed again (RAII handles)
    const ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ids != 0)
        finding("RunReader", std::to_string(open_ids) + " HDF5 object(s) still open after the reader was destroyed");
    return 0;
}
