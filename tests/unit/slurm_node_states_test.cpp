// Slurm node states (slurm/node_states): every fixture recorded from Slurm 22.05.8 on this kind of
// host (tests/fixtures/slurm, copied from the shared fixtures) maps to concrete API values; the
// 23.x shapes, scontrol's text forms and hostile input are covered by hand-written cases.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "node_states.hpp"

using namespace gpuhost;
using namespace gpuhost::slurm;
using Strings = std::vector<std::string>;

namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::filesystem::path(GPUHOST_SOURCE_DIR) / "tests/fixtures/slurm" / name,
                     std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

SlurmNode onlyNode(const std::string& name) {
    auto report = parseSinfoJson(fixture(name));
    REQUIRE(report.ok());
    CHECK(report->slurmVersion == "22.05.8");
    CHECK(report->warnings.empty());
    REQUIRE(report->nodes.size() == 1);
    return report->nodes.front();
}

}  // namespace

TEST_CASE("sinfo json 22.05: an idle node maps every field") {
    SlurmNode node = onlyNode("sinfo_idle.json");
    CHECK(node.name == "localhost");
    CHECK(node.states == Strings{"IDLE"});
    CHECK(node.slurmdVersion == "22.05.8");
    CHECK(node.address == "localhost");
    CHECK(node.hostname == "localhost");
    CHECK(node.partitions == Strings{"debug"});
    CHECK(node.reason.empty());
    CHECK(node.gres.empty());
    CHECK(node.cpus == 2);
    CHECK(node.allocCpus == 0);
    CHECK(node.realMemoryMiB == 1000);
    CHECK(node.allocMemoryMiB == 0);
}

TEST_CASE("sinfo json 22.05: each recorded state becomes its states array") {
    struct Case {
        const char* file;
        Strings states;
        const char* reason;
        std::int64_t allocCpus;
    };
    const std::vector<Case> cases = {
        {"sinfo_idle.json", {"IDLE"}, "", 0},
        {"sinfo_mixed.json", {"MIXED"}, "", 1},
        {"sinfo_drained.json", {"IDLE", "DRAIN"}, "test", 0},
        {"sinfo_draining.json", {"MIXED", "DRAIN"}, "test", 1},
        {"sinfo_down.json", {"DOWN", "DRAIN"}, "gpu xid 79", 0},
        {"sinfo_down2.json", {"DOWN"}, "nvml error", 0},
        {"sinfo_noresp1.json", {"IDLE"}, "", 0},
        {"sinfo_noresp2.json", {"IDLE", "NOT_RESPONDING"}, "", 0},
        {"sinfo_noresp3.json", {"DOWN", "NOT_RESPONDING"}, "Not responding", 0},
        {"sinfo_resv.json", {"IDLE", "MAINTENANCE", "RESERVED"}, "", 0},
        {"sinfo_gres_idle.json", {"IDLE"}, "", 0},
        {"sinfo_gres_mixed.json", {"MIXED"}, "", 1},
    };
    for (const auto& c : cases) {
        CAPTURE(c.file);
        SlurmNode node = onlyNode(c.file);
        CHECK(node.states == c.states);
        CHECK(node.reason == c.reason);
        CHECK(node.allocCpus == c.allocCpus);
    }
    CHECK(onlyNode("sinfo_drained.json").hasState("DRAIN"));
    CHECK_FALSE(onlyNode("sinfo_idle.json").hasState("DRAIN"));
    CHECK(onlyNode("sinfo_draining.json").allocMemoryMiB == 100);
}

TEST_CASE("sinfo json 22.05: GPU gres and its use are reported as Slurm prints them") {
    SlurmNode idle = onlyNode("sinfo_gres_idle.json");
    CHECK(idle.gres == "gpu:h100:2");
    CHECK(idle.gresUsed == "gpu:h100:0(IDX:N/A)");
    SlurmNode mixed = onlyNode("sinfo_gres_mixed.json");
    CHECK(mixed.gres == "gpu:h100:2");
    CHECK(mixed.gresUsed == "gpu:h100:1(IDX:0)");
}

