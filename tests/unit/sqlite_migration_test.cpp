// Schema migrations v4 → v5 and v5 → v6 on databases built with the schema as it shipped
// (the statements are copied here on purpose: the test must not follow later edits of them).
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"

using namespace gpuhost;

namespace {

const char* const kSchemaV4 = R"sql(
    CREATE TABLE projects (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE, tags TEXT NOT NULL,
                           state TEXT NOT NULL, created_at TEXT NOT NULL) STRICT;
    CREATE TABLE instances (
        id TEXT PRIMARY KEY NOT NULL, project_id TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL,
        type TEXT NOT NULL, image TEXT NOT NULL, user_data BLOB NOT NULL, ephemeral INTEGER NOT NULL,
        preemptible INTEGER NOT NULL, filesystems TEXT NOT NULL, tags TEXT NOT NULL, state TEXT NOT NULL,
        ip TEXT, reason TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (project_id, name)) STRICT;
    CREATE TABLE agent_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT;
    ALTER TABLE instances ADD COLUMN host TEXT NOT NULL DEFAULT '';
    CREATE TABLE gpu_allocations (
        host TEXT NOT NULL, address TEXT NOT NULL,
        instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        PRIMARY KEY (host, address)) STRICT, WITHOUT ROWID;
    CREATE INDEX gpu_allocations_by_instance ON gpu_allocations(instance_id);
    CREATE TABLE filesystems (
        id TEXT PRIMARY KEY NOT NULL, project_id TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL,
        size_bytes INTEGER NOT NULL, host TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
        created_at TEXT NOT NULL, UNIQUE (project_id, name)) STRICT;
    CREATE TABLE instance_filesystems (
        instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        filesystem_id TEXT NOT NULL REFERENCES filesystems(id),
        PRIMARY KEY (instance_id, filesystem_id)) STRICT, WITHOUT ROWID;
    CREATE INDEX instance_filesystems_by_filesystem ON instance_filesystems(filesystem_id);
    PRAGMA user_version=4;
)sql";

const char* const kProject = "11111111-1111-4111-8111-111111111111";
const char* const kFs[] = {"f0000000-0000-4000-8000-000000000001", "f0000000-0000-4000-8000-000000000002",
                           "f0000000-0000-4000-8000-000000000003"};
const char* const kA = "a0000000-0000-4000-8000-00000000000a";  // rowid 1
const char* const kB = "b0000000-0000-4000-8000-00000000000b";  // rowid 2, same created_at
const char* const kC = "c0000000-0000-4000-8000-00000000000c";  // out-of-stock

// What a v4 gpuhostd wrote: an instance's filesystems twice (JSON and rows, A's in the
// order F3, F1, F2 so that neither id order nor insertion order gives it back).
const char* const kDataV4 = R"sql(
    INSERT INTO projects VALUES ('11111111-1111-4111-8111-111111111111', 'ml', '{}', 'active',
                                 '2026-01-01T00:00:00.000Z');
    INSERT INTO filesystems SELECT column1, '11111111-1111-4111-8111-111111111111', column2, 1073741824,
        'local', 'available', '', '2026-01-01T00:00:01.000Z'
        FROM (VALUES ('f0000000-0000-4000-8000-000000000001', 'one'),
                     ('f0000000-0000-4000-8000-000000000002', 'two'),
                     ('f0000000-0000-4000-8000-000000000003', 'three'));
    INSERT INTO instances VALUES
      ('a0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', 'train', 'h100.2x',
       'image://ubuntu22.04', X'2321636C6F75642D636F6E6669670A00FF', 1, 0,
       '["f0000000-0000-4000-8000-000000000003","f0000000-0000-4000-8000-000000000001","f0000000-0000-4000-8000-000000000002"]',
       '{"team":"ml"}', 'running', '192.168.122.7', '', '2026-01-02T00:00:00.000Z', 'local'),
      ('b0000000-0000-4000-8000-00000000000b', '11111111-1111-4111-8111-111111111111', 'eval', 'h100.1x',
       'image://ubuntu22.04', X'', 0, 1, '[]', '{}', 'stopped', NULL, 'preempted',
       '2026-01-02T00:00:00.000Z', 'local'),
      ('c0000000-0000-4000-8000-00000000000c', '11111111-1111-4111-8111-111111111111', 'later', 'h100.8x',
       'image://ubuntu22.04', X'', 0, 0, '["f0000000-0000-4000-8000-000000000002"]', '{}', 'out-of-stock',
       NULL, 'not enough free GPUs', '2026-01-03T00:00:00.000Z', '');
    INSERT INTO gpu_allocations VALUES ('local', '0000:18:00.0', 'a0000000-0000-4000-8000-00000000000a'),
                                       ('local', '0000:2a:00.0', 'a0000000-0000-4000-8000-00000000000a'),
                                       ('local', '0000:3b:00.0', 'b0000000-0000-4000-8000-00000000000b');
    INSERT INTO instance_filesystems VALUES
      ('a0000000-0000-4000-8000-00000000000a', 'f0000000-0000-4000-8000-000000000001'),
      ('a0000000-0000-4000-8000-00000000000a', 'f0000000-0000-4000-8000-000000000002'),
      ('a0000000-0000-4000-8000-00000000000a', 'f0000000-0000-4000-8000-000000000003'),
      ('c0000000-0000-4000-8000-00000000000c', 'f0000000-0000-4000-8000-000000000002');
    INSERT INTO agent_meta VALUES ('agent_id', '9b1d0c3e-7a64-4f2e-8c51-3d2e1f0a9b87'),
                                  ('imported:base-0123abcd', 'complete'),
                                  ('imported:hgx-b/base-0123abcd', 'complete');
)sql";

