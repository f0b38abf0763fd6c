// The instance half of SqliteStore.
#include <map>
#include <nlohmann/json.hpp>

#include "store/sqlite_detail.hpp"
#include "store/sqlite_store.hpp"

namespace gpuhost::agent {

using model::Error;
using model::Result;
using sqlite::Statement;
using sqlite::Timer;
using sqlite::Transaction;

namespace {

constexpr const char* kInstanceColumns =
    "id, project_id, name, type, image, user_data, ephemeral, preemptible, filesystems, tags, state, ip, "
    "reason, created_at, host";

std::string filesystemsJson(const std::vector<model::Uuid>& ids) {
    auto list = nlohmann::json::array();
    for (const auto& id : ids) {
        list.push_back(id.str());
    }
    return list.dump();
}

std::optional<std::vector<model::Uuid>> parseFilesystems(const std::string& text) {
    auto list = nlohmann::json::parse(text, nullptr, false);
    if (!list.is_array()) {
        return std::nullopt;
    }
    std::vector<model::Uuid> ids;
    for (const auto& item : list) {
        auto id = item.is_string() ? model::Uuid::parse(item.get<std::string>()) : std::nullopt;
        if (!id) {
            return std::nullopt;
        }
        ids.push_back(*id);
    }
    return ids;
}

std::optional<model::Instance> instanceFromRow(const Statement& row) {
    model::Instance instance;
    auto id = model::Uuid::parse(row.text(0));
    auto project = model::Uuid::parse(row.text(1));
    auto filesystems = parseFilesystems(row.text(8));
    auto tags = nlohmann::json::parse(row.text(9), nullptr, false);
    auto state = model::instanceStateFromString(row.text(10));
    auto created = model::parseTimestamp(row.text(13));
    if (!id || !project || !filesystems || !tags.is_object() || !state || !created) {
        return std::nullopt;
    }
    instance.id = *id;
    instance.projectId = *project;
    instance.name = row.text(2);
    instance.type = row.text(3);
    instance.image = row.text(4);
    instance.userData = row.blob(5);
    instance.ephemeral = row.integer(6) != 0;
    instance.preemptible = row.integer(7) != 0;
    instance.filesystems = std::move(*filesystems);
    instance.tags = tags.get<model::Tags>();
    instance.state = *state;
    if (!row.isNull(11)) {
        instance.ip = row.text(11);
    }
    instance.reason = row.text(12);
    instance.createdAt = *created;
    instance.host = row.text(14);
    return instance;
}

}  // namespace

Result<std::vector<model::Instance>> SqliteStore::loadInstances() {
    Timer timer(metrics_, "load_instances");
    std::lock_guard lock(mutex_);
    std::string sql =
        std::string("SELECT ") + kInstanceColumns + " FROM instances ORDER BY created_at, rowid";
    Statement statement(db_, sql.c_str());
    std::vector<model::Instance> instances;
    int rc = SQLITE_ROW;
    while ((rc = statement.step()) == SQLITE_ROW) {
        auto instance = instanceFromRow(statement);
        if (!instance) {
            return Error::internal("store: malformed instance row " + statement.text(0));
        }
        instances.push_back(std::move(*instance));
    }
    if (rc != SQLITE_DONE) {
        return lastError("load instances");
    }
    std::map<std::string, model::Instance*> byId;
    for (auto& instance : instances) {
        byId[instance.id.str()] = &instance;
    }
    Statement gpus(db_, "SELECT instance_id, address FROM gpu_allocations ORDER BY instance_id, address");
    while ((rc = gpus.step()) == SQLITE_ROW) {
        auto owner = byId.find(gpus.text(0));
        auto address = model::PciAddress::parse(gpus.text(1));
        if (owner == byId.end() || !address) {
            return Error::internal("store: malformed GPU allocation " + gpus.text(1));
        }
        owner->second->gpus.push_back(*address);
    }
    if (rc != SQLITE_DONE) {
        return lastError("load GPU allocations");
    }
    return instances;
}

Result<void> SqliteStore::insertInstance(const model::Instance& instance,
                                         const std::vector<InstanceUpdate>& first) {
    Timer timer(metrics_, "insert_instance");
    std::lock_guard lock(mutex_);
    Transaction transaction(db_);
    for (const auto& update : first) {
        if (auto applied = applyUpdate(update); !applied) {
            return applied;
        }
    }
    std::string sql = std::string("INSERT INTO instances (") + kInstanceColumns +
                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    Statement statement(db_, sql.c_str());
    statement.bind(1, instance.id.str());
    statement.bind(2, instance.projectId.str());
    statement.bind(3, instance.name);
    statement.bind(4, instance.type);
    statement.bind(5, instance.image);
    statement.bindBlob(6, instance.userData);
    statement.bindInt(7, instance.ephemeral ? 1 : 0);
    statement.bindInt(8, instance.preemptible ? 1 : 0);
    statement.bind(9, filesystemsJson(instance.filesystems));
    statement.bind(10, nlohmann::json(instance.tags).dump());
    statement.bind(11, std::string(model::nameOf(instance.state)));
    if (instance.ip) {
        statement.bind(12, *instance.ip);
    } else {
        statement.bindNull(12);
    }
    statement.bind(13, instance.reason);
    statement.bind(14, model::formatTimestamp(instance.createdAt));
    statement.bind(15, instance.host);
    int rc = statement.step();
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Error::notFound("project");
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Error{model::ErrorCode::Conflict, "this project already has an instance with this name",
                     "name"};
    }
    if (rc != SQLITE_DONE) {
        return lastError("insert instance");
    }
    if (auto gpus = insertGpus(instance.id, instance.host, instance.gpus); !gpus) {
        return gpus;
    }
    if (auto attached = attachFilesystems(instance); !attached) {
        return attached;
    }
    if (!transaction.commit()) {
        return lastError("commit instance");
    }
    return {};
}

