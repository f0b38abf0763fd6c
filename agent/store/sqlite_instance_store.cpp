// The instance half of SqliteStore.
#include <limits>
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
    "id, project_id, name, type, image, user_data, ephemeral, preemptible, tags, state, ip, reason, "
    "created_at, host, owner_cluster, owner_kind, owner_cluster_name, owner_pool, owner_role, owner_index";
constexpr int kInstanceColumnCount = 20;

// owner_cluster '' is a user instance; the other owner columns only mean something with
// it. False when the row is malformed.
bool readOwner(const Statement& row, std::optional<model::InstanceOwner>& owner) {
    if (row.text(14).empty()) {
        owner.reset();
        return true;
    }
    auto cluster = model::Uuid::parse(row.text(14));
    auto index = row.integer(19);
    if (!cluster || index < 0 || index > std::numeric_limits<unsigned>::max()) {
        return false;
    }
    owner = model::InstanceOwner{*cluster,     row.text(15), row.text(16),
                                 row.text(17), row.text(18), static_cast<unsigned>(index)};
    return true;
}

std::optional<model::Instance> instanceFromRow(const Statement& row) {
    model::Instance instance;
    auto id = model::Uuid::parse(row.text(0));
    auto project = model::Uuid::parse(row.text(1));
    auto tags = nlohmann::json::parse(row.text(8), nullptr, false);
    auto state = model::instanceStateFromString(row.text(9));
    auto created = model::parseTimestamp(row.text(12));
    if (!id || !project || !tags.is_object() || !state || !created || !readOwner(row, instance.owner)) {
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
    instance.tags = tags.get<model::Tags>();
    instance.state = *state;
    if (!row.isNull(10)) {
        instance.ip = row.text(10);
    }
    instance.reason = row.text(11);
    instance.createdAt = *created;
    instance.host = row.text(13);
    return instance;
}

void bindInstance(Statement& statement, const model::Instance& instance) {
    statement.bind(1, instance.id.str());
    statement.bind(2, instance.projectId.str());
    statement.bind(3, instance.name);
    statement.bind(4, instance.type);
    statement.bind(5, instance.image);
    statement.bindBlob(6, instance.userData);
    statement.bindInt(7, instance.ephemeral ? 1 : 0);
    statement.bindInt(8, instance.preemptible ? 1 : 0);
    statement.bind(9, nlohmann::json(instance.tags).dump());
    statement.bind(10, std::string(model::nameOf(instance.state)));
    if (instance.ip) {
        statement.bind(11, *instance.ip);
    } else {
        statement.bindNull(11);
    }
    statement.bind(12, instance.reason);
    statement.bind(13, model::formatTimestamp(instance.createdAt));
    statement.bind(14, instance.host);
    const auto& owner = instance.owner;
    statement.bind(15, owner ? owner->clusterId.str() : std::string());
    statement.bind(16, owner ? owner->clusterKind : std::string());
    statement.bind(17, owner ? owner->clusterName : std::string());
    statement.bind(18, owner ? owner->nodePool : std::string());
    statement.bind(19, owner ? owner->role : std::string());
    statement.bindInt(20, owner ? owner->index : 0);
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
    if (auto loaded = loadGpusAndFilesystems(instances); !loaded) {
        return loaded.error();
    }
    return instances;
}

Result<void> SqliteStore::loadGpusAndFilesystems(std::vector<model::Instance>& instances) {
    std::map<std::string, model::Instance*> byId;
    for (auto& instance : instances) {
        byId[instance.id.str()] = &instance;
    }
    int rc = SQLITE_ROW;
    Statement gpus(db_, "SELECT instance_id, address FROM gpu_allocations ORDER BY instance_id, address");
    while ((rc = gpus.step()) == SQLITE_ROW) {
        auto holder = byId.find(gpus.text(0));
        auto address = model::PciAddress::parse(gpus.text(1));
        if (holder == byId.end() || !address) {
            return Error::internal("store: malformed GPU allocation " + gpus.text(1));
        }
        holder->second->gpus.push_back(*address);
    }
    if (rc != SQLITE_DONE) {
        return lastError("load GPU allocations");
    }
    Statement filesystems(db_,
                          "SELECT instance_id, filesystem_id FROM instance_filesystems "
                          "ORDER BY instance_id, position");
    while ((rc = filesystems.step()) == SQLITE_ROW) {
        auto user = byId.find(filesystems.text(0));
        auto id = model::Uuid::parse(filesystems.text(1));
        if (user == byId.end() || !id) {
            return Error::internal("store: malformed filesystem reference " + filesystems.text(1));
        }
        user->second->filesystems.push_back(*id);
    }
    if (rc != SQLITE_DONE) {
        return lastError("load filesystem references");
    }
    return {};
}

Result<void> SqliteStore::insertInstances(const std::vector<model::Instance>& instances,
                                          const std::vector<InstanceUpdate>& first) {
    Timer timer(metrics_, "insert_instance");
    std::lock_guard lock(mutex_);
    // One transaction for the evictions and the whole group: any error returns before
    // commit and the Transaction rolls everything back, GPU rows included.
    Transaction transaction(db_);
    for (const auto& update : first) {
        if (auto applied = applyUpdate(update); !applied) {
            return applied;
        }
    }
    for (const auto& instance : instances) {
        if (auto inserted = insertOne(instance); !inserted) {
            return inserted;
        }
    }
    if (!transaction.commit()) {
        return lastError("commit instances");
    }
    return {};
}

Result<void> SqliteStore::insertOne(const model::Instance& instance) {
    std::string placeholders = "?";
    for (int i = 1; i < kInstanceColumnCount; ++i) {
        placeholders += ", ?";
    }
    std::string sql =
        std::string("INSERT INTO instances (") + kInstanceColumns + ") VALUES (" + placeholders + ")";
    Statement statement(db_, sql.c_str());
    bindInstance(statement, instance);
    int rc = statement.step();
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Error::notFound("project");
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        std::string scope = instance.owner
                                ? "cluster " + instance.owner->clusterName + " already has a member"
                                : "this project already has an instance";
        return Error{model::ErrorCode::Conflict, scope + " named " + instance.name, "name"};
    }
    if (rc != SQLITE_DONE) {
        return lastError("insert instance");
    }
    if (auto gpus = insertGpus(instance.id, instance.host, instance.gpus); !gpus) {
        return gpus;
    }
    return attachFilesystems(instance);
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

}  // namespace gpuhost::agent
