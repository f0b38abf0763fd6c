// Clusters in the store: the spec round trip, the secret, the name scope, updates and
// deletes. The shared checks run on the SQLite store and on FakeClusterStore, so the fake
// that service tests use refuses what the real store refuses; what needs projects or the
// file itself runs on SQLite only.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <functional>
#include <memory>

#include "fakes/fake_cluster_store.hpp"
#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"

using namespace gpuhost;

namespace {

const model::Project kProject{.id = *model::Uuid::parse("7a1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c"),
                              .name = "hpc",
                              .tags = {},
                              .state = model::ProjectState::Active,
                              .createdAt = model::Timestamp{std::chrono::milliseconds{1}}};

model::Cluster slurmCluster(const std::string& name, long createdMillis = 1'767'225'600'123) {
    model::Cluster cluster;
    cluster.id = model::Uuid::random();
    cluster.projectId = kProject.id;
    cluster.kind = model::ClusterKind::Slurm;
    cluster.name = name;
    cluster.version = "24.11";
    cluster.controllerType = "cpu.large";
    cluster.loginCount = 1;
    cluster.loginType = "cpu.small";
    // Neither name order nor uid order gives the lists back: the stored position must.
    cluster.pools = {{"h100", "h100.8x", 4, {"gpu", "batch"}}, {"cpu", "cpu.large", 2, {}}};
    cluster.users = {{"zoe", {"ssh-ed25519 AAAAC3Nza zoe@laptop", "ssh-rsa AAAAB3Nza zoe@ci"}, true, 20001},
                     {"alice", {}, false, 20000}};
    cluster.createdAt = model::Timestamp{std::chrono::milliseconds{createdMillis}};
    return cluster;
}

// A munge key: 1024 random bytes, NULs and high bytes included.
std::string mungeKey(unsigned seed) {
    std::string key(1024, '\0');
    for (std::size_t i = 0; i < key.size(); ++i) {
        key[i] = static_cast<char>((i * 131 + seed * 7) % 256);
    }
    return key;
}

void checkSame(const model::Cluster& got, const model::Cluster& want) {
    CHECK(got.id == want.id);
    CHECK(got.projectId == want.projectId);
    CHECK(got.kind == want.kind);
    CHECK(got.name == want.name);
    CHECK(got.version == want.version);
    CHECK(got.controllerType == want.controllerType);
    CHECK(got.loginCount == want.loginCount);
    CHECK(got.loginType == want.loginType);
    CHECK(got.pools == want.pools);
    CHECK(got.users == want.users);
    CHECK(got.deleting == want.deleting);
    CHECK(got.rollRetries == want.rollRetries);
    CHECK(got.createdAt == want.createdAt);
}

struct Subject {
    agent::ClusterStore* store = nullptr;
    std::function<void()> reopen;  // SQLite: a new connection to the same file
};

void forEachStore(const std::function<void(Subject&)>& check) {
    SUBCASE("sqlite") {
        test::TempDir dir("gpuhost-cluster");
        auto file = dir.path / "gpuhost.db";
        auto store = std::make_unique<agent::SqliteStore>(file, nullptr);
        REQUIRE(store->insertProject(kProject).ok());
        Subject subject;
        subject.store = store.get();
        subject.reopen = [&] {
            store.reset();
            store = std::make_unique<agent::SqliteStore>(file, nullptr);
            subject.store = store.get();
        };
        check(subject);
    }
    SUBCASE("fake") {
        test::FakeClusterStore store;
        Subject subject{&store, [] {}};
        check(subject);
    }
}

// The number of rows of `table`, through a second connection.
long rows(const std::filesystem::path& file, const std::string& table) {
    sqlite3* db = nullptr;
    sqlite3_open(file.c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, ("SELECT count(*) FROM " + table).c_str(), -1, &stmt, nullptr);
    sqlite3_step(stmt);
    long count = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return count;
}

}  // namespace

TEST_CASE("cluster store: pools and users round trip in order, survive a reopen, in creation order") {
    forEachStore([](Subject& subject) {
        auto later = slurmCluster("hpc", 2'000'000);
        auto earlier = slurmCluster("train", 1'000'000);
        auto tie = slurmCluster("tie", 2'000'000);  // same created_at as `later`: insertion order
        tie.kind = model::ClusterKind::Kubernetes;
        tie.pools = {};
        tie.users = {};
        tie.loginCount = 0;
        tie.loginType.clear();
        tie.version.clear();
        REQUIRE(subject.store->insertCluster(later, mungeKey(1)).ok());
        REQUIRE(subject.store->insertCluster(earlier, mungeKey(2)).ok());
        REQUIRE(subject.store->insertCluster(tie, "").ok());
        subject.reopen();
        auto loaded = subject.store->loadClusters();
        REQUIRE(loaded.ok());
        REQUIRE(loaded->size() == 3);
        checkSame((*loaded)[0], earlier);
        checkSame((*loaded)[1], later);
        checkSame((*loaded)[2], tie);
        CHECK((*loaded)[1].pools[0].partitions == std::vector<std::string>{"gpu", "batch"});
        CHECK((*loaded)[1].users[0].username == "zoe");
        CHECK(*subject.store->clusterSecret(later.id) == mungeKey(1));
        CHECK(*subject.store->clusterSecret(earlier.id) == mungeKey(2));
        CHECK(subject.store->clusterSecret(tie.id)->empty());
    });
}

