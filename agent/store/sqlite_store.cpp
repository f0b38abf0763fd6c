#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "blocking_pool.hpp"
#include "store/sqlite_detail.hpp"

namespace gpuhost::agent {

using model::Error;
using model::Result;
using sqlite::Statement;
using sqlite::Timer;
using sqlite::Transaction;

namespace {

// Schema migrations, applied in order; entry i moves the schema from version i to i + 1.
// Never edit an entry that has shipped: append a new one.
const std::vector<const char*> kMigrations = {
    R"sql(
    CREATE TABLE projects (
        id         TEXT PRIMARY KEY NOT NULL,
        name       TEXT NOT NULL UNIQUE,
        tags       TEXT NOT NULL,
        state      TEXT NOT NULL,
        created_at TEXT NOT NULL
    ) STRICT;
    )sql",
    // v2: instances. The user's userData is kept as the decoded bytes it was given.
    R"sql(
    CREATE TABLE instances (
        id          TEXT PRIMARY KEY NOT NULL,
        project_id  TEXT NOT NULL REFERENCES projects(id),
        name        TEXT NOT NULL,
        type        TEXT NOT NULL,
        image       TEXT NOT NULL,
        user_data   BLOB NOT NULL,
        ephemeral   INTEGER NOT NULL,
        preemptible INTEGER NOT NULL,
        filesystems TEXT NOT NULL,
        tags        TEXT NOT NULL,
        state       TEXT NOT NULL,
        ip          TEXT,
        reason      TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        UNIQUE (project_id, name)
    ) STRICT;
    CREATE TABLE agent_meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) STRICT;
    )sql",
    // v3: several hosts and GPU allocations. (host, address) is the key: one GPU, one owner.
    // A v2 database knew one host, which a config without `hosts:` calls "local"; an
    // operator who lists hosts keeps that name for the old one (see README).
    R"sql(
    ALTER TABLE instances ADD COLUMN host TEXT NOT NULL DEFAULT '';
    UPDATE instances SET host = 'local' WHERE state != 'out-of-stock';
    CREATE TABLE gpu_allocations (
        host        TEXT NOT NULL,
        address     TEXT NOT NULL,
        instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        PRIMARY KEY (host, address)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX gpu_allocations_by_instance ON gpu_allocations(instance_id);
    )sql",
    // v4: filesystems, and which instances use them (a used filesystem cannot go).
    R"sql(
    CREATE TABLE filesystems (
        id         TEXT PRIMARY KEY NOT NULL,
        project_id TEXT NOT NULL REFERENCES projects(id),
        name       TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        host       TEXT NOT NULL,
        state      TEXT NOT NULL,
        reason     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (project_id, name)
    ) STRICT;
    CREATE TABLE instance_filesystems (
        instance_id   TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        filesystem_id TEXT NOT NULL REFERENCES filesystems(id),
        PRIMARY KEY (instance_id, filesystem_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX instance_filesystems_by_filesystem ON instance_filesystems(filesystem_id);
    )sql",
    // v5: instances owned by a cluster; names unique per project among user instances
    // (owner_cluster '') and per cluster among its members; an instance's filesystems kept
    // once, as rows in the order given (the JSON column goes); image marks with a host.
    // Dropping UNIQUE (project_id, name) means rebuilding the table (SQLite's 12-step
    // ALTER): migrate() runs this with foreign keys off, so dropping the old table does not
    // cascade into gpu_allocations and instance_filesystems, whose REFERENCES instances(id)
    // then name the new table; the rowid is copied so equal created_at keep their order.
    // Marks without a host ("<volume>") may belong to any host: forgotten, so the volume is
    // imported again rather than trusted.
    R"sql(
    ALTER TABLE instance_filesystems ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
    UPDATE instance_filesystems SET position = coalesce(
        (SELECT min(CAST(j.key AS INTEGER)) FROM instances AS i, json_each(i.filesystems) AS j
         WHERE i.id = instance_filesystems.instance_id AND j.value = instance_filesystems.filesystem_id),
        0);
    CREATE TABLE instances_v5 (
        id                 TEXT PRIMARY KEY NOT NULL,
        project_id         TEXT NOT NULL REFERENCES projects(id),
        name               TEXT NOT NULL,
        type               TEXT NOT NULL,
        image              TEXT NOT NULL,
        user_data          BLOB NOT NULL,
        ephemeral          INTEGER NOT NULL,
        preemptible        INTEGER NOT NULL,
        tags               TEXT NOT NULL,
        state              TEXT NOT NULL,
        ip                 TEXT,
        reason             TEXT NOT NULL,
        created_at         TEXT NOT NULL,
        host               TEXT NOT NULL DEFAULT '',
        owner_cluster      TEXT NOT NULL DEFAULT '',
        owner_kind         TEXT NOT NULL DEFAULT '',
        owner_cluster_name TEXT NOT NULL DEFAULT '',
        owner_pool         TEXT NOT NULL DEFAULT '',
        owner_role         TEXT NOT NULL DEFAULT '',
        owner_index        INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT INTO instances_v5 (rowid, id, project_id, name, type, image, user_data, ephemeral, preemptible,
                              tags, state, ip, reason, created_at, host)
        SELECT rowid, id, project_id, name, type, image, user_data, ephemeral, preemptible, tags, state, ip,
               reason, created_at, host
        FROM instances;
    DROP TABLE instances;
    ALTER TABLE instances_v5 RENAME TO instances;
    CREATE UNIQUE INDEX instances_name_per_owner ON instances(project_id, owner_cluster, name);
    DELETE FROM agent_meta WHERE key LIKE 'imported:%' AND instr(key, '/') = 0;
    )sql",
    // v6: clusters, their pools and users, each list in the order given (position). Names
    // are unique per project and kind. The secret (Slurm: the munge key) is raw bytes.
    // Partitions and SSH keys are JSON arrays of strings.
    R"sql(
    CREATE TABLE clusters (
        id              TEXT PRIMARY KEY NOT NULL,
        project_id      TEXT NOT NULL REFERENCES projects(id),
        kind            TEXT NOT NULL,
        name            TEXT NOT NULL,
        version         TEXT NOT NULL,
        controller_type TEXT NOT NULL,
        login_count     INTEGER NOT NULL,
        login_type      TEXT NOT NULL,
        deleting        INTEGER NOT NULL,
        secret          BLOB NOT NULL,
        created_at      TEXT NOT NULL,
        UNIQUE (project_id, kind, name)
    ) STRICT;
    CREATE TABLE cluster_pools (
        cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        position   INTEGER NOT NULL,
        name       TEXT NOT NULL,
        type       TEXT NOT NULL,
        count      INTEGER NOT NULL,
        partitions TEXT NOT NULL,
        PRIMARY KEY (cluster_id, name)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE cluster_users (
        cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        position   INTEGER NOT NULL,
        username   TEXT NOT NULL,
        uid        INTEGER NOT NULL,
        ssh_keys   TEXT NOT NULL,
        sudo       INTEGER NOT NULL,
        PRIMARY KEY (cluster_id, username),
        UNIQUE (cluster_id, uid)
    ) STRICT, WITHOUT ROWID;
    )sql",
    // v7: Kubernetes clusters: their pod and service blocks ('' for Slurm), and the kind's
    // durable progress (a JSON document the kind writes: the join token, the upgrade roll).
    R"sql(
    ALTER TABLE clusters ADD COLUMN pod_cidr TEXT NOT NULL DEFAULT '';
    ALTER TABLE clusters ADD COLUMN service_cidr TEXT NOT NULL DEFAULT '';
    ALTER TABLE clusters ADD COLUMN kind_state TEXT NOT NULL DEFAULT '';
    )sql",
    // v8: how often the owner asked to retry a stopped upgrade roll (Cluster::rollRetries).
    R"sql(
    ALTER TABLE clusters ADD COLUMN roll_retries INTEGER NOT NULL DEFAULT 0;
    )sql",
};

