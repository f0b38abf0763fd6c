#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "model/error.hpp"

// The unmount helper's protocol, shared by the helper (gpuhost-unmount) and its client in
// gpuhostd: one connection, one request line "<name>\n", one answer line "ok\n" or
// "error: <reason>\n". The helper acts only on <root>/<name>, where root is its argv.
namespace gpuhost::drivers::unmount {

/// Owns a file descriptor: closed when it goes out of scope.
class Descriptor {
  public:
    explicit Descriptor(int fd) : fd_(fd) {}
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    ~Descriptor();
    int get() const { return fd_; }

  private:
    int fd_;
};

/// The longest request the helper reads, newline included.
inline constexpr std::size_t kMaxRequestBytes = 256;
/// The longest name it accepts (filesystem directories are "gpuhost-fs-<uuid>", 47 bytes).
inline constexpr std::size_t kMaxNameBytes = 128;

/// A plain directory name: 1-128 of [A-Za-z0-9._-], not starting with '.' (so never "." or
/// ".."), hence no '/', and nothing that can leave the root.
bool isValidName(std::string_view name);

/// True when `path` (never followed if a symlink) is a directory on another device than its
/// parent, i.e. something is mounted on it.
bool isMountPoint(const std::filesystem::path& path);

/// Opens `root` (O_PATH) walking from "/" without following symlinks, each component and the
/// root itself owned by root and not writable by others unless sticky; -1 and `why` if not.
int openTrustedRoot(const std::filesystem::path& root, std::string& why);

/// Serves one request line (without its newline) for mounts directly under `root`: checks
/// the name and that root/name is a mount point, then umount2()s it (not lazily: a busy
/// mount is refused and stays). Returns the answer line.
std::string serve(const std::filesystem::path& root, std::string_view line);

/// Reads the helper's answer: ok, or an Internal error carrying its reason.
model::Result<void> parseAnswer(std::string_view answer);

}  // namespace gpuhost::drivers::unmount