TEST_CASE("cluster store: the secret comes back byte for byte, NULs included") {
    forEachStore([](Subject& subject) {
        auto cluster = slurmCluster("hpc");
        auto key = mungeKey(3);
        key[0] = '\0';
        key[1023] = '\0';
        REQUIRE(key.size() == 1024);
        REQUIRE(subject.store->insertCluster(cluster, key).ok());
        subject.reopen();
        auto secret = subject.store->clusterSecret(cluster.id);
        REQUIRE(secret.ok());
        CHECK(secret->size() == 1024);
        CHECK(*secret == key);
        auto gone = subject.store->clusterSecret(model::Uuid::random());
        REQUIRE_FALSE(gone.ok());
        CHECK(gone.error().code == model::ErrorCode::NotFound);
    });
}

TEST_CASE("cluster store: a name is unique per project and kind, another kind may use it") {
    forEachStore([](Subject& subject) {
        REQUIRE(subject.store->insertCluster(slurmCluster("hpc"), mungeKey(1)).ok());
        auto clash = subject.store->insertCluster(slurmCluster("hpc"), mungeKey(2));
        REQUIRE_FALSE(clash.ok());
        CHECK(clash.error().code == model::ErrorCode::Conflict);
        CHECK(clash.error().field == "name");
        auto kubernetes = slurmCluster("hpc");
        kubernetes.kind = model::ClusterKind::Kubernetes;
        CHECK(subject.store->insertCluster(kubernetes, mungeKey(3)).ok());
        // A repeated pool name or uid is refused whole: nothing of the cluster stays.
        auto twoPools = slurmCluster("two-pools");
        twoPools.pools.push_back(twoPools.pools[0]);
        CHECK(subject.store->insertCluster(twoPools, "").error().code == model::ErrorCode::Conflict);
        auto sameUid = slurmCluster("same-uid");
        sameUid.users[1].uid = sameUid.users[0].uid;
        CHECK(subject.store->insertCluster(sameUid, "").error().code == model::ErrorCode::Conflict);
        CHECK(subject.store->loadClusters()->size() == 2);
        CHECK(subject.store->clusterSecret(twoPools.id).error().code == model::ErrorCode::NotFound);
    });
}

TEST_CASE("cluster store: an update replaces pools, users and deleting, NotFound once gone") {
    forEachStore([](Subject& subject) {
        auto cluster = slurmCluster("hpc");
        REQUIRE(subject.store->insertCluster(cluster, mungeKey(1)).ok());
        cluster.version = "25.05";
        cluster.deleting = true;
        cluster.pools = {
            {"cpu", "cpu.large", 5, {"debug"}}, {"a100", "a100.4x", 1, {}}, {"l4", "l4.1x", 0, {}}};
        cluster.users.erase(cluster.users.begin());
        cluster.users.push_back({"bob", {"ssh-ed25519 AAAAC3Nzb bob@host"}, true, cluster.nextUid()});
        REQUIRE(subject.store->updateCluster(cluster).ok());
        subject.reopen();
        auto loaded = subject.store->loadClusters();
        REQUIRE(loaded->size() == 1);
        checkSame((*loaded)[0], cluster);
        CHECK((*loaded)[0].users[1].uid == 20001);
        CHECK(*subject.store->clusterSecret(cluster.id) == mungeKey(1));  // untouched
        // A refused update changes nothing.
        auto bad = cluster;
        bad.pools = {{"x", "cpu.small", 1, {}}, {"x", "cpu.small", 1, {}}};
        CHECK(subject.store->updateCluster(bad).error().code == model::ErrorCode::Conflict);
        checkSame((*subject.store->loadClusters())[0], cluster);
        REQUIRE(subject.store->deleteCluster(cluster.id).ok());
        auto gone = subject.store->updateCluster(cluster);
        REQUIRE_FALSE(gone.ok());
        CHECK(gone.error().code == model::ErrorCode::NotFound);
        CHECK(subject.store->loadClusters()->empty());
    });
}

TEST_CASE("cluster store: deleting twice is fine") {
    forEachStore([](Subject& subject) {
        auto cluster = slurmCluster("hpc");
        REQUIRE(subject.store->insertCluster(cluster, mungeKey(1)).ok());
        CHECK(subject.store->deleteCluster(cluster.id).ok());
        CHECK(subject.store->deleteCluster(cluster.id).ok());
        CHECK(subject.store->clusterSecret(cluster.id).error().code == model::ErrorCode::NotFound);
        // The name is free again.
        CHECK(subject.store->insertCluster(slurmCluster("hpc"), mungeKey(2)).ok());
    });
}