// Tables whose rows belong to a project (column project_id). A project is deleted
// only when none of them has a row for it; later resources add their table here.
const std::vector<const char*> kProjectOwnedTables = {"instances", "filesystems", "clusters"};

// The store holds userData: owner-only. SQLite gives -wal and -shm the database file's mode
// when it creates them, so the database goes first; files an older run left wider (0644
// before the daemon set a umask) are narrowed too.
void restrictStoreFiles(const std::filesystem::path& file) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code absent;  // -wal and -shm exist only while a connection is open
        std::filesystem::permissions(file.string() + suffix,
                                     std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                     std::filesystem::perm_options::replace, absent);
    }
}

}  // namespace

SqliteStore::SqliteStore(const std::filesystem::path& file, Metrics* metrics) : metrics_(metrics) {
    restrictStoreFiles(file);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(file.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
        std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        throw std::runtime_error("cannot open store " + file.string() + ": " + message);
    }
    try {
        sqlite3_busy_timeout(db_, 5000);
        sqlite3_extended_result_codes(db_, 1);
        execute("PRAGMA journal_mode=WAL");
        // FULL: a commit is on disk (WAL fsynced) before we acknowledge the request.
        execute("PRAGMA synchronous=FULL");
        migrate();  // ends with foreign_keys=ON
        restrictStoreFiles(file);
    } catch (...) {
        sqlite3_close(db_);  // the destructor does not run for a throwing constructor
        throw;
    }
}

SqliteStore::~SqliteStore() {
    sqlite3_close(db_);
}

void SqliteStore::execute(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message != nullptr ? message : "unknown error";
        sqlite3_free(message);
        throw std::runtime_error("sqlite: " + text);
    }
}

int SqliteStore::latestSchemaVersion() {
    return static_cast<int>(kMigrations.size());
}

int SqliteStore::schemaVersion() {
    std::lock_guard lock(mutex_);
    return userVersion();
}

int SqliteStore::userVersion() {
    Statement statement(db_, "PRAGMA user_version");
    statement.step();
    return static_cast<int>(statement.integer(0));
}

