// temp_dir.hpp — a fresh directory under the system temp dir for one test, removed with
// everything in it at scope exit. Shared by the unit tests that write files (io, checkpoint,
// data); the tag names the test in the directory's name.
#pragma once
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>

namespace moe::test {

struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string & tag) {
        static std::atomic<int> counter{0};
        const auto ticks =
            std::chrono::steady_clock::now().time_since_epoch().count(); // unique across pid namespaces too
        path = std::filesystem::temp_directory_path() / ("moe_test_" + tag + "_" + std::to_string(::getpid()) + "_" +
                                                         std::to_string(counter++) + "_" + std::to_string(ticks));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir & operator=(const TempDir &) = delete;
    std::string file(const std::string & name) const { return (path / name).string(); }
};

} // namespace moe::test
