#include "file_modes.hpp"

#include <sys/stat.h>

#include <algorithm>

namespace gpuhost::agent {

namespace fs = std::filesystem;

void restrictNewFiles() {
    ::umask(077);
}

void makeDirectory(const fs::path& dir, fs::perms mode) {
    fs::create_directories(dir);
    fs::permissions(dir, mode, fs::perm_options::replace);
}

bool isInside(const fs::path& path, const fs::path& dir) {
    auto inner = fs::absolute(path).lexically_normal();
    auto outer = fs::absolute(dir).lexically_normal();
    auto [end, at] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
    // "a/b/" normalizes with an empty last part: it matches anything below.
    return end == outer.end() || (std::next(end) == outer.end() && end->empty());
}

fs::perms stateDirMode(const fs::path& stateDir, const fs::path& poolRoot) {
    if (isInside(poolRoot, stateDir)) {
        return kPrivateDir | fs::perms::group_exec | fs::perms::others_exec;
    }
    return kPrivateDir;
}

}  // namespace gpuhost::agent