void SqliteStore::migrate() {
    // A migration may rebuild a table, and dropping the old one with foreign keys on
    // would delete every row that references it (ON DELETE CASCADE). The pragma is a no-op
    // inside a transaction, so it is off around the migrations; each one checks the
    // references before it commits instead.
    execute("PRAGMA foreign_keys=OFF");
    for (bool done = false; !done;) {
        execute("BEGIN IMMEDIATE");
        try {
            // Read under the write lock: another process may have migrated meanwhile.
            int version = userVersion();
            if (version > latestSchemaVersion()) {
                throw std::runtime_error("store schema version " + std::to_string(version) +
                                         " is newer than this gpuhostd understands (" +
                                         std::to_string(latestSchemaVersion()) + ")");
            }
            done = version == latestSchemaVersion();
            if (!done) {
                execute(kMigrations[version]);
                checkForeignKeys();
                execute(("PRAGMA user_version=" + std::to_string(version + 1)).c_str());
            }
            execute("COMMIT");
        } catch (...) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
    execute("PRAGMA foreign_keys=ON");
    Statement enabled(db_, "PRAGMA foreign_keys");
    if (enabled.step() != SQLITE_ROW || enabled.integer(0) != 1) {
        throw std::runtime_error("sqlite: foreign keys cannot be enabled (SQLite built without them?)");
    }
}

void SqliteStore::checkForeignKeys() {
    Statement check(db_, "PRAGMA foreign_key_check");
    int rc = check.step();
    if (rc == SQLITE_ROW) {
        throw std::runtime_error("store migration left a dangling reference in table " + check.text(0) +
                                 " (to " + check.text(2) + ")");
    }
    if (rc != SQLITE_DONE) {
        throw std::runtime_error(std::string("sqlite foreign_key_check: ") + sqlite3_errmsg(db_));
    }
}

Error SqliteStore::lastError(std::string_view what) const {
    return Error::internal(std::string(what) + ": " + sqlite3_errmsg(db_));
}

Result<std::vector<model::Project>> SqliteStore::loadProjects() {
    Timer timer(metrics_, "load_projects");
    std::lock_guard lock(mutex_);
    Statement statement(db_,
                        "SELECT id, name, tags, state, created_at FROM projects ORDER BY created_at, rowid");
    std::vector<model::Project> projects;
    int rc = SQLITE_ROW;
    while ((rc = statement.step()) == SQLITE_ROW) {
        model::Project project;
        auto id = model::Uuid::parse(statement.text(0));
        auto state = model::projectStateFromString(statement.text(3));
        auto created = model::parseTimestamp(statement.text(4));
        auto tags = nlohmann::json::parse(statement.text(2), nullptr, false);
        if (!id || !state || !created || !tags.is_object()) {
            return Error::internal("store: malformed project row " + statement.text(0));
        }
        project.id = *id;
        project.name = statement.text(1);
        project.tags = tags.get<model::Tags>();
        project.state = *state;
        project.createdAt = *created;
        projects.push_back(std::move(project));
    }
    if (rc != SQLITE_DONE) {
        return lastError("load projects");
    }
    return projects;
}

Result<void> SqliteStore::insertProject(const model::Project& project) {
    Timer timer(metrics_, "insert_project");
    std::lock_guard lock(mutex_);
    Statement statement(db_,
                        "INSERT INTO projects (id, name, tags, state, created_at) VALUES (?, ?, ?, ?, ?)");
    statement.bind(1, project.id.str());
    statement.bind(2, project.name);
    statement.bind(3, nlohmann::json(project.tags).dump());
    statement.bind(4, std::string(model::nameOf(project.state)));
    statement.bind(5, model::formatTimestamp(project.createdAt));
    int rc = statement.step();
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Error{model::ErrorCode::Conflict, "a project with this name already exists", "name"};
    }
    if (rc != SQLITE_DONE) {
        return lastError("insert project");
    }
    return {};
}

Result<void> SqliteStore::deleteProjectIfEmpty(const model::Uuid& id) {
    Timer timer(metrics_, "delete_project");
    std::lock_guard lock(mutex_);
    Transaction transaction(db_);
    for (const char* table : kProjectOwnedTables) {
        Statement owned(db_,
                        (std::string("SELECT 1 FROM ") + table + " WHERE project_id = ? LIMIT 1").c_str());
        owned.bind(1, id.str());
        int rc = owned.step();
        if (rc == SQLITE_ROW) {
            return Error::conflict(std::string("project still owns ") + table + "; delete them first");
        }
        if (rc != SQLITE_DONE) {
            return lastError("check project resources");
        }
    }
    Statement statement(db_, "DELETE FROM projects WHERE id = ?");
    statement.bind(1, id.str());
    if (statement.step() != SQLITE_DONE) {
        return lastError("delete project");
    }
    if (sqlite3_changes(db_) == 0) {
        return Error::notFound("project");
    }
    if (!transaction.commit()) {
        return lastError("commit");
    }
    return {};
}

}  // namespace gpuhost::agent
