// The filesystem half of SqliteStore, and the instance → filesystem references.
#include "store/sqlite_detail.hpp"
#include "store/sqlite_store.hpp"

namespace gpuhost::agent {

using model::Error;
using model::Result;
using sqlite::Statement;
using sqlite::Timer;
using sqlite::Transaction;

Result<std::vector<model::Filesystem>> SqliteStore::loadFilesystems() {
    Timer timer(metrics_, "load_filesystems");
    std::lock_guard lock(mutex_);
    Statement statement(
        db_,
        "SELECT id, project_id, name, size_bytes, host, state, reason, created_at FROM filesystems "
        "ORDER BY created_at, rowid");
    std::vector<model::Filesystem> filesystems;
    int rc = SQLITE_ROW;
    while ((rc = statement.step()) == SQLITE_ROW) {
        auto id = model::Uuid::parse(statement.text(0));
        auto project = model::Uuid::parse(statement.text(1));
        auto state = model::filesystemStateFromString(statement.text(5));
        auto created = model::parseTimestamp(statement.text(7));
        if (!id || !project || !state || !created || statement.integer(3) <= 0) {
            return Error::internal("store: malformed filesystem row " + statement.text(0));
        }
        filesystems.push_back({*id, *project, statement.text(2),
                               static_cast<std::uint64_t>(statement.integer(3)), statement.text(4), *state,
                               statement.text(6), *created});
    }
    if (rc != SQLITE_DONE) {
        return lastError("load filesystems");
    }
    return filesystems;
}

Result<void> SqliteStore::insertFilesystem(const model::Filesystem& filesystem) {
    Timer timer(metrics_, "insert_filesystem");
    std::lock_guard lock(mutex_);
    Statement statement(
        db_,
        "INSERT INTO filesystems (id, project_id, name, size_bytes, host, state, reason, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    statement.bind(1, filesystem.id.str());
    statement.bind(2, filesystem.projectId.str());
    statement.bind(3, filesystem.name);
    statement.bindInt(4, static_cast<sqlite3_int64>(filesystem.sizeBytes));
    statement.bind(5, filesystem.host);
    statement.bind(6, std::string(model::nameOf(filesystem.state)));
    statement.bind(7, filesystem.reason);
    statement.bind(8, model::formatTimestamp(filesystem.createdAt));
    int rc = statement.step();
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Error::notFound("project");
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Error{model::ErrorCode::Conflict, "this project already has a filesystem with this name",
                     "name"};
    }
    if (rc != SQLITE_DONE) {
        return lastError("insert filesystem");
    }
    return {};
}

Result<void> SqliteStore::updateFilesystemState(const model::Uuid& id, model::FilesystemState state,
                                                const std::string& reason) {
    Timer timer(metrics_, "update_filesystem");
    std::lock_guard lock(mutex_);
    // Only from creating: a delete admitted meanwhile must not be undone.
    Statement statement(db_,
                        "UPDATE filesystems SET state = ?, reason = ? WHERE id = ? AND state = 'creating'");
    statement.bind(1, std::string(model::nameOf(state)));
    statement.bind(2, reason);
    statement.bind(3, id.str());
    if (statement.step() != SQLITE_DONE) {
        return lastError("update filesystem");
    }
    if (sqlite3_changes(db_) == 0) {
        return Error::notFound("filesystem");
    }
    return {};
}

Result<void> SqliteStore::beginFilesystemDelete(const model::Uuid& id) {
    Timer timer(metrics_, "delete_filesystem");
    std::lock_guard lock(mutex_);
    Transaction transaction(db_);
    Statement used(db_, "SELECT instance_id FROM instance_filesystems WHERE filesystem_id = ? LIMIT 1");
    used.bind(1, id.str());
    int rc = used.step();
    if (rc == SQLITE_ROW) {
        return Error::conflict("the filesystem is attached to instance " + used.text(0) +
                               "; delete the instances that use it first");
    }
    if (rc != SQLITE_DONE) {
        return lastError("check filesystem use");
    }
    Statement mark(db_, "UPDATE filesystems SET state = 'deleting', reason = '' WHERE id = ?");
    mark.bind(1, id.str());
    if (mark.step() != SQLITE_DONE) {
        return lastError("mark filesystem deleting");
    }
    if (sqlite3_changes(db_) == 0) {
        return Error::notFound("filesystem");
    }
    if (!transaction.commit()) {
        return lastError("commit filesystem delete");
    }
    return {};
}

Result<void> SqliteStore::deleteFilesystem(const model::Uuid& id) {
    Timer timer(metrics_, "forget_filesystem");
    std::lock_guard lock(mutex_);
    Statement statement(db_, "DELETE FROM filesystems WHERE id = ?");
    statement.bind(1, id.str());
    if (statement.step() != SQLITE_DONE) {
        return lastError("delete filesystem");
    }
    return {};
}

// Inside insertInstances' transaction: only filesystems of the instance's project that
// are available (not being deleted) can be referenced. The rows are the only record of an
// instance's filesystems, so they keep the order the user gave.
Result<void> SqliteStore::attachFilesystems(const model::Instance& instance) {
    for (std::size_t position = 0; position < instance.filesystems.size(); ++position) {
        const auto& filesystem = instance.filesystems[position];
        Statement attach(
            db_,
            "INSERT INTO instance_filesystems (instance_id, filesystem_id, position) "
            "SELECT ?, id, ? FROM filesystems WHERE id = ? AND project_id = ? AND state = 'available'");
        attach.bind(1, instance.id.str());
        attach.bindInt(2, static_cast<sqlite3_int64>(position));
        attach.bind(3, filesystem.str());
        attach.bind(4, instance.projectId.str());
        int rc = attach.step();
        if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT_PRIMARYKEY) {
            return lastError("attach filesystem");
        }
        if (rc == SQLITE_DONE && sqlite3_changes(db_) == 0) {
            return Error{model::ErrorCode::NotFound,
                         "filesystem " + filesystem.str() + " not found or not available", "filesystems"};
        }
    }
    return {};
}

}  // namespace gpuhost::agent
