// Group inserts (a cluster's members, all or none), the two name scopes, the owner, and
// the agent metadata. The same checks run on the SQLite store and on the fakes, so the
// fakes that service tests use refuse exactly what the real store refuses.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <functional>
#include <memory>

#include "fakes/fake_agent_store.hpp"
#include "fakes/fake_instance_store.hpp"
#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"

using namespace gpuhost;

namespace {

model::PciAddress gpu(const char* text) {
    return *model::PciAddress::parse(text);
}

const model::Project kProject{.id = *model::Uuid::parse("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"),
                              .name = "ml",
                              .tags = {},
                              .state = model::ProjectState::Active,
                              .createdAt = model::Timestamp{std::chrono::milliseconds{1}}};

model::Instance userInstance(const std::string& name, std::vector<model::PciAddress> gpus = {}) {
    model::Instance made;
    made.id = model::Uuid::random();
    made.projectId = kProject.id;
    made.name = name;
    made.type = gpus.empty() ? "cpu.small" : "h100.1x";
    made.image = "image://ubuntu22.04";
    made.host = "hgx-a";
    made.gpus = std::move(gpus);
    return made;
}

model::InstanceOwner slurmOwner(const model::Uuid& cluster, const std::string& role, unsigned index) {
    return {cluster, "slurm", "hpc", role == "worker" ? "gpu-pool" : "", role, index};
}

model::Instance member(const std::string& name, const model::InstanceOwner& owner,
                       std::vector<model::PciAddress> gpus = {}) {
    auto made = userInstance(name, std::move(gpus));
    made.owner = owner;
    return made;
}

// The store under test, with what the test needs to look behind the interface.
struct Subject {
    agent::InstanceStore* store = nullptr;
    std::function<long()> gpuRows;  // allocations held, counted where they are kept
    std::function<void()> reopen;   // SQLite: a new connection to the same file
};

// Runs `check` once per implementation (doctest subcases), each on a fresh store.
void forEachStore(const std::function<void(Subject&)>& check) {
    SUBCASE("sqlite") {
        test::TempDir dir("gpuhost-group");
        auto file = dir.path / "gpuhost.db";
        auto store = std::make_unique<agent::SqliteStore>(file, nullptr);
        REQUIRE(store->insertProject(kProject).ok());
        Subject subject;
        subject.store = store.get();
        subject.gpuRows = [file] {
            sqlite3* db = nullptr;
            sqlite3_open(file.c_str(), &db);
            sqlite3_stmt* stmt = nullptr;
            sqlite3_prepare_v2(db, "SELECT count(*) FROM gpu_allocations", -1, &stmt, nullptr);
            sqlite3_step(stmt);
            long rows = sqlite3_column_int64(stmt, 0);
            sqlite3_finalize(stmt);
            sqlite3_close(db);
            return rows;
        };
        subject.reopen = [&] {
            store.reset();
            store = std::make_unique<agent::SqliteStore>(file, nullptr);
            subject.store = store.get();
        };
        check(subject);
    }
    SUBCASE("fake") {
        test::FakeInstanceStore store;
        Subject subject;
        subject.store = &store;
        subject.gpuRows = [&store] {
            long rows = 0;
            auto all = store.loadInstances();  // kept: a range-for over *temporary would dangle
            for (const auto& instance : *all) {
                rows += static_cast<long>(instance.gpus.size());
            }
            return rows;
        };
        subject.reopen = [] {};
        check(subject);
    }
}

std::vector<std::string> names(agent::InstanceStore& store) {
    std::vector<std::string> out;
    auto all = store.loadInstances();
    for (const auto& instance : *all) {
        out.push_back(instance.name);
    }
    return out;
}

}  // namespace

TEST_CASE("group insert: a member whose GPU is taken → nothing of the group is stored") {
    forEachStore([](Subject& s) {
        auto holder = userInstance("holder", {gpu("0000:2a:00.0")});
        REQUIRE(s.store->insertInstance(holder).ok());
        auto cluster = model::Uuid::random();
        std::vector<model::Instance> group = {
            member("hpc-controller", slurmOwner(cluster, "controller", 0)),
            member("hpc-gpu-pool-0", slurmOwner(cluster, "worker", 0), {gpu("0000:18:00.0")}),
            member("hpc-gpu-pool-1", slurmOwner(cluster, "worker", 1), {gpu("0000:2a:00.0")}),
        };
        auto refused = s.store->insertInstances(group);
        REQUIRE_FALSE(refused.ok());
        CHECK(names(*s.store) == std::vector<std::string>{"holder"});
        CHECK(s.gpuRows() == 1);  // the first worker's GPU went back with the rest
        // Two members of one group claiming the same GPU: refused the same way.
        group[2].gpus = group[1].gpus;
        CHECK_FALSE(s.store->insertInstances(group).ok());
        CHECK(s.gpuRows() == 1);
        // With a free GPU the same group fits as a whole.
        group[2].gpus = {gpu("0000:3b:00.0")};
        REQUIRE(s.store->insertInstances(group).ok());
        CHECK(names(*s.store).size() == 4);
        CHECK(s.gpuRows() == 3);
    });
}

