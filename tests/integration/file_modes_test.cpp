// File modes (issue 16, item 6): the store holds userData and the seeds are built from it, so
// nothing gpuhostd keeps under state_dir may be readable by other local users, including
// what an older run left with wider modes (0755 folders, a 0644 database).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "api_helpers.hpp"
#include "support/temp_dir.hpp"

using namespace gpuhost::test;
namespace fs = std::filesystem;

namespace {

unsigned modeOf(const fs::path& path) {
    struct stat info {};
    REQUIRE_MESSAGE(::stat(path.c_str(), &info) == 0, path);
    return info.st_mode & 07777;
}

// What an older gpuhostd (no umask) left: a world-readable state folder and database.
void leaveWideModes(const fs::path& state) {
    fs::create_directories(state);
    ::chmod(state.c_str(), 0755);
    std::ofstream(state / "gpuhost.db").close();  // an empty file is a new SQLite database
    ::chmod((state / "gpuhost.db").c_str(), 0644);
}

// A running instance: its seed (user-data) and root disk are in the pool by then.
void runInstance(Daemon& daemon) {
    auto project = createProject(daemon.port(), "modes");
    auto created = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                               R"({"name":"vm","type":"cpu.small","userData":"c2VjcmV0"})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    auto id = nlohmann::json::parse(created.body).at("id").get<std::string>();
    REQUIRE(waitForState(daemon.port(), project, id, "running").is_object());
}

// Every file and folder below `state` (not `state` itself) is owner-only; returns how many.
int checkOwnerOnlyBelow(const fs::path& state) {
    int seen = 0;
    for (const auto& entry : fs::recursive_directory_iterator(state)) {
        CAPTURE(entry.path());
        CHECK((modeOf(entry.path()) & 077) == 0);
        ++seen;
    }
    return seen;
}

}  // namespace

TEST_CASE("file modes: state_dir 0711 around the pool, store, WAL and seeds 0600, the rest owner-only") {
    Daemon daemon;
    fs::path state = daemon.dir() / "state";
    leaveWideModes(state);
    daemon.start();
    runInstance(daemon);
    // QEMU (another user) must traverse state_dir to the pool inside it; nobody may list it.
    CHECK(modeOf(state) == 0711);
    for (const char* file : {"gpuhost.db", "gpuhost.db-wal", "gpuhost.db-shm"}) {
        CAPTURE(file);
        CHECK(modeOf(state / file) == 0600);
    }
    CHECK(modeOf(state / "scratch") == 0700);
    CHECK(modeOf(state / "console") == 0700);
    bool seedSeen = false;
    for (const auto& entry : fs::directory_iterator(daemon.poolPath())) {
        seedSeen = seedSeen || entry.path().filename().string().find("seed") != std::string::npos;
        CAPTURE(entry.path());
        CHECK(modeOf(entry.path()) == 0600);
    }
    CHECK(seedSeen);
    CHECK(checkOwnerOnlyBelow(state) > 5);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("file modes: with the pool elsewhere, state_dir is 0700") {
    TempDir pool("gpuhost-pool");
    Daemon daemon("libvirt:\n  uri: test:///default\n  virt_type: qemu\n  pool: @POOL@\n  pool_path: " +
                  (pool.path / "pool").string() + "\n");
    fs::path state = daemon.dir() / "state";
    leaveWideModes(state);
    daemon.start();
    createProject(daemon.port(), "modes");
    CHECK(modeOf(state) == 0700);
    CHECK(modeOf(state / "gpuhost.db") == 0600);
    CHECK(checkOwnerOnlyBelow(state) >= 3);  // the database, its WAL and shared memory, scratch
    CHECK(daemon.stop() == 0);
}
