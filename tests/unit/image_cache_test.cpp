// Base images and seeds: stable SHA-256 names, marks per host, the sweep of bases no
// overlay uses, and errors that keep their code (defects found in review, issue #13).
#include <doctest/doctest.h>

#include <fstream>
#include <mutex>

#include "fakes/fake_agent_store.hpp"
#include "fakes/fake_hypervisor.hpp"
#include "fakes/hgx_devices.hpp"
#include "instance_world.hpp"
#include "seed/iso_seed_writer.hpp"
#include "services/image_cache.hpp"
#include "support/run_coroutine.hpp"
#include "support/temp_dir.hpp"

using namespace gpuhost;
using model::InstanceAction;
using model::InstanceState;

namespace {

struct TwoHosts {
    test::TempDir dir;
    test::FakeHypervisor a, b;
    test::FakeAgentStore metadata;
    agent::BlockingPool pool{2};
    agent::HostRegistry hosts{
        {{"host-a", &a, &a, &a, nullptr, &pool}, {"host-b", &b, &b, &b, nullptr, &pool}},
        agent::HostOptions{}};
    boost::asio::io_context gates;  // owns the import gates; runCoroutine's contexts come and go
    agent::ImageCache cache{metadata, pool, hosts, gates.get_executor()};
    agent::ImageConfig image{"debian12", dir.path / "base.img", "qcow2", {}, {}, {}};
    TwoHosts() { std::ofstream(image.path) << "an image"; }
};

std::mutex linesMutex;
std::vector<std::string> lines;
void keepLine(std::string_view line) {
    std::lock_guard lock(linesMutex);
    lines.emplace_back(line);
}

}  // namespace

TEST_CASE("images: base volume names are SHA-256 based, stable, and change with the file") {
    TwoHosts t;
    auto name = agent::baseVolumeName(t.image);
    CHECK(name.starts_with("image-debian12-"));
    CHECK(name.ends_with(".img"));
    CHECK(name.size() == std::string("image-debian12-").size() + 24 + 4);
    CHECK(agent::baseVolumeName(t.image) == name);
    CHECK(agent::isBaseVolumeName(name));
    std::ofstream(t.image.path, std::ios::app) << " replaced";
    CHECK(agent::baseVolumeName(t.image) != name);
}

TEST_CASE("images: import marks carry the host: a half-imported volume on one host is imported again") {
    TwoHosts t;
    auto name = agent::baseVolumeName(t.image);
    auto onB = test::runCoroutine(t.cache.baseVolume(1, t.image));
    REQUIRE(onB.ok());
    CHECK(t.metadata.marks() == std::set<std::string>{"host-b/" + name});
    // host-a has a volume of that name but never finished importing it (a crash mid-upload).
    t.a.addVolume(name);
    auto onA = test::runCoroutine(t.cache.baseVolume(0, t.image));
    REQUIRE(onA.ok());
    CHECK(t.a.imports() == 1);  // host-b's mark did not make host-a's volume look complete
    CHECK(t.metadata.marks().contains("host-a/" + name));
    // Complete now: no third import.
    REQUIRE(test::runCoroutine(t.cache.baseVolume(0, t.image)).ok());
    CHECK(t.a.imports() == 1);
}

TEST_CASE(
    "images: the sweep removes bases nothing uses, keeps the current one and any an overlay still uses") {
    TwoHosts t;
    REQUIRE(test::runCoroutine(t.cache.baseVolume(0, t.image)).ok());
    auto current = agent::baseVolumeName(t.image);
    t.a.addVolume("image-debian12-0123456789abcdef.img");  // an earlier release's std::hash name
    t.a.addVolume("image-old-00000000000000000000aaaa.img");
    t.a.addVolume("gpuhost-root-of-someone.qcow2", "/fake/image-old-00000000000000000000aaaa.img");
    auto volumes = t.a.listVolumes();
    REQUIRE(volumes.ok());
    auto swept = t.cache.sweepBlocking(0, *volumes, {t.image});
    CHECK(swept == std::vector<std::string>{"image-debian12-0123456789abcdef.img"});
    CHECK(t.a.hasVolume(current));
    CHECK(t.a.hasVolume("image-old-00000000000000000000aaaa.img"));
    CHECK_FALSE(t.a.hasVolume("image-debian12-0123456789abcdef.img"));
    REQUIRE(test::runCoroutine(t.cache.forget(0, {current})).ok());
    CHECK_FALSE(t.metadata.marks().contains("host-a/" + current));
}

TEST_CASE(
    "seeds: an unreachable libvirt while replacing the seed stays Unavailable (the job waits, no error)") {
    test::TempDir dir;
    test::FakeHypervisor host;
    drivers::IsoSeedWriter writer(host, dir.path);
    host.setUnavailable(true);
    auto written =
        writer.writeSeed({"#cloud-config\n", "instance-id: x\n", "version: 2\n"}, "gpuhost-x-seed.iso");
    REQUIRE_FALSE(written.ok());
    CHECK(written.error().code == model::ErrorCode::Unavailable);
    host.setUnavailable(false);
    auto again =
        writer.writeSeed({"#cloud-config\n", "instance-id: x\n", "version: 2\n"}, "gpuhost-x-seed.iso");
    REQUIRE(again.ok());
    CHECK(host.hasVolume("gpuhost-x-seed.iso"));
    CHECK(std::filesystem::is_empty(dir.path));  // the ISO built in scratch is gone
}

TEST_CASE("instances: deleting an out-of-stock instance forgets it quietly (it never had a host)") {
    test::World w({{"gpu-0", test::hgxResources(), test::hgxH100Devices()}});
    auto first = w.create("big-1", "h100.8x-big");
    auto second = w.create("big-2", "h100.8x-big");
    REQUIRE(second.ok());
    REQUIRE(second->state == InstanceState::OutOfStock);
    agent::log::setLevel("warn");
    agent::log::setObserver(keepLine);
    REQUIRE(w.await(w.service.act(w.project, second->id, InstanceAction::Delete)).ok());
    w.waitFor([&] { return !w.service.get(w.project, second->id).ok(); });
    agent::log::setObserver(nullptr);
    agent::log::setLevel("error");
    std::lock_guard lock(linesMutex);
    for (const auto& line : lines) {
        CHECK_MESSAGE(line.find("host is gone") == std::string::npos, line);
    }
}
