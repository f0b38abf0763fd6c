#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "metrics.hpp"
#include "store/store.hpp"

struct sqlite3;

namespace gpuhost::agent {

/// The SQLite store: WAL journal, synchronous=FULL, schema migrations applied in
/// order at open (PRAGMA user_version is the schema version).
class SqliteStore final : public ProjectStore,
                          public InstanceStore,
                          public FilesystemStore,
                          public ClusterStore,
                          public AgentMetadataStore {
  public:
    /// Opens (creating if needed) `file` and migrates it. Throws std::runtime_error
    /// when the database cannot be opened or is newer than this binary.
    SqliteStore(const std::filesystem::path& file, Metrics* metrics);
    ~SqliteStore() override;

    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    model::Result<std::vector<model::Project>> loadProjects() override;
    model::Result<void> insertProject(const model::Project& project) override;
    model::Result<void> deleteProjectIfEmpty(const model::Uuid& id) override;

    // InstanceStore (sqlite_instance_store.cpp)
    model::Result<std::vector<model::Instance>> loadInstances() override;
    model::Result<void> insertInstances(const std::vector<model::Instance>& instances,
                                        const std::vector<InstanceUpdate>& first = {}) override;
    model::Result<void> updateInstances(const std::vector<InstanceUpdate>& updates) override;
    model::Result<void> deleteInstance(const model::Uuid& id) override;

    // AgentMetadataStore (sqlite_agent_store.cpp)
    model::Result<model::Uuid> agentId() override;
    model::Result<bool> imageImported(const std::string& mark) override;
    model::Result<void> markImageImported(const std::string& mark) override;
    model::Result<void> forgetImageImported(const std::string& mark) override;

    int schemaVersion();
    static int latestSchemaVersion();

    // FilesystemStore (sqlite_filesystem_store.cpp)
    model::Result<std::vector<model::Filesystem>> loadFilesystems() override;
    model::Result<void> insertFilesystem(const model::Filesystem& filesystem) override;
    model::Result<void> updateFilesystemState(const model::Uuid& id, model::FilesystemState state,
                                              const std::string& reason) override;
    model::Result<void> beginFilesystemDelete(const model::Uuid& id) override;
    model::Result<void> deleteFilesystem(const model::Uuid& id) override;

    // ClusterStore (sqlite_cluster_store.cpp)
    model::Result<std::vector<model::Cluster>> loadClusters() override;
    model::Result<void> insertCluster(const model::Cluster& cluster, const std::string& secret,
                                      const std::string& kindState = {}) override;
    model::Result<std::string> clusterSecret(const model::Uuid& id) override;
    model::Result<std::string> clusterKindState(const model::Uuid& id) override;
    model::Result<void> updateClusterKindState(const model::Uuid& id, const std::string& kindState) override;
    model::Result<void> updateCluster(const model::Cluster& cluster) override;
    model::Result<void> deleteCluster(const model::Uuid& id) override;

  private:
    model::Result<void> insertPoolsAndUsers(const model::Cluster& cluster);
    model::Result<void> loadPoolsAndUsers(std::vector<model::Cluster>& clusters);
    model::Result<void> insertOne(const model::Instance& instance);
    model::Result<void> attachFilesystems(const model::Instance& instance);
    model::Result<void> loadGpusAndFilesystems(std::vector<model::Instance>& instances);
    model::Result<void> applyUpdate(const InstanceUpdate& update);
    model::Result<void> insertGpus(const model::Uuid& id, const std::string& host,
                                   const std::vector<model::PciAddress>& gpus);
    void execute(const char* sql);
    int userVersion();
    void migrate();
    void checkForeignKeys();
    model::Error lastError(std::string_view what) const;

    sqlite3* db_ = nullptr;
    std::mutex mutex_;  // one connection; SQLite serialises writers anyway
    Metrics* metrics_;
};

}  // namespace gpuhost::agent
