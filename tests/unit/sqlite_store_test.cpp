#include <doctest/doctest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include <thread>
#include "support/temp_dir.hpp"

#include "blocking_pool.hpp"
#include "store/sqlite_store.hpp"

using namespace gpuhost;
namespace fs = std::filesystem;

namespace {

model::Project makeProject(const std::string& name, long millis) {
    return model::Project{.id = model::Uuid::random(),
                          .name = name,
                          .tags = {{"env", "dev"}, {"team", "ml"}},
                          .state = model::ProjectState::Active,
                          .createdAt = model::Timestamp{std::chrono::milliseconds{millis}}};
}

std::string pragma(const fs::path& file, const char* name) {
    sqlite3* db = nullptr;
    sqlite3_open(file.c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, (std::string("PRAGMA ") + name).c_str(), -1, &stmt, nullptr);
    sqlite3_step(stmt);
    std::string value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

}  // namespace

TEST_CASE("sqlite store: a new database is migrated to the latest schema, in WAL mode") {
    test::TempDir dir("gpuhost-store");
    agent::Metrics metrics;
    {
        agent::SqliteStore store(dir.path / "gpuhost.db", &metrics);
        CHECK(store.schemaVersion() == agent::SqliteStore::latestSchemaVersion());
        CHECK(store.loadProjects()->empty());
    }
    CHECK(pragma(dir.path / "gpuhost.db", "journal_mode") == "wal");
    CHECK(pragma(dir.path / "gpuhost.db", "user_version") ==
          std::to_string(agent::SqliteStore::latestSchemaVersion()));
}

TEST_CASE("sqlite store: projects survive reopening, in creation order, with tags") {
    test::TempDir dir("gpuhost-store");
    auto first = makeProject("first", 1000);
    auto second = makeProject("second", 2000);
    {
        agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
        REQUIRE(store.insertProject(second).ok());
        REQUIRE(store.insertProject(first).ok());
    }
    agent::SqliteStore reopened(dir.path / "gpuhost.db", nullptr);
    auto projects = reopened.loadProjects();
    REQUIRE(projects.ok());
    REQUIRE(projects->size() == 2);
    CHECK((*projects)[0].id == first.id);
    CHECK((*projects)[0].tags == first.tags);
    CHECK((*projects)[0].createdAt == first.createdAt);
    CHECK((*projects)[1].name == "second");
}

TEST_CASE("sqlite store: names are unique, deleting twice → NotFound") {
    test::TempDir dir("gpuhost-store");
    agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
    auto project = makeProject("dup", 1);
    REQUIRE(store.insertProject(project).ok());
    auto clash = store.insertProject(makeProject("dup", 2));
    REQUIRE_FALSE(clash.ok());
    CHECK(clash.error().code == model::ErrorCode::Conflict);
    REQUIRE(store.deleteProjectIfEmpty(project.id).ok());
    CHECK(store.deleteProjectIfEmpty(project.id).error().code == model::ErrorCode::NotFound);
    CHECK(store.loadProjects()->empty());
}

TEST_CASE("sqlite store: a database from a newer gpuhostd is refused, not clobbered") {
    test::TempDir dir("gpuhost-store");
    {
        sqlite3* db = nullptr;
        sqlite3_open((dir.path / "gpuhost.db").c_str(), &db);
        sqlite3_exec(db, "PRAGMA user_version=999", nullptr, nullptr, nullptr);
        sqlite3_close(db);
    }
    CHECK_THROWS_WITH_AS(agent::SqliteStore(dir.path / "gpuhost.db", nullptr),
                         doctest::Contains("newer than this gpuhostd"), std::runtime_error);
}

TEST_CASE("sqlite store: calls on an I/O thread are refused (they belong on the blocking pool)") {
    test::TempDir dir("gpuhost-store");
    agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
    bool threw = false;
    std::thread io([&] {
        agent::markIoThread();
        try {
            (void)store.loadProjects();
        } catch (const std::logic_error&) {
            threw = true;
        }
    });
    io.join();
    CHECK(threw);
}

TEST_CASE("sqlite store: operations are timed into the metrics") {
    test::TempDir dir("gpuhost-store");
    agent::Metrics metrics;
    agent::SqliteStore store(dir.path / "gpuhost.db", &metrics);
    REQUIRE(store.insertProject(makeProject("timed", 5)).ok());
    auto text = metrics.render();
    CHECK(text.find("gpuhost_store_operation_duration_seconds_count{operation=\"insert_project\"} 1") !=
          std::string::npos);
}

TEST_CASE("sqlite store: a GPU has one owner, allocations move with preemption in one transaction") {
    test::TempDir dir("gpuhost-store");
    auto gpu = [](const char* text) { return *model::PciAddress::parse(text); };
    auto project = makeProject("gpus", 1);
    auto instance = [&](const char* name, std::vector<model::PciAddress> gpus) {
        model::Instance made;
        made.id = model::Uuid::random();
        made.projectId = project.id;
        made.name = name;
        made.type = "h100.1x";
        made.image = "image://ubuntu22.04";
        made.host = "gpu-a";
        made.gpus = std::move(gpus);
        return made;
    };
    auto holder = instance("holder", {gpu("0000:18:00.0"), gpu("0000:2a:00.0")});
    auto thief = instance("thief", {gpu("0000:2a:00.0")});
    {
        agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
        REQUIRE(store.insertProject(project).ok());
        REQUIRE(store.insertInstance(holder, {}).ok());
        // The same GPU on the same host again: refused, and nothing of it is stored.
        auto doubled = store.insertInstance(thief, {});
        REQUIRE_FALSE(doubled.ok());
        CHECK(store.loadInstances()->size() == 1);
        // The same address on another host is another GPU.
        auto elsewhere = thief;
        elsewhere.host = "gpu-b";
        REQUIRE(store.insertInstance(elsewhere, {}).ok());
        // Preemption: the holder gives its GPUs up in the same transaction.
        auto urgent = instance("urgent", holder.gpus);
        agent::InstanceUpdate evict{holder.id, model::InstanceState::Stopping, std::nullopt, "preempted",
                                    std::vector<model::PciAddress>{}};
        REQUIRE(store.insertInstance(urgent, {evict}).ok());
    }
    agent::SqliteStore reopened(dir.path / "gpuhost.db", nullptr);
    auto loaded = reopened.loadInstances();
    REQUIRE(loaded.ok());
    REQUIRE(loaded->size() == 3);
    CHECK((*loaded)[0].name == "holder");
    CHECK((*loaded)[0].gpus.empty());
    CHECK((*loaded)[0].state == model::InstanceState::Stopping);
    CHECK((*loaded)[1].host == "gpu-b");
    CHECK((*loaded)[2].gpus == holder.gpus);
    // Deleting an instance frees its GPUs.
    REQUIRE(reopened.deleteInstance((*loaded)[2].id).ok());
    REQUIRE(reopened.insertInstance(instance("after", holder.gpus), {}).ok());
}

TEST_CASE("sqlite store: two openers of one old database both end at the latest schema") {
    // The version is read under the migration's write lock, so the second opener sees
    // what the first did instead of applying the same migration again. (The file is in WAL
    // mode already, as any database a gpuhostd opened before: switching a brand-new file
    // to WAL from two connections at once can fail with SQLITE_BUSY, a separate matter.)
    for (int round = 0; round < 10; ++round) {
        test::TempDir dir("gpuhost-store");
        CHECK(pragma(dir.path / "gpuhost.db", "journal_mode=WAL") == "wal");
        std::atomic<int> opened{0};
        auto open = [&] {
            try {
                agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
                if (store.schemaVersion() == agent::SqliteStore::latestSchemaVersion()) {
                    ++opened;
                }
            } catch (const std::exception&) {
                // counted as not opened (before the fix: "table projects already exists")
            }
        };
        std::thread other(open);
        open();
        other.join();
        CHECK(opened == 2);
    }
}