TEST_CASE("cluster store (fake): failNext fails the next call only") {
    test::FakeClusterStore store;
    store.failNext(model::Error::internal("disk I/O error"));
    auto failed = store.insertCluster(slurmCluster("hpc"), mungeKey(1));
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().code == model::ErrorCode::Internal);
    CHECK(store.size() == 0);
    CHECK(store.insertCluster(slurmCluster("hpc"), mungeKey(1)).ok());
    store.failNext(model::Error::internal("disk I/O error"));
    CHECK_FALSE(store.loadClusters().ok());
    CHECK(store.loadClusters()->size() == 1);
}

TEST_CASE("cluster store (sqlite): the project must exist and cannot go while it has a cluster") {
    test::TempDir dir("gpuhost-cluster");
    agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
    auto orphan = store.insertCluster(slurmCluster("hpc"), mungeKey(1));
    REQUIRE_FALSE(orphan.ok());
    CHECK(orphan.error().code == model::ErrorCode::NotFound);
    CHECK(rows(dir.path / "gpuhost.db", "cluster_pools") == 0);

    REQUIRE(store.insertProject(kProject).ok());
    auto cluster = slurmCluster("hpc");
    REQUIRE(store.insertCluster(cluster, mungeKey(1)).ok());
    auto refused = store.deleteProjectIfEmpty(kProject.id);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == model::ErrorCode::Conflict);
    CHECK(refused.error().message.find("clusters") != std::string::npos);
    REQUIRE(store.deleteCluster(cluster.id).ok());
    CHECK(store.deleteProjectIfEmpty(kProject.id).ok());
}

TEST_CASE("cluster store (sqlite): deleting a cluster deletes its pools and users, not another's") {
    test::TempDir dir("gpuhost-cluster");
    auto file = dir.path / "gpuhost.db";
    agent::SqliteStore store(file, nullptr);
    REQUIRE(store.insertProject(kProject).ok());
    auto doomed = slurmCluster("doomed");
    auto kept = slurmCluster("kept");
    REQUIRE(store.insertCluster(doomed, mungeKey(1)).ok());
    REQUIRE(store.insertCluster(kept, mungeKey(2)).ok());
    CHECK(rows(file, "cluster_pools") == 4);
    CHECK(rows(file, "cluster_users") == 4);
    REQUIRE(store.deleteCluster(doomed.id).ok());
    CHECK(rows(file, "clusters") == 1);
    CHECK(rows(file, "cluster_pools") == 2);
    CHECK(rows(file, "cluster_users") == 2);
    auto loaded = store.loadClusters();
    REQUIRE(loaded->size() == 1);
    checkSame((*loaded)[0], kept);
}

TEST_CASE("cluster store (sqlite): the schema is at version 8") {
    test::TempDir dir("gpuhost-cluster");
    agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
    CHECK(store.schemaVersion() == 8);
    CHECK(agent::SqliteStore::latestSchemaVersion() == 8);
}

TEST_CASE("cluster store (sqlite): a Kubernetes cluster keeps its network and its kind's progress") {
    test::TempDir dir("gpuhost-cluster");
    auto file = dir.path / "gpuhost.db";
    model::Cluster cluster;
    {
        agent::SqliteStore store(file, nullptr);
        REQUIRE(store.insertProject(kProject).ok());
        cluster.id = model::Uuid::random();
        cluster.projectId = kProject.id;
        cluster.kind = model::ClusterKind::Kubernetes;
        cluster.name = "k8s";
        cluster.version = "1.31.2";
        cluster.network = model::KubernetesNetwork{"10.244.0.0/16", "10.96.0.0/12"};
        REQUIRE(store.insertCluster(cluster, "{\"pki\":1}", "{\"token\":\"a\"}").ok());
        CHECK(*store.clusterKindState(cluster.id) == "{\"token\":\"a\"}");
        REQUIRE(store.updateClusterKindState(cluster.id, "{\"token\":\"b\"}").ok());
        cluster.version = "1.32.0";
        cluster.rollRetries = 2;
        REQUIRE(store.updateCluster(cluster).ok());  // a spec change leaves the kind's progress alone
        CHECK(store.updateClusterKindState(model::Uuid::random(), "x").error().code ==
              model::ErrorCode::NotFound);
    }
    agent::SqliteStore reopened(file, nullptr);
    auto loaded = reopened.loadClusters();
    REQUIRE(loaded->size() == 1);
    CHECK(loaded->at(0).network == cluster.network);
    CHECK(loaded->at(0).version == "1.32.0");
    CHECK(loaded->at(0).rollRetries == 2);
    CHECK(*reopened.clusterKindState(cluster.id) == "{\"token\":\"b\"}");
    CHECK(*reopened.clusterSecret(cluster.id) == "{\"pki\":1}");
}