Result<void> SqliteStore::insertGpus(const model::Uuid& id, const std::string& host,
                                     const std::vector<model::PciAddress>& gpus) {
    for (const auto& gpu : gpus) {
        Statement insert(db_, "INSERT INTO gpu_allocations (host, address, instance_id) VALUES (?, ?, ?)");
        insert.bind(1, host);
        insert.bind(2, gpu.str());
        insert.bind(3, id.str());
        int rc = insert.step();
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            // The agent's own bookkeeping should never get here: refuse rather than share a GPU.
            return Error::internal("GPU " + gpu.str() + " on host " + host + " is already allocated");
        }
        if (rc != SQLITE_DONE) {
            return lastError("allocate GPU");
        }
    }
    return {};
}

Result<void> SqliteStore::applyUpdate(const InstanceUpdate& update) {
    Statement statement(db_,
                        "UPDATE instances SET state = ?, ip = ?, reason = ? WHERE id = ? RETURNING host");
    statement.bind(1, std::string(model::nameOf(update.state)));
    if (update.ip) {
        statement.bind(2, *update.ip);
    } else {
        statement.bindNull(2);
    }
    statement.bind(3, update.reason);
    statement.bind(4, update.id.str());
    int rc = statement.step();
    if (rc == SQLITE_DONE) {
        return Error::notFound("instance");
    }
    if (rc != SQLITE_ROW) {
        return lastError("update instance");
    }
    std::string host = statement.text(0);
    if (statement.step() != SQLITE_DONE) {
        return lastError("update instance");
    }
    if (!update.gpus) {
        return {};
    }
    Statement release(db_, "DELETE FROM gpu_allocations WHERE instance_id = ?");
    release.bind(1, update.id.str());
    if (release.step() != SQLITE_DONE) {
        return lastError("release GPUs");
    }
    return insertGpus(update.id, host, *update.gpus);
}

Result<void> SqliteStore::updateInstances(const std::vector<InstanceUpdate>& updates) {
    Timer timer(metrics_, "update_instance");
    std::lock_guard lock(mutex_);
    Transaction transaction(db_);
    for (const auto& update : updates) {
        if (auto applied = applyUpdate(update); !applied) {
            return applied;
        }
    }
    if (!transaction.commit()) {
        return lastError("commit instance update");
    }
    return {};
}

Result<void> SqliteStore::deleteInstance(const model::Uuid& id) {
    Timer timer(metrics_, "delete_instance");
    std::lock_guard lock(mutex_);
    Statement statement(db_, "DELETE FROM instances WHERE id = ?");
    statement.bind(1, id.str());
    if (statement.step() != SQLITE_DONE) {
        return lastError("delete instance");
    }
    return {};
}

Result<model::Uuid> SqliteStore::agentId() {
    Timer timer(metrics_, "agent_id");
    std::lock_guard lock(mutex_);
    Transaction transaction(db_);
    Statement read(db_, "SELECT value FROM agent_meta WHERE key = 'agent_id'");
    if (read.step() == SQLITE_ROW) {
        auto id = model::Uuid::parse(read.text(0));
        if (!id) {
            return Error::internal("store: malformed agent_id");
        }
        return *id;
    }
    auto id = model::Uuid::random();
    Statement write(db_, "INSERT INTO agent_meta (key, value) VALUES ('agent_id', ?)");
    write.bind(1, id.str());
    if (write.step() != SQLITE_DONE || !transaction.commit()) {
        return lastError("store agent id");
    }
    return id;
}

Result<bool> SqliteStore::imageImported(const std::string& volume) {
    Timer timer(metrics_, "image_imported");
    std::lock_guard lock(mutex_);
    Statement read(db_, "SELECT 1 FROM agent_meta WHERE key = ?");
    read.bind(1, "imported:" + volume);
    int rc = read.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return lastError("read image import");
    }
    return rc == SQLITE_ROW;
}

Result<void> SqliteStore::markImageImported(const std::string& volume) {
    Timer timer(metrics_, "mark_image_imported");
    std::lock_guard lock(mutex_);
    Statement write(db_, "INSERT OR REPLACE INTO agent_meta (key, value) VALUES (?, 'complete')");
    write.bind(1, "imported:" + volume);
    if (write.step() != SQLITE_DONE) {
        return lastError("mark image import");
    }
    return {};
}

}  // namespace gpuhost::agent