TEST_CASE("group insert: a name taken within the cluster → Conflict, nothing of the group is stored") {
    forEachStore([](Subject& s) {
        auto cluster = model::Uuid::random();
        REQUIRE(s.store->insertInstance(member("hpc-controller", slurmOwner(cluster, "controller", 0))).ok());
        std::vector<model::Instance> group = {
            member("hpc-gpu-pool-0", slurmOwner(cluster, "worker", 0), {gpu("0000:18:00.0")}),
            member("hpc-controller", slurmOwner(cluster, "controller", 0)),
        };
        auto clash = s.store->insertInstances(group);
        REQUIRE_FALSE(clash.ok());
        CHECK(clash.error().code == model::ErrorCode::Conflict);
        CHECK(clash.error().field == "name");
        CHECK(names(*s.store) == std::vector<std::string>{"hpc-controller"});
        CHECK(s.gpuRows() == 0);
        // Two members of the group with one name: the same.
        group[1].name = group[0].name;
        CHECK(s.store->insertInstances(group).error().code == model::ErrorCode::Conflict);
        CHECK(s.gpuRows() == 0);
    });
}

TEST_CASE("group insert: evictions in `first` are undone with a refused group") {
    forEachStore([](Subject& s) {
        auto victim = userInstance("spot", {gpu("0000:18:00.0")});
        victim.preemptible = true;
        victim.state = model::InstanceState::Running;
        REQUIRE(s.store->insertInstance(victim).ok());
        REQUIRE(s.store->insertInstance(userInstance("taken")).ok());
        agent::InstanceUpdate evict{victim.id, model::InstanceState::Stopping, std::nullopt, "preempted",
                                    std::vector<model::PciAddress>{}};
        auto cluster = model::Uuid::random();
        std::vector<model::Instance> group = {
            member("w0", slurmOwner(cluster, "worker", 0), {gpu("0000:18:00.0")}),
            userInstance("taken"),  // a user instance in the group whose name is taken
        };
        CHECK_FALSE(s.store->insertInstances(group, {evict}).ok());
        auto loaded = *s.store->loadInstances();
        REQUIRE(loaded.size() == 2);
        CHECK(loaded[0].state == model::InstanceState::Running);
        CHECK(loaded[0].gpus == victim.gpus);
        CHECK(s.gpuRows() == 1);
    });
}

TEST_CASE("names: a member and a user instance may share a name, and each scope refuses its own duplicates") {
    forEachStore([](Subject& s) {
        auto slurm = model::Uuid::random();
        auto other = model::Uuid::random();
        REQUIRE(s.store->insertInstance(userInstance("node-0")).ok());
        REQUIRE(s.store->insertInstance(member("node-0", slurmOwner(slurm, "worker", 0))).ok());
        REQUIRE(s.store->insertInstance(member("node-0", slurmOwner(other, "worker", 0))).ok());
        CHECK(s.store->insertInstance(userInstance("node-0")).error().code == model::ErrorCode::Conflict);
        CHECK(s.store->insertInstance(member("node-0", slurmOwner(other, "worker", 1))).error().code ==
              model::ErrorCode::Conflict);
        s.reopen();
        CHECK(names(*s.store) == std::vector<std::string>{"node-0", "node-0", "node-0"});
        // The other way round: the member first, then a user instance of its name.
        REQUIRE(s.store->insertInstance(member("hpc-controller", slurmOwner(slurm, "controller", 0))).ok());
        CHECK(s.store->insertInstance(userInstance("hpc-controller")).ok());
    });
}

TEST_CASE("owner: round-trips with every field, and user instances have none") {
    forEachStore([](Subject& s) {
        auto cluster = model::Uuid::random();
        model::InstanceOwner owner{cluster, "kubernetes", "prod", "a100-pool", "worker", 7};
        auto owned = member("prod-a100-pool-7", owner, {gpu("0000:18:00.0")});
        owned.createdAt = model::Timestamp{std::chrono::milliseconds{5}};
        auto controlPlane =
            member("prod-control-plane-0", {cluster, "kubernetes", "prod", "", "control-plane", 0});
        controlPlane.createdAt = model::Timestamp{std::chrono::milliseconds{5}};
        auto plain = userInstance("mine");
        plain.createdAt = model::Timestamp{std::chrono::milliseconds{9}};
        REQUIRE(s.store->insertInstances({owned, controlPlane}).ok());
        REQUIRE(s.store->insertInstance(plain).ok());
        s.reopen();
        auto loaded = *s.store->loadInstances();
        REQUIRE(loaded.size() == 3);
        // Creation order; equal timestamps keep the order of the group.
        CHECK(loaded[0].name == "prod-a100-pool-7");
        REQUIRE(loaded[0].owner.has_value());
        CHECK(*loaded[0].owner == owner);
        CHECK(loaded[0].gpus == owned.gpus);
        CHECK(loaded[1].owner->nodePool.empty());
        CHECK(loaded[1].owner->role == "control-plane");
        CHECK_FALSE(loaded[2].owner.has_value());
    });
}