TEST_CASE("sinfo json: outputs that are not node lists are errors, never nodes") {
    // squeue's JSON (valid, but no nodes) and scontrol 22.05's answer to --json (not JSON at all).
    for (const char* file :
         {"squeue.json", "squeue_running.json", "squeue_gres.json", "scontrol_node_idle.json"}) {
        CAPTURE(file);
        auto report = parseSinfoJson(fixture(file));
        REQUIRE_FALSE(report.ok());
        CHECK(report.error().code == model::ErrorCode::Internal);
    }
    auto refused = parseSinfoJson(R"({"errors":[{"error":"Unable to contact slurm controller","errno":1}]})");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message == "sinfo --json: slurm says: Unable to contact slurm controller");
    auto empty = parseSinfoJson(R"({"nodes":[]})");
    REQUIRE(empty.ok());
    CHECK(empty->nodes.empty());
}

TEST_CASE("sinfo json 23.x shapes: state array, lowercase meta, version, wrapped numbers") {
    auto report = parseSinfoJson(R"({"meta":{"slurm":{"release":"23.11.4"}},"nodes":[
        {"name":"n1","state":["IDLE","DRAIN","MAINTENANCE","RESERVED"],"version":"23.11.4",
         "cpus":8,"real_memory":{"set":true,"infinite":false,"number":64000},"partitions":["gpu","debug"]},
        {"name":"n2","state":["DOWN","NOT_RESPONDING"],"state_flags":null,"partitions":"a,b"}]})");
    REQUIRE(report.ok());
    CHECK(report->slurmVersion == "23.11.4");
    REQUIRE(report->nodes.size() == 2);
    CHECK(report->nodes[0].states == Strings{"IDLE", "DRAIN", "MAINTENANCE", "RESERVED"});
    CHECK(report->nodes[0].slurmdVersion == "23.11.4");
    CHECK(report->nodes[0].realMemoryMiB == 64000);
    CHECK(report->nodes[0].partitions == Strings{"gpu", "debug"});
    CHECK(report->nodes[1].states == Strings{"DOWN", "NOT_RESPONDING"});
    CHECK(report->nodes[1].partitions == Strings{"a", "b"});
    CHECK(report->warnings.empty());
}

TEST_CASE("node states: base states, aliases, unknown words and duplicates") {
    CHECK(mapNodeStates("idle", {}) == Strings{"IDLE"});
    CHECK(mapNodeStates("allocated", {"COMPLETING"}) == Strings{"ALLOCATED", "COMPLETING"});
    CHECK(mapNodeStates("alloc", {}) == Strings{"ALLOCATED"});
    CHECK(mapNodeStates("future", {"CLOUD", "POWERED_DOWN"}) == Strings{"FUTURE", "CLOUD", "POWERED_DOWN"});
    CHECK(mapNodeStates("", {}) == Strings{"UNKNOWN"});
    CHECK(mapNodeStates("invalid", {}) == Strings{"UNKNOWN"});
    CHECK(mapNodeStates("sleeping", {}) == Strings{"UNKNOWN", "SLEEPING"});
    CHECK(mapNodeStates("DRAIN", {"IDLE", "RESERVED"}) == Strings{"IDLE", "DRAIN", "RESERVED"});
    CHECK(mapNodeStates("x y", {"ALLOC"}) == Strings{"ALLOCATED"});
    CHECK(mapNodeStates("drained", {}) == Strings{"IDLE", "DRAIN"});
    CHECK(mapNodeStates("draining", {"DRAIN"}) == Strings{"MIXED", "DRAIN"});
    CHECK(mapNodeStates("idle", {"maint", "NO_RESPOND", "DRAIN", "drain"}) ==
          Strings{"IDLE", "MAINTENANCE", "NOT_RESPONDING", "DRAIN"});
    CHECK(mapNodeStates("idle", {"BRAND_NEW_FLAG", "bad flag!", "", "IDLE", std::string(40, 'X')}) ==
          Strings{"IDLE", "BRAND_NEW_FLAG"});
}

