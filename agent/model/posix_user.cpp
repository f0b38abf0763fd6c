#include "model/posix_user.hpp"

#include <algorithm>
#include <array>

namespace gpuhost::model {

namespace {

// Sorted, so isReservedUsername can binary-search it (a test checks the order).
constexpr auto kReserved = std::to_array<std::string_view>({
    "_apt",     "_chrony",    "_rpc",
    "adm",      "admin",      "audio",
    "avahi",    "backup",     "bin",
    "cdrom",    "chrony",     "crontab",
    "daemon",   "debian",     "dialout",
    "dip",      "disk",       "dnsmasq",
    "fax",      "floppy",     "games",
    "gnats",    "gpuhost",    "input",
    "irc",      "kmem",       "kvm",
    "list",     "lp",         "mail",
    "man",      "messagebus", "munge",
    "netdev",   "news",       "nobody",
    "nogroup",  "ntp",        "nvidia-persistenced",
    "operator", "plugdev",    "polkitd",
    "postfix",  "proxy",      "render",
    "root",     "sasl",       "sgx",
    "shadow",   "slurm",      "src",
    "ssh",      "sshd",       "staff",
    "statd",    "sudo",       "sync",
    "sys",      "tape",       "tcpdump",
    "tss",      "tty",        "users",
    "utmp",     "uucp",       "uuidd",
    "video",    "voice",      "www-data",
});

// Families of system accounts that grow with systemd and libvirt versions.
constexpr std::array<std::string_view, 2> kReservedPrefixes{"systemd-", "libvirt-"};

bool isUsernameStart(char c) {
    return (c >= 'a' && c <= 'z') || c == '_';
}

bool isUsernameChar(char c) {
    return isUsernameStart(c) || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

std::span<const std::string_view> reservedUsernames() {
    return kReserved;
}

bool isReservedUsername(std::string_view name) {
    for (auto prefix : kReservedPrefixes) {
        if (name.starts_with(prefix)) {
            return true;
        }
    }
    return std::binary_search(kReserved.begin(), kReserved.end(), name);
}

Result<void> validatePosixUsername(std::string_view name, const std::string& field) {
    if (name.empty() || name.size() > kMaxPosixUsernameLength) {
        return Error::invalid(field, "must be 1-32 characters");
    }
    if (!isUsernameStart(name.front())) {
        return Error::invalid(field, "must start with a lowercase letter or '_'");
    }
    if (!std::all_of(name.begin(), name.end(), isUsernameChar)) {
        return Error::invalid(field, "may contain only lowercase letters, digits, '_' and '-'");
    }
    if (isReservedUsername(name)) {
        return Error::invalid(field, "is reserved for a system account or group");
    }
    return {};
}

}  // namespace gpuhost::model
