#include "unmount/unmount_protocol.hpp"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace gpuhost::drivers::unmount {

bool isValidName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameBytes || name.front() == '.') {
        return false;
    }
    for (char c : name) {
        bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '_' || c == '-';
        if (!allowed) {
            return false;
        }
    }
    return true;
}

bool isMountPoint(const std::filesystem::path& path) {
    struct stat self {
    }, parent{};
    return ::lstat(path.c_str(), &self) == 0 && S_ISDIR(self.st_mode) &&
           ::stat(path.parent_path().c_str(), &parent) == 0 && self.st_dev != parent.st_dev;
}

std::string serve(const std::filesystem::path& root, std::string_view line) {
    if (!isValidName(line)) {
        return "error: invalid name (1-128 of A-Z a-z 0-9 . _ -, not starting with '.')\n";
    }
    auto target = root / std::string(line);
    if (!isMountPoint(target)) {
        return "error: not a mount point\n";
    }
    // UMOUNT_NOFOLLOW: the last component is never followed, even if it became a symlink
    // after the check. No MNT_DETACH: a mount a guest still uses must stay and say so.
    if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) != 0) {
        int error = errno;
        return std::string("error: ") + (error == EBUSY ? "busy (still in use)" : std::strerror(error)) + "\n";
    }
    return "ok\n";
}

model::Result<void> parseAnswer(std::string_view answer) {
    if (answer == "ok\n") {
        return {};
    }
    constexpr std::string_view kError = "error: ";
    std::string reason;
    if (answer.substr(0, kError.size()) == kError && !answer.empty() && answer.back() == '\n') {
        reason = std::string(answer.substr(kError.size(), answer.size() - kError.size() - 1));
    } else {
        reason = "malformed answer";
    }
    // Whatever came back goes into a log line and an API error: printable ASCII only.
    for (char& c : reason) {
        if (c < 0x20 || c > 0x7e) {
            c = '?';
        }
    }
    return model::Error::internal("the unmount helper says: " + reason.substr(0, 200));
}

}  // namespace gpuhost::drivers::unmount