TEST_CASE("sinfo json: odd nodes are skipped or read as absent, with warnings") {
    auto report = parseSinfoJson(R"({"nodes":[
        42, null, {"state":"idle"}, {"name":""}, {"name":7},
        {"name":"odd","state":{"x":1},"state_flags":[1,"DRAIN"],"cpus":"2","real_memory":1.5,
         "partitions":{"a":1},"reason":false,"slurmd_version":[],"address":null,"gres":null},
        {"name":"ok","state":"idle","cpus":-1}]})");
    REQUIRE(report.ok());
    REQUIRE(report->nodes.size() == 2);
    const SlurmNode& odd = report->nodes[0];
    CHECK(odd.name == "odd");
    CHECK(odd.states == Strings{"UNKNOWN", "DRAIN"});  // a non-string state reads as absent
    CHECK(odd.cpus == 0);
    CHECK(odd.realMemoryMiB == 0);
    CHECK(odd.partitions.empty());
    CHECK(odd.reason.empty());
    CHECK(report->nodes[1].cpus == -1);  // passed on; sanity of values is the caller's business
    CHECK(report->warnings.size() == 12);
    CHECK(report->warnings.front() == "nodes[0]: skipped, not an object");
}

TEST_CASE("sinfo json: truncations, garbage and deep nesting never crash") {
    std::string text = fixture("sinfo_gres_mixed.json");
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto report = parseSinfoJson(std::string_view(text).substr(0, i));
        CHECK_FALSE(report.ok());  // every strict prefix of one JSON object is invalid JSON
    }
    for (std::size_t i = 0; i < text.size(); i += 3) {
        for (char c : {'\0', '"', '{', ']', '\xff', '9'}) {
            std::string mutated = text;
            mutated[i] = c;
            auto report = parseSinfoJson(mutated);
            if (report.ok()) {
                CHECK(report->nodes.size() <= 1);
            }
        }
    }
    for (std::string garbage :
         Strings{"", "null", "[]", "\"nodes\"", "{\"nodes\":{}}", "{\"nodes\":\"n1\"}", "\xef\xbb\xbf{}",
                 std::string(100000, '['), std::string(100000, '{')}) {
        CHECK_FALSE(parseSinfoJson(garbage).ok());
    }
}

TEST_CASE("scontrol show node -o: the text form maps like the JSON") {
    auto idle = parseScontrolNodes(fixture("scontrol_idle.txt"));
    REQUIRE(idle.ok());
    REQUIRE(idle->size() == 1);
    SlurmNode json = onlyNode("sinfo_idle.json");
    const SlurmNode& text = idle->front();
    CHECK(text.name == json.name);
    CHECK(text.states == json.states);
    CHECK(text.slurmdVersion == json.slurmdVersion);
    CHECK(text.address == json.address);
    CHECK(text.hostname == json.hostname);
    CHECK(text.partitions == json.partitions);
    CHECK(text.gres.empty());
    CHECK(text.cpus == 2);
    CHECK(text.realMemoryMiB == 1000);

    auto draining = parseScontrolNodes(fixture("scontrol_draining.txt"));
    REQUIRE(draining.ok());
    REQUIRE(draining->size() == 1);
    CHECK(draining->front().states == onlyNode("sinfo_draining.json").states);
    CHECK(draining->front().reason == "test");
    CHECK(draining->front().allocCpus == 1);
    CHECK(draining->front().allocMemoryMiB == 100);

    auto star = parseScontrolNodes("NodeName=n1 State=IDLE*+DRAIN Gres=gpu:h100:8 Reason=xid 79 on gpu 3\n");
    REQUIRE(star.ok());
    CHECK(star->front().states == Strings{"IDLE", "DRAIN", "NOT_RESPONDING"});
    CHECK(star->front().gres == "gpu:h100:8");
    CHECK(star->front().reason == "xid 79 on gpu 3");
    CHECK(parseScontrolNodes("No nodes in the system\n")->empty());
    CHECK_FALSE(parseScontrolNodes(fixture("scontrol_node_idle.json")).ok());  // "unrecognized option"
    CHECK_FALSE(parseScontrolNodes("NodeName= State=IDLE").ok());
}

