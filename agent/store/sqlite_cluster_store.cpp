// The cluster half of SqliteStore: clusters with their pools, users and secret.
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

constexpr sqlite3_int64 kMaxUnsigned = std::numeric_limits<unsigned>::max();

// A JSON array of strings (partitions, SSH keys); nullopt when the text is anything else.
std::optional<std::vector<std::string>> stringsFromJson(const std::string& text) {
    auto json = nlohmann::json::parse(text, nullptr, false);
    if (!json.is_array()) {
        return std::nullopt;
    }
    std::vector<std::string> strings;
    for (const auto& item : json) {
        if (!item.is_string()) {
            return std::nullopt;
        }
        strings.push_back(item.get<std::string>());
    }
    return strings;
}

bool inUnsignedRange(sqlite3_int64 value) {
    return value >= 0 && value <= kMaxUnsigned;
}

std::optional<model::Cluster> clusterFromRow(const Statement& row) {
    auto id = model::Uuid::parse(row.text(0));
    auto project = model::Uuid::parse(row.text(1));
    auto kind = model::parseClusterKind(row.text(2));
    auto created = model::parseTimestamp(row.text(9));
    if (!id || !project || !kind || !created || !inUnsignedRange(row.integer(6)) ||
        !inUnsignedRange(row.integer(12))) {
        return std::nullopt;
    }
    model::Cluster cluster;
    cluster.id = *id;
    cluster.projectId = *project;
    cluster.kind = *kind;
    cluster.name = row.text(3);
    cluster.version = row.text(4);
    cluster.controllerType = row.text(5);
    cluster.loginCount = static_cast<unsigned>(row.integer(6));
    cluster.loginType = row.text(7);
    cluster.deleting = row.integer(8) != 0;
    cluster.rollRetries = static_cast<unsigned>(row.integer(12));
    cluster.createdAt = *created;
    if (cluster.kind == model::ClusterKind::Kubernetes) {
        cluster.network = model::KubernetesNetwork{row.text(10), row.text(11)};
    }
    return cluster;
}

}  // namespace

Result<std::vector<model::Cluster>> SqliteStore::loadClusters() {
    Timer timer(metrics_, "load_clusters");
    std::lock_guard lock(mutex_);
    Statement statement(
        db_,
        "SELECT id, project_id, kind, name, version, controller_type, login_count, login_type, "
        "deleting, created_at, pod_cidr, service_cidr, roll_retries FROM clusters ORDER BY created_at, "
        "rowid");
    std::vector<model::Cluster> clusters;
    int rc = SQLITE_ROW;
    while ((rc = statement.step()) == SQLITE_ROW) {
        auto cluster = clusterFromRow(statement);
        if (!cluster) {
            return Error::internal("store: malformed cluster row " + statement.text(0));
        }
        clusters.push_back(std::move(*cluster));
    }
    if (rc != SQLITE_DONE) {
        return lastError("load clusters");
    }
    if (auto loaded = loadPoolsAndUsers(clusters); !loaded) {
        return loaded.error();
    }
    return clusters;
}

Result<void> SqliteStore::loadPoolsAndUsers(std::vector<model::Cluster>& clusters) {
    std::map<std::string, model::Cluster*> byId;
    for (auto& cluster : clusters) {
        byId[cluster.id.str()] = &cluster;
    }
    int rc = SQLITE_ROW;
    Statement pools(db_,
                    "SELECT cluster_id, name, type, count, partitions FROM cluster_pools "
                    "ORDER BY cluster_id, position");
    while ((rc = pools.step()) == SQLITE_ROW) {
        auto owner = byId.find(pools.text(0));
        auto partitions = stringsFromJson(pools.text(4));
        if (owner == byId.end() || !partitions || !inUnsignedRange(pools.integer(3))) {
            return Error::internal("store: malformed pool " + pools.text(1) + " of cluster " + pools.text(0));
        }
        owner->second->pools.push_back(
            {pools.text(1), pools.text(2), static_cast<unsigned>(pools.integer(3)), std::move(*partitions)});
    }
    if (rc != SQLITE_DONE) {
        return lastError("load cluster pools");
    }
    Statement users(db_,
                    "SELECT cluster_id, username, ssh_keys, sudo, uid FROM cluster_users "
                    "ORDER BY cluster_id, position");
    while ((rc = users.step()) == SQLITE_ROW) {
        auto owner = byId.find(users.text(0));
        auto keys = stringsFromJson(users.text(2));
        if (owner == byId.end() || !keys || !inUnsignedRange(users.integer(4))) {
            return Error::internal("store: malformed user " + users.text(1) + " of cluster " + users.text(0));
        }
        owner->second->users.push_back({users.text(1), std::move(*keys), users.integer(3) != 0,
                                        static_cast<unsigned>(users.integer(4))});
    }
    if (rc != SQLITE_DONE) {
        return lastError("load cluster users");
    }
    return {};
}

