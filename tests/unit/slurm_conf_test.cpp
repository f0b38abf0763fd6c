#include <doctest/doctest.h>

#include <set>

#include "munge_key.hpp"
#include "node_config.hpp"
#include "slurm_conf.hpp"
#include "support/golden.hpp"
#include "unit/hostile_strings.hpp"

using namespace gpuhost;
using slurm::ClusterSpec;
using slurm::PoolSpec;

namespace {

ClusterSpec cpuCluster() {
    ClusterSpec spec;
    spec.name = "research";
    spec.controllerHostname = "research-ctl";
    spec.controllerAddress = "192.168.122.10";
    spec.slurmVersion = "22.05.8";
    spec.pools = {{"cpu", 2, 2, 768, 0, "", {}}};
    return spec;
}

ClusterSpec gpuCluster() {
    auto spec = cpuCluster();
    spec.name = "train";
    spec.controllerHostname = "train-ctl";
    spec.pools = {{"h100", 4, 208, 2048 * 1024, 8, "h100", {}}};
    spec.maxNodes = 16;
    return spec;
}

// Three pools over three partitions: "batch" named by two pools, a default named explicitly.
ClusterSpec partitionedCluster() {
    auto spec = cpuCluster();
    spec.name = "mixed";
    spec.pools = {{"small", 4, 4, 16384, 0, "", {"batch", "debug"}},
                  {"a100", 2, 64, 512 * 1024, 4, "a100", {"gpu", "batch"}},
                  {"misc", 1, 2, 4096, 0, "", {}}};
    spec.defaultPartition = "batch";
    return spec;
}

std::string required(const model::Result<std::string>& text) {
    REQUIRE_MESSAGE(text.ok(), text.error().field << ": " << text.error().message);
    return *text;
}

void checkGolden(const std::string& name, const std::string& text) {
    CHECK(text == test::golden("slurm/" + name, text));
}

}  // namespace

TEST_CASE("slurm: a CPU-only cluster's configs match the golden files") {
    auto spec = cpuCluster();
    checkGolden("cpu/slurm.conf", required(slurm::slurmConf(spec)));
    checkGolden("cpu/gres.conf", required(slurm::gresConf(spec)));
    checkGolden("cpu/cgroup.conf", slurm::cgroupConf());
    checkGolden("cpu/slurmd.service.d-gpuhost.conf", required(slurm::slurmdDropIn(spec, {}, "cpu", 1)));
}

TEST_CASE("slurm: an 8xH100 pool's configs match the golden files") {
    auto spec = gpuCluster();
    checkGolden("h100/slurm.conf", required(slurm::slurmConf(spec)));
    checkGolden("h100/gres.conf", required(slurm::gresConf(spec)));
    checkGolden("h100/slurmd.service.d-gpuhost.conf", required(slurm::slurmdDropIn(spec, {}, "h100", 0)));
    auto args = slurm::slurmdArgs(spec, {}, "h100", 3);
    REQUIRE(args.ok());
    CHECK(*args == std::vector<std::string>{"-D", "--conf-server", "192.168.122.10:6817", "-Z", "-N",
                                            "h100-3", "--conf",
                                            "RealMemory=1929379 Gres=gpu:h100:8 Feature=h100"});
}

TEST_CASE("slurm: several partitions, exactly one default, and pools without one in it") {
    auto spec = partitionedCluster();
    auto conf = required(slurm::slurmConf(spec));
    checkGolden("partitions/slurm.conf", conf);
    checkGolden("partitions/gres.conf", required(slurm::gresConf(spec)));
    auto parts = slurm::partitions(spec);
    REQUIRE(parts.ok());
    REQUIRE(parts->size() == 3);
    CHECK((*parts)[0].name == "batch");
    CHECK((*parts)[0].isDefault);
    CHECK((*parts)[0].nodeSets == std::vector<std::string>{"small_set", "a100_set", "misc_set"});
    CHECK((*parts)[0].defMemPerCpuMiB == (4096 - 328) / 2);  // misc: the least memory per CPU
    CHECK((*parts)[2].defMemPerCpuMiB == (524288 - 41944) / 64);
    CHECK(!(*parts)[1].isDefault);
    CHECK(!(*parts)[2].isDefault);

    // Without defaultPartition: the first named; with no pool naming any: "main".
    spec.defaultPartition.clear();
    CHECK((*slurm::partitions(spec))[0].isDefault);
    auto plain = cpuCluster();
    auto mainOnly = slurm::partitions(plain);
    REQUIRE(mainOnly->size() == 1);
    CHECK((*mainOnly)[0].name == "main");
    CHECK((*mainOnly)[0].isDefault);
    // A default partition that holds no pool is refused.
    spec.defaultPartition = "nowhere";
    spec.pools.pop_back();
    CHECK(!slurm::slurmConf(spec).ok());
}