TEST_CASE("hostlists expand like Slurm's, bad ones are errors") {
    CHECK(*expandHostlist("n1") == Strings{"n1"});
    CHECK(*expandHostlist("gpu[01-03,07],login") == Strings{"gpu01", "gpu02", "gpu03", "gpu07", "login"});
    CHECK(*expandHostlist("r[1-2]n[8-9]") == Strings{"r1n8", "r1n9", "r2n8", "r2n9"});
    CHECK(*expandHostlist("pool-a-[9-11]-x") == Strings{"pool-a-9-x", "pool-a-10-x", "pool-a-11-x"});
    CHECK(expandHostlist("(null)")->empty());
    CHECK(expandHostlist("")->empty());
    for (const char* bad : {"n[1-", "n[3-1]", "n[]", "n[a-b]", "n]1[", "n[1-2]]", "a,,b", "n[[1]]",
                            "n[1-99999999]", "n[0-65535]m[0-9]"}) {
        CAPTURE(bad);
        auto hosts = expandHostlist(bad);
        REQUIRE_FALSE(hosts.ok());
        CHECK(hosts.error().code == model::ErrorCode::Internal);
    }
    CHECK(expandHostlist("n[0-65535]")->size() == 65536);
}

TEST_CASE("scontrol show res -o: reservations per node, active ones only") {
    // The line format of Slurm 22.05's scontrol (slurm_sprint_reservation_info with -o).
    std::string text =
        "ReservationName=maint StartTime=2026-11-27T11:40:00 EndTime=2026-11-27T12:40:00 Duration=01:00:00 "
        "Nodes=gpu[01-02],cpu1 NodeCnt=3 CoreCnt=24 Features=(null) PartitionName=(null) "
        "Flags=MAINT,SPEC_NODES "
        "TRES=cpu=24 Users=root Groups=(null) Accounts=(null) Licenses=(null) State=ACTIVE "
        "BurstBuffer=(null) "
        "Watts=n/a MaxStartDelay=(null)\n"
        "ReservationName=later StartTime=2027-01-01T00:00:00 EndTime=2027-01-02T00:00:00 Duration=1-00:00:00 "
        "Nodes=gpu01 NodeCnt=1 CoreCnt=8 Features=(null) PartitionName=(null) Flags=SPEC_NODES TRES=cpu=8 "
        "Users=alice Groups=(null) Accounts=(null) Licenses=(null) State=INACTIVE BurstBuffer=(null) "
        "Watts=n/a "
        "MaxStartDelay=(null)\n"
        "ReservationName=train StartTime=2026-11-27T11:00:00 EndTime=2026-11-28T11:00:00 Duration=1-00:00:00 "
        "Nodes=gpu02 NodeCnt=1 CoreCnt=8 Features=(null) PartitionName=gpu Flags=SPEC_NODES TRES=cpu=8 "
        "Users=bob Groups=(null) Accounts=(null) Licenses=(null) State=ACTIVE BurstBuffer=(null) Watts=n/a "
        "MaxStartDelay=(null) Comment=big run\r\n";
    auto reservations = parseReservations(text);
    REQUIRE(reservations.ok());
    REQUIRE(reservations->size() == 3);
    CHECK(reservations->at(0).name == "maint");
    CHECK(reservations->at(0).nodes == Strings{"gpu01", "gpu02", "cpu1"});
    CHECK(reservations->at(0).flags == Strings{"MAINT", "SPEC_NODES"});
    CHECK(reservations->at(0).state == "ACTIVE");
    CHECK(reservations->at(1).state == "INACTIVE");
    auto byNode = reservationsByNode(*reservations);
    CHECK(byNode.size() == 3);
    CHECK(byNode["gpu01"] == Strings{"maint"});
    CHECK(byNode["gpu02"] == Strings{"maint", "train"});
    CHECK(byNode["cpu1"] == Strings{"maint"});

    CHECK(parseReservations("No reservations in the system\n")->empty());
    CHECK(parseReservations("")->empty());
    for (const char* bad :
         {"slurm_load_reservations error: Unable to contact slurm controller (connect failure)",
          "ReservationName= Nodes=n1 State=ACTIVE", "ReservationName=x Nodes=n[1- State=ACTIVE",
          "\x01\x02garbage"}) {
        CAPTURE(bad);
        auto result = parseReservations(bad);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == model::ErrorCode::Internal);
    }
    for (std::size_t i = 0; i < text.size(); i += 7) {  // truncated output: a value or a clean error
        auto partial = parseReservations(std::string_view(text).substr(0, i));
        if (partial.ok()) {
            CHECK(partial->size() <= 3);
        }
    }
}