TEST_CASE("sqlite group insert: a gone project or an unavailable filesystem refuses the whole group") {
    test::TempDir dir("gpuhost-group");
    agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
    REQUIRE(store.insertProject(kProject).ok());
    auto cluster = model::Uuid::random();
    auto stray = member("w1", slurmOwner(cluster, "worker", 1), {gpu("0000:2a:00.0")});
    stray.projectId = model::Uuid::random();
    auto refused = store.insertInstances({member("w0", slurmOwner(cluster, "worker", 0)), stray});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == model::ErrorCode::NotFound);
    model::Filesystem creating{model::Uuid::random(),
                               kProject.id,
                               "data",
                               1 << 30,
                               "hgx-a",
                               model::FilesystemState::Creating,
                               "",
                               {}};
    REQUIRE(store.insertFilesystem(creating).ok());
    auto wantsData = member("w1", slurmOwner(cluster, "worker", 1));
    wantsData.filesystems = {creating.id};
    refused = store.insertInstances(
        {member("w0", slurmOwner(cluster, "worker", 0), {gpu("0000:18:00.0")}), wantsData});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().field == "filesystems");
    CHECK(store.loadInstances()->empty());
    // Nothing holds the GPU or the filesystem afterwards.
    REQUIRE(store.insertInstance(userInstance("after", {gpu("0000:18:00.0")})).ok());
    CHECK(store.beginFilesystemDelete(creating.id).ok());
}

TEST_CASE("sqlite: an instance's filesystems come back in the order they were given") {
    test::TempDir dir("gpuhost-group");
    agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
    REQUIRE(store.insertProject(kProject).ok());
    std::vector<model::Uuid> ids;
    for (const char* name : {"c", "a", "b", "d"}) {
        model::Filesystem made{model::Uuid::random(),
                               kProject.id,
                               name,
                               1 << 30,
                               "hgx-a",
                               model::FilesystemState::Creating,
                               "",
                               {}};
        REQUIRE(store.insertFilesystem(made).ok());
        REQUIRE(store.updateFilesystemState(made.id, model::FilesystemState::Available, "").ok());
        ids.push_back(made.id);
    }
    auto first = userInstance("first");
    first.filesystems = {ids[2], ids[0], ids[3], ids[1]};
    auto second = userInstance("second");
    second.filesystems = {ids[1], ids[2]};
    REQUIRE(store.insertInstances({first, second}).ok());
    auto loaded = *store.loadInstances();
    REQUIRE(loaded.size() == 2);
    CHECK(loaded[0].filesystems == first.filesystems);
    CHECK(loaded[1].filesystems == second.filesystems);
    CHECK(store.beginFilesystemDelete(ids[0]).error().code == model::ErrorCode::Conflict);
    REQUIRE(store.deleteInstance(first.id).ok());
    CHECK(store.beginFilesystemDelete(ids[0]).ok());
}

TEST_CASE("agent metadata: marks are per host, forgettable, and the agent id is stable") {
    auto check = [](agent::AgentMetadataStore& store) {
        auto id = store.agentId();
        REQUIRE(id.ok());
        CHECK(*store.agentId() == *id);
        CHECK_FALSE(*store.imageImported("hgx-a/base-ubuntu"));
        REQUIRE(store.markImageImported("hgx-a/base-ubuntu").ok());
        REQUIRE(store.markImageImported("hgx-a/base-ubuntu").ok());  // again: no error
        CHECK(*store.imageImported("hgx-a/base-ubuntu"));
        // Another host's volume of the same name is another mark.
        CHECK_FALSE(*store.imageImported("hgx-b/base-ubuntu"));
        CHECK_FALSE(*store.imageImported("base-ubuntu"));
        REQUIRE(store.markImageImported("hgx-b/base-ubuntu").ok());
        REQUIRE(store.forgetImageImported("hgx-a/base-ubuntu").ok());
        REQUIRE(store.forgetImageImported("hgx-a/never-marked").ok());  // forgetting nothing is fine
        CHECK_FALSE(*store.imageImported("hgx-a/base-ubuntu"));
        CHECK(*store.imageImported("hgx-b/base-ubuntu"));
        // A mark is not the agent id, whatever it is called.
        REQUIRE(store.markImageImported("agent_id").ok());
        CHECK(*store.agentId() == *id);
        return *id;
    };
    SUBCASE("sqlite") {
        test::TempDir dir("gpuhost-group");
        model::Uuid id;
        {
            agent::SqliteStore store(dir.path / "gpuhost.db", nullptr);
            id = check(store);
        }
        agent::SqliteStore reopened(dir.path / "gpuhost.db", nullptr);
        CHECK(*reopened.agentId() == id);
        CHECK(*reopened.imageImported("hgx-b/base-ubuntu"));
        CHECK_FALSE(*reopened.imageImported("hgx-a/base-ubuntu"));
    }
    SUBCASE("fake") {
        test::FakeAgentStore store;
        check(store);
        CHECK(store.marks() == std::set<std::string>{"agent_id", "hgx-b/base-ubuntu"});
    }
}
