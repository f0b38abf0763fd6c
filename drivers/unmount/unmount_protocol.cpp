#include "unmount/unmount_protocol.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gpuhost::drivers::unmount {

Descriptor::~Descriptor() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool isValidName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameBytes || name.front() == '.') {
        return false;
    }
    for (char c : name) {
        bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
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

namespace {

// Only root may be able to replace what a step resolves to: owned by root, and not writable by
// group or others unless sticky (like /tmp, where others cannot rename root's entries).
bool onlyRootCanSwap(const struct stat& st) {
    bool othersWrite = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    return st.st_uid == 0 && (!othersWrite || (st.st_mode & S_ISVTX) != 0);
}

}  // namespace

int openTrustedRoot(const std::filesystem::path& root, std::string& why) {
    if (!root.is_absolute()) {
        why = "root is not an absolute path";
        return -1;
    }
    // Walk from "/" one component at a time, never following a symlink, so a component that a
    // non-root user could swap for a link to "/" (which would make this root process unmount
    // /boot or /home) is refused instead of trusted.
    int dir = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (const auto& part : root.relative_path()) {
        struct stat st {};
        if (dir < 0 || ::fstat(dir, &st) != 0 || !onlyRootCanSwap(st)) {
            why = "an ancestor of the root is not root-owned or is writable by others";
            break;
        }
        if (part.empty() || part == "." || part == "..") {
            continue;
        }
        int next = ::openat(dir, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        ::close(dir);
        dir = next;
        if (dir < 0) {
            why = std::string("cannot open the root without following links: ") + std::strerror(errno);
            return -1;
        }
    }
    struct stat st {};
    if (dir >= 0 && why.empty() && (::fstat(dir, &st) != 0 || !onlyRootCanSwap(st))) {
        why = "the root is not root-owned or is writable by others";
    }
    if (!why.empty() && dir >= 0) {
        ::close(dir);
        return -1;
    }
    return dir;
}

std::string serve(const std::filesystem::path& root, std::string_view line) {
    if (!isValidName(line)) {
        return "error: invalid name (1-128 of A-Z a-z 0-9 . _ -, not starting with '.')\n";
    }
    std::string why;
    Descriptor rootFd(openTrustedRoot(root, why));
    if (rootFd.get() < 0) {
        return "error: " + why + "\n";
    }
    std::string name(line);
    struct stat parent {
    }, self{};
    if (::fstat(rootFd.get(), &parent) != 0 ||
        ::fstatat(rootFd.get(), name.c_str(), &self, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(self.st_mode) ||
        self.st_dev == parent.st_dev) {
        return "error: not a mount point\n";
    }
    // Through the opened root (a magic link that cannot be swapped), never by path from "/".
    // UMOUNT_NOFOLLOW: the last component is never followed, even if it became a symlink after
    // the check. No MNT_DETACH: a mount a guest still uses must stay and say so.
    auto target = "/proc/self/fd/" + std::to_string(rootFd.get()) + "/" + name;
    if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) != 0) {
        int error = errno;
        return std::string("error: ") + (error == EBUSY ? "busy (still in use)" : std::strerror(error)) +
               "\n";
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
