#include "model/project.hpp"

#include <cstdio>
#include <ctime>

namespace gpuhost::model {

std::string_view nameOf(ProjectState state) {
    switch (state) {
        case ProjectState::Active:
            return "active";
        case ProjectState::Deleting:
            return "deleting";
    }
    return "active";
}

std::optional<ProjectState> projectStateFromString(std::string_view text) {
    if (text == "active") {
        return ProjectState::Active;
    }
    if (text == "deleting") {
        return ProjectState::Deleting;
    }
    return std::nullopt;
}

std::string formatTimestamp(Timestamp t) {
    auto days = std::chrono::floor<std::chrono::days>(t);
    std::chrono::year_month_day ymd{days};
    std::chrono::hh_mm_ss hms{t - days};
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%04d-%02u-%02uT%02ld:%02ld:%02ld.%03ldZ",
                  static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                  static_cast<long>(hms.minutes().count()), static_cast<long>(hms.seconds().count()),
                  static_cast<long>(hms.subseconds().count()));
    return buffer;
}

std::optional<Timestamp> parseTimestamp(std::string_view text) {
    int year = 0;
    unsigned month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
    std::string copy(text);
    if (std::sscanf(copy.c_str(), "%4d-%2u-%2uT%2u:%2u:%2u.%3uZ", &year, &month, &day, &hour, &minute,
                    &second, &millis) != 7) {
        return std::nullopt;
    }
    std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{month},
                                    std::chrono::day{day}};
    if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    return Timestamp{std::chrono::sys_days{ymd}} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
           std::chrono::seconds{second} + std::chrono::milliseconds{millis};
}

}  // namespace gpuhost::model