// Recorded from a private slurmctld 22.05.8 on this host: nodes gpu[01-02] and cpu1 (only gpu01 with a
// slurmd), reservations maint (gpu[01-02], MAINT), train (gpu02) and later (cpu1, not started yet),
// gpu02 drained with a reason holding '=', cpu1 set down.
TEST_CASE("real 22.05 cluster with reservations: sinfo json, scontrol node text and reservations agree") {
    auto report = parseSinfoJson(fixture("sinfo_multi_resv.json"));
    REQUIRE(report.ok());
    CHECK(report->warnings.empty());
    REQUIRE(report->nodes.size() == 3);
    const auto& nodes = report->nodes;
    CHECK(nodes[0].name == "cpu1");
    CHECK(nodes[0].states == Strings{"DOWN"});
    CHECK(nodes[0].reason == "replaced");
    CHECK(nodes[0].slurmdVersion.empty());  // no slurmd ever registered
    CHECK(nodes[1].name == "gpu01");
    CHECK(nodes[1].states == Strings{"IDLE", "MAINTENANCE", "RESERVED"});
    CHECK(nodes[1].slurmdVersion == "22.05.8");
    CHECK(nodes[2].name == "gpu02");
    CHECK(nodes[2].states == Strings{"IDLE", "DRAIN", "MAINTENANCE", "RESERVED"});
    CHECK(nodes[2].reason == "xid 79 on bus=0000:3b:00.0");

    auto text = parseScontrolNodes(fixture("scontrol_multi_resv.txt"));
    REQUIRE(text.ok());
    REQUIRE(text->size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(nodes[i].name);
        CHECK(text->at(i).name == nodes[i].name);
        CHECK(text->at(i).states == nodes[i].states);
        CHECK(text->at(i).reason == nodes[i].reason);
        CHECK(text->at(i).slurmdVersion == nodes[i].slurmdVersion);
        CHECK(text->at(i).partitions == nodes[i].partitions);
        CHECK(text->at(i).cpus == nodes[i].cpus);
        CHECK(text->at(i).realMemoryMiB == nodes[i].realMemoryMiB);
    }

    auto reservations = parseReservations(fixture("scontrol_res.txt"));
    REQUIRE(reservations.ok());
    REQUIRE(reservations->size() == 3);
    CHECK(reservations->at(0).name == "maint");
    CHECK(reservations->at(0).nodes == Strings{"gpu01", "gpu02"});
    CHECK(reservations->at(0).flags == Strings{"MAINT", "IGNORE_JOBS", "SPEC_NODES"});
    CHECK(reservations->at(1).name == "later");
    CHECK(reservations->at(1).state == "INACTIVE");
    auto byNode = reservationsByNode(*reservations);
    CHECK(byNode == std::map<std::string, Strings>{{"gpu01", {"maint"}}, {"gpu02", {"maint", "train"}}});
    auto none = parseReservations(fixture("scontrol_res_none.txt"));
    REQUIRE(none.ok());
    CHECK(none->empty());
}