// A second connection, as an operator's sqlite3 shell would see the file.
class Raw {
  public:
    explicit Raw(const std::filesystem::path& file) { sqlite3_open(file.c_str(), &db_); }
    ~Raw() { sqlite3_close(db_); }
    Raw(const Raw&) = delete;
    Raw& operator=(const Raw&) = delete;
    void exec(const std::string& sql) {
        char* message = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
            std::string text = message != nullptr ? message : "?";
            sqlite3_free(message);
            throw std::runtime_error(text);
        }
    }
    // The first column of every row, joined by '|'.
    std::string column(const std::string& sql) {
        sqlite3_stmt* stmt = nullptr;
        REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
        std::string out;
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
            out += (out.empty() ? "" : "|") + std::string(text != nullptr ? text : "NULL");
        }
        sqlite3_finalize(stmt);
        return out;
    }

  private:
    sqlite3* db_ = nullptr;
};

std::filesystem::path makeV4(const test::TempDir& dir) {
    auto file = dir.path / "gpuhost.db";
    Raw db(file);
    db.exec(kSchemaV4);
    db.exec(kDataV4);
    return file;
}

}  // namespace

TEST_CASE(
    "migration v4 → v5: instances, filesystem order, GPUs and cascades survive, and a reopen is a no-op") {
    test::TempDir dir("gpuhost-migrate");
    auto file = makeV4(dir);
    std::string schemaAfter;
    {
        agent::SqliteStore store(file, nullptr);
        REQUIRE(store.schemaVersion() == agent::SqliteStore::latestSchemaVersion());
        auto loaded = store.loadInstances();
        REQUIRE(loaded.ok());
        REQUIRE(loaded->size() == 3);
        const auto& a = (*loaded)[0];
        CHECK(a.id.str() == kA);
        CHECK((*loaded)[1].id.str() == kB);  // equal created_at: the old rowid order is kept
        CHECK((*loaded)[2].id.str() == kC);
        CHECK(a.name == "train");
        CHECK(a.userData == std::string("#!cloud-config\n\0\xff", 17));
        CHECK(a.ephemeral);
        CHECK(a.ip == "192.168.122.7");
        CHECK(a.tags == model::Tags{{"team", "ml"}});
        CHECK(a.host == "local");
        CHECK_FALSE(a.owner.has_value());
        REQUIRE(a.filesystems.size() == 3);
        CHECK(a.filesystems[0].str() == kFs[2]);
        CHECK(a.filesystems[1].str() == kFs[0]);
        CHECK(a.filesystems[2].str() == kFs[1]);
        CHECK(a.gpus == std::vector{*model::PciAddress::parse("0000:18:00.0"),
                                    *model::PciAddress::parse("0000:2a:00.0")});
        CHECK((*loaded)[1].preemptible);
        CHECK((*loaded)[1].reason == "preempted");
        CHECK((*loaded)[1].gpus.size() == 1);
        CHECK((*loaded)[2].filesystems.size() == 1);
        CHECK((*loaded)[2].host.empty());
        // Agent metadata: the id stays; a mark without a host is forgotten, one with a host kept.
        CHECK(store.agentId()->str() == "9b1d0c3e-7a64-4f2e-8c51-3d2e1f0a9b87");
        CHECK_FALSE(*store.imageImported("base-0123abcd"));
        CHECK(*store.imageImported("hgx-b/base-0123abcd"));
        // The new name scopes apply to the migrated rows.
        auto clash = a;
        clash.id = model::Uuid::random();
        clash.gpus.clear();
        clash.filesystems.clear();
        CHECK(store.insertInstance(clash).error().code == model::ErrorCode::Conflict);
        clash.owner = model::InstanceOwner{model::Uuid::random(), "slurm", "hpc", "", "controller", 0};
        CHECK(store.insertInstance(clash).ok());
        // Foreign keys are on again: an instance of an unknown project is refused.
        auto stray = clash;
        stray.id = model::Uuid::random();
        stray.projectId = model::Uuid::random();
        CHECK(store.insertInstance(stray).error().code == model::ErrorCode::NotFound);
        // The cascades still reach the rebuilt table: deleting A frees its GPUs and filesystems.
        CHECK(store.beginFilesystemDelete(*model::Uuid::parse(kFs[0])).error().code ==
              model::ErrorCode::Conflict);
        REQUIRE(store.deleteInstance(a.id).ok());
        Raw raw(file);
        CHECK(raw.column("SELECT instance_id FROM gpu_allocations") == kB);
        CHECK(raw.column("SELECT instance_id FROM instance_filesystems") == kC);
        CHECK(store.beginFilesystemDelete(*model::Uuid::parse(kFs[0])).ok());
        CHECK(raw.column("PRAGMA foreign_key_check").empty());
        CHECK(
            raw.column("SELECT name FROM pragma_table_info('instances') WHERE name = 'filesystems'").empty());
        CHECK(raw.column("SELECT name FROM sqlite_master WHERE name LIKE 'instances%' ORDER BY name") ==
              "instances|instances_name_per_owner");
        schemaAfter = raw.column("SELECT sql FROM sqlite_master ORDER BY name");
    }
    // A second open finds the latest version and changes nothing.
    Raw raw(file);
    auto dataBefore = raw.column("SELECT id || name || state FROM instances ORDER BY rowid");
    {
        agent::SqliteStore again(file, nullptr);
        CHECK(again.schemaVersion() == agent::SqliteStore::latestSchemaVersion());
        CHECK(again.loadInstances()->size() == 3);
    }
    CHECK(raw.column("SELECT sql FROM sqlite_master ORDER BY name") == schemaAfter);
    CHECK(raw.column("SELECT id || name || state FROM instances ORDER BY rowid") == dataBefore);
    CHECK(schemaAfter.find("REFERENCES instances(id) ON DELETE CASCADE") != std::string::npos);
}