Result<void> SqliteStore::insertCluster(const model::Cluster& cluster, const std::string& secret,
                                        const std::string& kindState) {
    Timer timer(metrics_, "insert_cluster");
    std::lock_guard lock(mutex_);
    Transaction transaction(db_);
    Statement statement(
        db_,
        "INSERT INTO clusters (id, project_id, kind, name, version, controller_type, login_count, "
        "login_type, deleting, secret, created_at, pod_cidr, service_cidr, kind_state, roll_retries) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    statement.bind(1, cluster.id.str());
    statement.bind(2, cluster.projectId.str());
    statement.bind(3, std::string(model::nameOf(cluster.kind)));
    statement.bind(4, cluster.name);
    statement.bind(5, cluster.version);
    statement.bind(6, cluster.controllerType);
    statement.bindInt(7, cluster.loginCount);
    statement.bind(8, cluster.loginType);
    statement.bindInt(9, cluster.deleting ? 1 : 0);
    statement.bindBlob(10, secret);
    statement.bind(11, model::formatTimestamp(cluster.createdAt));
    statement.bind(12, cluster.network ? cluster.network->podCidr : std::string());
    statement.bind(13, cluster.network ? cluster.network->serviceCidr : std::string());
    statement.bind(14, kindState);
    statement.bindInt(15, cluster.rollRetries);
    int rc = statement.step();
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return Error::notFound("project");
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return Error{model::ErrorCode::Conflict,
                     "this project already has a " + std::string(model::nameOf(cluster.kind)) +
                         " cluster named " + cluster.name,
                     "name"};
    }
    if (rc != SQLITE_DONE) {
        return lastError("insert cluster");
    }
    if (auto inserted = insertPoolsAndUsers(cluster); !inserted) {
        return inserted;
    }
    if (!transaction.commit()) {
        return lastError("commit cluster");
    }
    return {};
}

// Inside a transaction: the rows are the only record of the lists, so they keep the
// order given (position). A repeated pool name, username or uid is a Conflict (the
// service validates before; the keys make sure).
Result<void> SqliteStore::insertPoolsAndUsers(const model::Cluster& cluster) {
    for (std::size_t position = 0; position < cluster.pools.size(); ++position) {
        const auto& pool = cluster.pools[position];
        Statement insert(db_,
                         "INSERT INTO cluster_pools (cluster_id, position, name, type, count, partitions) "
                         "VALUES (?, ?, ?, ?, ?, ?)");
        insert.bind(1, cluster.id.str());
        insert.bindInt(2, static_cast<sqlite3_int64>(position));
        insert.bind(3, pool.name);
        insert.bind(4, pool.type);
        insert.bindInt(5, pool.count);
        insert.bind(6, nlohmann::json(pool.partitions).dump());
        int rc = insert.step();
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            return Error{model::ErrorCode::Conflict, "the cluster has two pools named " + pool.name,
                         "nodePools"};
        }
        if (rc != SQLITE_DONE) {
            return lastError("insert cluster pool");
        }
    }
    for (std::size_t position = 0; position < cluster.users.size(); ++position) {
        const auto& user = cluster.users[position];
        Statement insert(db_,
                         "INSERT INTO cluster_users (cluster_id, position, username, uid, ssh_keys, sudo) "
                         "VALUES (?, ?, ?, ?, ?, ?)");
        insert.bind(1, cluster.id.str());
        insert.bindInt(2, static_cast<sqlite3_int64>(position));
        insert.bind(3, user.username);
        insert.bindInt(4, user.uid);
        insert.bind(5, nlohmann::json(user.sshKeys).dump());
        insert.bindInt(6, user.sudo ? 1 : 0);
        int rc = insert.step();
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            return Error{model::ErrorCode::Conflict, "the cluster already has a user named " + user.username,
                         "username"};
        }
        if (rc == SQLITE_CONSTRAINT_UNIQUE) {
            return Error{model::ErrorCode::Conflict,
                         "the cluster already has a user with uid " + std::to_string(user.uid), "uid"};
        }
        if (rc != SQLITE_DONE) {
            return lastError("insert cluster user");
        }
    }
    return {};
}