TEST_CASE("slurm: a cluster with separate login nodes lists them") {
    auto spec = cpuCluster();
    spec.name = "withlogin";
    spec.loginHosts = {"withlogin-login-0", "withlogin-login-1"};
    checkGolden("login/slurm.conf", required(slurm::slurmConf(spec)));
}

TEST_CASE("slurm: RealMemory stays below what slurmd -C reports in small guests") {
    CHECK(slurm::realMemoryMiB(768) == 704);  // slurmd -C: 721
    CHECK(slurm::realMemoryMiB(512) == 448);  // slurmd -C: 470
    CHECK(slurm::realMemoryMiB(16384) == 16384 - 1311);
    CHECK(slurm::realMemoryMiB(32) == 0);
}

TEST_CASE("slurm: the munge key is 1024 fresh random bytes") {
    auto first = slurm::mungeKey();
    auto second = slurm::mungeKey();
    REQUIRE(first.ok());
    REQUIRE(second.ok());
    CHECK(first->size() == 1024);
    CHECK(*first != *second);
    CHECK(std::set<char>(first->begin(), first->end()).size() > 100);
}

TEST_CASE("slurm: hostile names never reach a config") {
    auto hostile = test::loadHostileStrings();
    hostile.push_back({0, "a\nPartitionName=x"});
    hostile.push_back({0, "a b"});
    hostile.push_back({0, "-Z"});
    hostile.push_back({0, "a=b"});
    hostile.push_back({0, ""});
    hostile.push_back({0, std::string(64, 'a')});
    for (const auto& bad : hostile) {
        CAPTURE(bad.line);
        CAPTURE(bad.bytes);
        std::vector<ClusterSpec> specs(8, partitionedCluster());
        specs[0].name = bad.bytes;
        specs[1].controllerHostname = bad.bytes;
        specs[2].controllerAddress = bad.bytes;
        specs[3].pools[0].name = bad.bytes;
        specs[4].pools[1].gpuModel = bad.bytes;
        specs[5].pools[0].partitions[1] = bad.bytes;
        specs[6].loginHosts = {bad.bytes};
        specs[7].slurmVersion = bad.bytes;
        for (std::size_t i = 0; i < specs.size(); ++i) {
            CAPTURE(i);
            if (i == 2 && bad.bytes.size() < 64 && slurm::isSafeToken(bad.bytes)) {
                continue;  // a safe token is a valid address (a hostname)
            }
            CHECK(!slurm::slurmConf(specs[i]).ok());
            CHECK(!slurm::gresConf(specs[i]).ok());
            CHECK(!slurm::slurmdArgs(specs[i], {}, "small", 0).ok());
        }
        slurm::Layout layout;
        layout.logDir = "/var/log/" + bad.bytes;
        if (bad.line != 0) {  // each fixture string holds a byte no path may
            CHECK(!slurm::slurmConf(cpuCluster(), layout).ok());
        }
    }
}

TEST_CASE("slurm: DEFAULT and ALL are refused as pool and partition names (Slurm reads them as keywords)") {
    for (const char* word : {"DEFAULT", "default", "ALL"}) {
        auto spec = partitionedCluster();
        spec.pools[0].name = word;
        CHECK(slurm::slurmConf(spec).error().field == "nodePools[0].name");
        spec = partitionedCluster();
        spec.pools[1].partitions[0] = word;
        CHECK(slurm::slurmConf(spec).error().field == "nodePools[1].partitions");
    }
}

TEST_CASE("slurm: versions before 22.05 and unknown pools are refused") {
    auto spec = cpuCluster();
    for (const char* version : {"21.08.8", "22.02", "22", "x.05", "22.05.8\n"}) {
        spec.slurmVersion = version;
        CHECK(!slurm::slurmConf(spec).ok());
    }
    spec.slurmVersion = "23.11.4";
    CHECK(slurm::slurmConf(spec).ok());
    CHECK(!slurm::slurmdArgs(spec, {}, "nosuch", 0).ok());
    CHECK(!slurm::slurmdArgs(spec, {}, "cpu", slurm::kDefaultMaxNodes).ok());
    spec.pools.push_back(spec.pools[0]);
    CHECK(slurm::slurmConf(spec).error().field == "nodePools[1].name");
}