TEST_CASE("migration v4 → v5: a dangling reference stops the migration and leaves v4 as it was") {
    test::TempDir dir("gpuhost-migrate");
    auto file = makeV4(dir);
    {
        Raw raw(file);  // foreign keys are off on this connection, as in any sqlite3 shell
        raw.exec("INSERT INTO instance_filesystems VALUES ('" + std::string(kB) +
                 "', 'f0000000-0000-4000-8000-0000000000ff')");
    }
    CHECK_THROWS_WITH_AS(agent::SqliteStore(file, nullptr), doctest::Contains("dangling reference"),
                         std::runtime_error);
    Raw raw(file);
    CHECK(raw.column("PRAGMA user_version") == "4");
    CHECK(raw.column("SELECT count(*) FROM instances") == "3");
    CHECK(raw.column("SELECT name FROM pragma_table_info('instances') WHERE name = 'filesystems'") ==
          "filesystems");
    CHECK(raw.column("SELECT count(*) FROM gpu_allocations") == "3");
}

namespace {

// The schema of a v5 database as v5 left it (the tables of a migrated and of a fresh one
// are the same), with one project, filesystem, instance (a cluster member), GPU and mark.
const char* const kSchemaV5 = R"sql(
    CREATE TABLE projects (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE, tags TEXT NOT NULL,
                           state TEXT NOT NULL, created_at TEXT NOT NULL) STRICT;
    CREATE TABLE agent_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT;
    CREATE TABLE gpu_allocations (
        host TEXT NOT NULL, address TEXT NOT NULL,
        instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        PRIMARY KEY (host, address)) STRICT, WITHOUT ROWID;
    CREATE INDEX gpu_allocations_by_instance ON gpu_allocations(instance_id);
    CREATE TABLE filesystems (
        id TEXT PRIMARY KEY NOT NULL, project_id TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL,
        size_bytes INTEGER NOT NULL, host TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
        created_at TEXT NOT NULL, UNIQUE (project_id, name)) STRICT;
    CREATE TABLE instance_filesystems (
        instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        filesystem_id TEXT NOT NULL REFERENCES filesystems(id), position INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (instance_id, filesystem_id)) STRICT, WITHOUT ROWID;
    CREATE INDEX instance_filesystems_by_filesystem ON instance_filesystems(filesystem_id);
    CREATE TABLE "instances" (
        id TEXT PRIMARY KEY NOT NULL, project_id TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL,
        type TEXT NOT NULL, image TEXT NOT NULL, user_data BLOB NOT NULL, ephemeral INTEGER NOT NULL,
        preemptible INTEGER NOT NULL, tags TEXT NOT NULL, state TEXT NOT NULL, ip TEXT, reason TEXT NOT NULL,
        created_at TEXT NOT NULL, host TEXT NOT NULL DEFAULT '', owner_cluster TEXT NOT NULL DEFAULT '',
        owner_kind TEXT NOT NULL DEFAULT '', owner_cluster_name TEXT NOT NULL DEFAULT '',
        owner_pool TEXT NOT NULL DEFAULT '', owner_role TEXT NOT NULL DEFAULT '',
        owner_index INTEGER NOT NULL DEFAULT 0) STRICT;
    CREATE UNIQUE INDEX instances_name_per_owner ON instances(project_id, owner_cluster, name);
    PRAGMA user_version=5;
)sql";

