// log.cpp — the logging hook of moe/core/log.hpp: one process-wide callback, installed and
// called under a mutex (default: none, so messages are dropped).
#include "moe/core/log.hpp"

#include <mutex>

namespace moe {

static std::mutex g_log_mu;
static LogCallback g_log_cb;

void set_log_callback(LogCallback cb) {
    std::lock_guard<std::mutex> lk(g_log_mu);
    g_log_cb = std::move(cb);
}

void log_message(LogLevel level, std::string_view msg) {
    std::lock_guard<std::mutex> lk(g_log_mu);
    if (g_log_cb) g_log_cb(level, msg);
}

} // namespace moe
