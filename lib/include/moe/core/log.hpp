// moe/core/log.hpp — the logging hook. The library never writes to stdout/stderr; it calls
// the installed callback (default: drop everything). Apps install a printer.
#pragma once
#include <functional>
#include <string>
#include <string_view>

namespace moe {

enum class LogLevel : int { debug = 0, info = 1, warn = 2, error = 3 };

using LogCallback = std::function<void(LogLevel, std::string_view)>;

void set_log_callback(LogCallback cb);
void log_message(LogLevel level, std::string_view msg);
inline void log_info(std::string_view m) { log_message(LogLevel::info, m); }
inline void log_warn(std::string_view m) { log_message(LogLevel::warn, m); }
inline void log_debug(std::string_view m) { log_message(LogLevel::debug, m); }

} // namespace moe