const char* const kOwner = "d0000000-0000-4000-8000-00000000000d";

const char* const kDataV5 = R"sql(
    INSERT INTO projects VALUES ('11111111-1111-4111-8111-111111111111', 'ml', '{}', 'active',
                                 '2026-01-01T00:00:00.000Z');
    INSERT INTO filesystems VALUES ('f0000000-0000-4000-8000-000000000001',
        '11111111-1111-4111-8111-111111111111', 'one', 1073741824, 'local', 'available', '',
        '2026-01-01T00:00:01.000Z');
    INSERT INTO instances VALUES
      ('a0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', 'hpc-gpu-0',
       'h100.2x', 'image://ubuntu22.04', X'00FF', 0, 0, '{}', 'running', '192.168.122.7', '',
       '2026-01-02T00:00:00.000Z', 'local', 'd0000000-0000-4000-8000-00000000000d', 'slurm', 'hpc', 'gpu',
       'worker', 0);
    INSERT INTO gpu_allocations VALUES ('local', '0000:18:00.0', 'a0000000-0000-4000-8000-00000000000a');
    INSERT INTO instance_filesystems VALUES
      ('a0000000-0000-4000-8000-00000000000a', 'f0000000-0000-4000-8000-000000000001', 0);
    INSERT INTO agent_meta VALUES ('agent_id', '9b1d0c3e-7a64-4f2e-8c51-3d2e1f0a9b87');
)sql";

}  // namespace

TEST_CASE("migration v5 → v8: instances stay, the cluster tables come empty and work") {
    test::TempDir dir("gpuhost-migrate");
    auto file = dir.path / "gpuhost.db";
    {
        Raw db(file);
        db.exec(kSchemaV5);
        db.exec(kDataV5);
    }
    agent::SqliteStore store(file, nullptr);
    CHECK(store.schemaVersion() == 8);
    auto loaded = store.loadInstances();
    REQUIRE(loaded.ok());
    REQUIRE(loaded->size() == 1);
    const auto& a = (*loaded)[0];
    CHECK(a.id.str() == kA);
    CHECK(a.userData == std::string("\0\xff", 2));
    CHECK(a.ip == "192.168.122.7");
    REQUIRE(a.owner.has_value());
    CHECK(a.owner->clusterId.str() == kOwner);
    CHECK(a.owner->nodePool == "gpu");
    CHECK(a.gpus == std::vector{*model::PciAddress::parse("0000:18:00.0")});
    CHECK(a.filesystems == std::vector{*model::Uuid::parse(kFs[0])});
    CHECK(store.agentId()->str() == "9b1d0c3e-7a64-4f2e-8c51-3d2e1f0a9b87");
    CHECK(store.loadClusters()->empty());
    Raw raw(file);
    CHECK(raw.column("SELECT count(*) FROM cluster_pools") == "0");
    CHECK(raw.column("SELECT count(*) FROM cluster_users") == "0");
    CHECK(raw.column("PRAGMA foreign_key_check").empty());

    // The new tables take a cluster of the old project, and it keeps the project.
    model::Cluster cluster;
    cluster.id = *model::Uuid::parse(kOwner);
    cluster.projectId = *model::Uuid::parse(kProject);
    cluster.name = "hpc";
    cluster.controllerType = "cpu.large";
    cluster.pools = {{"gpu", "h100.2x", 1, {"gpu"}}};
    cluster.users = {{"alice", {"ssh-ed25519 AAAAC3Nza alice@laptop"}, true, model::kFirstClusterUid}};
    REQUIRE(store.insertCluster(cluster, std::string(1024, '\x5a')).ok());
    CHECK(store.loadClusters()->at(0).pools == cluster.pools);
    CHECK(store.clusterKindState(cluster.id)->empty());   // v7's column, empty for Slurm
    CHECK(store.loadClusters()->at(0).rollRetries == 0);  // v8's
    CHECK_FALSE(store.loadClusters()->at(0).network.has_value());
    REQUIRE(store.deleteInstance(a.id).ok());
    CHECK(store.deleteProjectIfEmpty(cluster.projectId).error().code == model::ErrorCode::Conflict);
}
