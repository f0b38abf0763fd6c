#pragma once

#include <filesystem>

namespace gpuhost::agent {

/// The store holds userData (cloud-init secrets) and the state dir the seeds built from it:
/// nothing the daemon writes is for other local users. umask(077) covers what this process
/// and its children (xorriso) create without a mode; the calls below also narrow what an
/// earlier run (or a hand-made folder) left wider.
void restrictNewFiles();

/// Creates `dir` with its parents and sets its mode to `mode`, even when it existed with a
/// wider one. Throws std::filesystem::filesystem_error (a start-up failure) when it cannot.
void makeDirectory(const std::filesystem::path& dir, std::filesystem::perms mode);

/// state_dir's mode: 0700, or 0711 when `poolRoot` lies inside it, since QEMU (another user)
/// must traverse it to reach the disks; it still cannot list or read anything there.
std::filesystem::perms stateDirMode(const std::filesystem::path& stateDir,
                                    const std::filesystem::path& poolRoot);

/// Whether `path` lies inside `dir` (both made absolute, compared part by part).
bool isInside(const std::filesystem::path& path, const std::filesystem::path& dir);

inline constexpr auto kPrivateDir = std::filesystem::perms::owner_all;
inline constexpr auto kPrivateFile = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

}  // namespace gpuhost::agent