Result<std::string> SqliteStore::clusterSecret(const model::Uuid& id) {
    Timer timer(metrics_, "cluster_secret");
    std::lock_guard lock(mutex_);
    Statement statement(db_, "SELECT secret FROM clusters WHERE id = ?");
    statement.bind(1, id.str());
    int rc = statement.step();
    if (rc == SQLITE_DONE) {
        return Error::notFound("cluster");
    }
    if (rc != SQLITE_ROW) {
        return lastError("read cluster secret");
    }
    return statement.blob(0);
}

Result<std::string> SqliteStore::clusterKindState(const model::Uuid& id) {
    Timer timer(metrics_, "cluster_kind_state");
    std::lock_guard lock(mutex_);
    Statement statement(db_, "SELECT kind_state FROM clusters WHERE id = ?");
    statement.bind(1, id.str());
    int rc = statement.step();
    if (rc == SQLITE_DONE) {
        return Error::notFound("cluster");
    }
    if (rc != SQLITE_ROW) {
        return lastError("read cluster kind state");
    }
    return statement.text(0);
}

Result<void> SqliteStore::updateClusterKindState(const model::Uuid& id, const std::string& kindState) {
    Timer timer(metrics_, "update_cluster_kind_state");
    std::lock_guard lock(mutex_);
    Statement update(db_, "UPDATE clusters SET kind_state = ? WHERE id = ?");
    update.bind(1, kindState);
    update.bind(2, id.str());
    if (update.step() != SQLITE_DONE) {
        return lastError("update cluster kind state");
    }
    if (sqlite3_changes(db_) == 0) {
        return Error::notFound("cluster");
    }
    return {};
}

Result<void> SqliteStore::updateCluster(const model::Cluster& cluster) {
    Timer timer(metrics_, "update_cluster");
    std::lock_guard lock(mutex_);
    Transaction transaction(db_);
    // What may change after creation; id, project, kind, name, types and createdAt stay.
    Statement update(db_, "UPDATE clusters SET version = ?, deleting = ?, roll_retries = ? WHERE id = ?");
    update.bind(1, cluster.version);
    update.bindInt(2, cluster.deleting ? 1 : 0);
    update.bindInt(3, cluster.rollRetries);
    update.bind(4, cluster.id.str());
    if (update.step() != SQLITE_DONE) {
        return lastError("update cluster");
    }
    if (sqlite3_changes(db_) == 0) {
        return Error::notFound("cluster");
    }
    for (const char* sql : {"DELETE FROM cluster_pools WHERE cluster_id = ?",
                            "DELETE FROM cluster_users WHERE cluster_id = ?"}) {
        Statement clear(db_, sql);
        clear.bind(1, cluster.id.str());
        if (clear.step() != SQLITE_DONE) {
            return lastError("replace cluster pools and users");
        }
    }
    if (auto inserted = insertPoolsAndUsers(cluster); !inserted) {
        return inserted;
    }
    if (!transaction.commit()) {
        return lastError("commit cluster update");
    }
    return {};
}

Result<void> SqliteStore::deleteCluster(const model::Uuid& id) {
    Timer timer(metrics_, "delete_cluster");
    std::lock_guard lock(mutex_);
    // Pools and users go with it (ON DELETE CASCADE), in the same statement.
    Statement statement(db_, "DELETE FROM clusters WHERE id = ?");
    statement.bind(1, id.str());
    if (statement.step() != SQLITE_DONE) {
        return lastError("delete cluster");
    }
    return {};
}

}  // namespace gpuhost::agent
