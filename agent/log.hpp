#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace gpuhost::agent::log {

enum class Level { Debug, Info, Warn, Error };

/// Sets the minimum level that is written; "debug", "info", "warn" or "error".
void setLevel(std::string_view level);
bool enabled(Level level);

using Field = std::pair<std::string_view, std::string_view>;

/// Writes one logfmt line to stderr: `ts=… level=… msg=… key=value …`. Values are
/// quoted and escaped, so no input can split a line or forge a field.
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) {
    write(Level::Debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {}) {
    write(Level::Info, m, f);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) {
    write(Level::Warn, m, f);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {}) {
    write(Level::Error, m, f);
}

/// Also hands every written line to `observer` (null: none); for tests that check what
/// an operator would read. Set it before the threads that log start, clear it after.
void setObserver(void (*observer)(std::string_view line));

/// Escapes a value for logfmt (exposed for tests).
std::string quote(std::string_view value);

}  // namespace gpuhost::agent::log
