#include "log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>

#include "model/project.hpp"

namespace gpuhost::agent::log {

namespace {

std::atomic<Level> minimumLevel{Level::Info};

std::string_view levelName(Level level) {
    switch (level) {
        case Level::Debug:
            return "debug";
        case Level::Info:
            return "info";
        case Level::Warn:
            return "warn";
        case Level::Error:
            return "error";
    }
    return "info";
}

bool needsQuotes(std::string_view value) {
    if (value.empty()) {
        return true;
    }
    for (unsigned char c : value) {
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7F) {
            return true;
        }
    }
    return false;
}

}  // namespace

void setLevel(std::string_view level) {
    if (level == "debug") {
        minimumLevel = Level::Debug;
    } else if (level == "warn") {
        minimumLevel = Level::Warn;
    } else if (level == "error") {
        minimumLevel = Level::Error;
    } else {
        minimumLevel = Level::Info;
    }
}

bool enabled(Level level) {
    return level >= minimumLevel.load(std::memory_order_relaxed);
}

std::string quote(std::string_view value) {
    if (!needsQuotes(value)) {
        return std::string(value);
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (unsigned char c : value) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7F) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    return out;
}

namespace {
std::atomic<void (*)(std::string_view)> lineObserver{nullptr};
}  // namespace

void setObserver(void (*observer)(std::string_view line)) {
    lineObserver.store(observer);
}

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
    if (!enabled(level)) {
        return;
    }
    auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    std::string line;
    line.reserve(128);
    line += "ts=" + model::formatTimestamp(now);
    line += " level=";
    line += levelName(level);
    line += " msg=" + quote(message);
    for (const auto& [key, value] : fields) {
        line += ' ';
        line += key;
        line += '=';
        line += quote(value);
    }
    line += '\n';
    // One write(2) per line keeps lines from different threads whole.
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, line.data(), line.size());
    if (auto* observer = lineObserver.load()) {
        observer(line);
    }
}

}  // namespace gpuhost::agent::log
