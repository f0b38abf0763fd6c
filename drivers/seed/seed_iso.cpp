#include "seed/seed_iso.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "process/process.hpp"

namespace gpuhost::drivers {

namespace fs = std::filesystem;

namespace {

bool fsyncPath(const fs::path& path, int flags) {
    int fd = open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    bool synced = fsync(fd) == 0;
    close(fd);
    return synced;
}

// Seed files carry user-data (often secrets): owner-only whatever the umask.
constexpr auto kSeedFileMode = fs::perms::owner_read | fs::perms::owner_write;

bool writeFile(const fs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    std::error_code ec;
    fs::permissions(path, kSeedFileMode, fs::perm_options::replace, ec);
    out << content;
    return !ec && static_cast<bool>(out.flush());
}

// A private scratch folder, removed on scope exit.
struct ScratchDir {
    explicit ScratchDir(const fs::path& near) {
        std::string pattern = (near.parent_path() / ".seed-XXXXXX").string();
        if (mkdtemp(pattern.data()) != nullptr) {
            path = pattern;
        }
    }
    ~ScratchDir() {
        std::error_code ignored;
        if (!path.empty()) {
            fs::remove_all(path, ignored);
        }
    }
    fs::path path;
};

}  // namespace

model::Result<void> writeSeedIso(const SeedFiles& files, const fs::path& isoPath) {
    ScratchDir scratch(isoPath);
    if (scratch.path.empty()) {
        return model::Error::internal("cannot create a scratch folder next to " + isoPath.string());
    }
    if (!writeFile(scratch.path / "user-data", files.userData) ||
        !writeFile(scratch.path / "meta-data", files.metaData) ||
        !writeFile(scratch.path / "network-config", files.networkConfig)) {
        return model::Error::internal("cannot write seed files in " + scratch.path.string());
    }
    fs::path partial = scratch.path / "seed.iso";
    // xorriso 1.5.4 was seen to die of SIGSEGV about once in 10,000 runs (bench/scale) and
    // not again on the same input: a second try keeps that from failing a create for good.
    std::string failures;
    for (int attempt = 1;; ++attempt) {
        auto run =
            runProcess({"xorriso", "-as", "mkisofs", "-quiet", "-output", partial.string(), "-volid",
                        "cidata", "-joliet", "-rock", (scratch.path / "user-data").string(),
                        (scratch.path / "meta-data").string(), (scratch.path / "network-config").string()});
        if (!run) {
            return run.error();
        }
        if (run->exitCode == 0) {
            break;
        }
        failures += "xorriso failed (exit " + std::to_string(run->exitCode) + ", try " +
                    std::to_string(attempt) + "): " + run->output + "\n";
        if (attempt == 2) {
            return model::Error::internal(failures);
        }
        std::error_code ignored;
        fs::remove(partial, ignored);
    }
    // Data first, then the rename, then the folder entry: after a crash the final name
    // holds either nothing or the whole seed.
    std::error_code modeError;
    fs::permissions(partial, kSeedFileMode, fs::perm_options::replace, modeError);
    if (modeError || !fsyncPath(partial, O_RDONLY)) {
        return model::Error::internal("cannot restrict or fsync " + partial.string());
    }
    std::error_code ec;
    fs::rename(partial, isoPath, ec);
    if (ec) {
        return model::Error::internal("cannot move the seed ISO to " + isoPath.string() + ": " +
                                      ec.message());
    }
    fs::path folder = isoPath.parent_path().empty() ? fs::path(".") : isoPath.parent_path();
    if (!fsyncPath(folder, O_RDONLY | O_DIRECTORY)) {
        return model::Error::internal("cannot fsync " + folder.string());
    }
    return {};
}

}  // namespace gpuhost::drivers
