// The libvirt Hypervisor against libvirt's own test driver (test:///default): the real
// API, no root, no VM. Each virConnectOpen of test:///default in one process shares state.
#include <doctest/doctest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "libvirt/domain_xml.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "libvirt/libvirt_storage.hpp"
#include "support/golden.hpp"
#include "support/temp_dir.hpp"
#include "tiny_domain_spec.hpp"

using namespace gpuhost;
using namespace gpuhost::drivers;
using namespace gpuhost::drivers::libvirt;

namespace {

bool listed(LibvirtHypervisor& hypervisor, const std::string& name) {
    auto domains = hypervisor.listManagedDomains();
    REQUIRE(domains.ok());
    return std::any_of(domains->begin(), domains->end(), [&](const auto& d) { return d.name == name; });
}

}  // namespace

TEST_CASE("libvirt hypervisor: define, start, stop, undefine a generated domain, only ours are listed") {
    Connection connection("test:///default");
    LibvirtHypervisor hypervisor(connection);
    auto instance = model::Uuid::random();
    auto project = model::Uuid::random();
    std::string name = domainName(instance);

    auto defined = hypervisor.defineDomain(test::tinyDomainSpec(instance, project));
    REQUIRE_MESSAGE(defined.ok(), (defined.ok() ? "" : defined.error().message));
    CHECK(*hypervisor.powerState(name) == PowerState::ShutOff);
    auto domains = hypervisor.listManagedDomains();
    REQUIRE(domains.ok());
    REQUIRE(domains->size() == 1);  // test:///default's own "test" domain carries no metadata
    CHECK((*domains)[0].instanceId == instance);
    CHECK((*domains)[0].projectId == project);

    REQUIRE(hypervisor.startDomain(name).ok());
    CHECK(*hypervisor.powerState(name) == PowerState::Running);
    // Already running: the QEMU driver says VIR_ERR_OPERATION_INVALID (→ Conflict), the
    // test driver an internal error; either way it is refused and nothing changes.
    CHECK_FALSE(hypervisor.startDomain(name).ok());
    CHECK(*hypervisor.powerState(name) == PowerState::Running);
    REQUIRE(hypervisor.destroyDomain(name).ok());
    CHECK(*hypervisor.powerState(name) == PowerState::ShutOff);
    CHECK(hypervisor.destroyDomain(name).ok());  // not running: nothing to do
    REQUIRE(hypervisor.undefineDomain(name).ok());
    CHECK_FALSE(listed(hypervisor, name));
    CHECK(hypervisor.undefineDomain(name).ok());  // already gone
    CHECK(hypervisor.powerState(name).error().code == model::ErrorCode::NotFound);
    CHECK(hypervisor.startDomain(name).error().code == model::ErrorCode::NotFound);
}

TEST_CASE("libvirt hypervisor: an unreachable URI is Unavailable, and retries back off") {
    Connection connection("test:///nonexistent/host.xml");
    LibvirtHypervisor hypervisor(connection);
    auto first = hypervisor.listManagedDomains();
    REQUIRE_FALSE(first.ok());
    CHECK(first.error().code == model::ErrorCode::Unavailable);
    auto second = hypervisor.listManagedDomains();  // inside the backoff window: no new attempt
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().message.find("retrying shortly") != std::string::npos);
    CHECK(connection.opens() == 0);
}

TEST_CASE("libvirt hypervisor: metadata parsing ignores the prefix and rejects junk") {
    auto ids = parseManagedMetadata(
        "<g:instance xmlns:g='x'><g:id>6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f</g:id>"
        "<g:project>2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11</g:project>"
        "<g:agent>9b1d0c3e-7a64-4f2e-8c51-3d2e1f0a9b87</g:agent></g:instance>");
    REQUIRE(ids.has_value());
    CHECK(ids->instanceId.str() == "6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f");
    CHECK(ids->agentId.str() == "9b1d0c3e-7a64-4f2e-8c51-3d2e1f0a9b87");
    CHECK(parseManagedMetadata("<instance><id>6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f</id>"
                               "<project>2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11</project>"
                               "<agent>9b1d0c3e-7a64-4f2e-8c51-3d2e1f0a9b87</agent></instance>")
              .has_value());
    // Without the agent id it is not ours to manage (e.g. a domain of an older agent).
    CHECK_FALSE(parseManagedMetadata("<instance><id>6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f</id>"
                                     "<project>2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11</project></instance>")
                    .has_value());
    CHECK_FALSE(parseManagedMetadata("<g:instance><g:id>nope</g:id></g:instance>").has_value());
    CHECK_FALSE(parseManagedMetadata("").has_value());
}

TEST_CASE("libvirt storage: a pool is made once, overlays are O(1) volumes with an explicit backing format") {
    Connection connection("test:///default");
    std::string poolName = "gpuhost-" + model::Uuid::random().str().substr(0, 8);
    test::TempDir poolDir;
    LibvirtStorage storage(connection, poolName, poolDir.path, poolDir.path / "shared");
    REQUIRE(storage.ensurePool().ok());
    REQUIRE(storage.ensurePool().ok());  // idempotent

    auto overlay =
        storage.createOverlay("vm-root.qcow2", "/var/lib/gpuhost/images/base.qcow2", "qcow2", 20ull << 30);
    REQUIRE_MESSAGE(overlay.ok(), (overlay.ok() ? "" : overlay.error().message));
    CHECK(overlay->name == "vm-root.qcow2");
    CHECK(overlay->capacityBytes == 20ull << 30);
    CHECK(storage.volume("vm-root.qcow2").ok());
    auto clash = storage.createOverlay("vm-root.qcow2", "/x.qcow2", "qcow2", 1 << 30);
    CHECK_FALSE(clash.ok());

    // The test driver cannot stream uploads; on a pool under our own folder the file is
    // copied instead. A failed import leaves no volume behind.
    test::TempDir source;
    std::ofstream(source.path / "seed.iso") << "not really an ISO";
    auto imported = storage.importFile("vm-seed.iso", source.path / "seed.iso");
    REQUIRE_MESSAGE(imported.ok(), (imported.ok() ? "" : imported.error().message));
    std::ifstream copied(imported->path);
    std::string contents((std::istreambuf_iterator<char>(copied)), std::istreambuf_iterator<char>());
    CHECK(contents == "not really an ISO");
    CHECK_FALSE(storage.importFile("vm-missing.iso", source.path / "missing.iso").ok());
    auto volumes = storage.listVolumes();
    REQUIRE(volumes.ok());
    CHECK(volumes->size() == 2);
    REQUIRE(storage.deleteVolume("vm-seed.iso").ok());
    CHECK_FALSE(std::filesystem::exists(imported->path));

    REQUIRE(storage.deleteVolume("vm-root.qcow2").ok());
    CHECK(storage.deleteVolume("vm-root.qcow2").ok());  // already gone
    CHECK(storage.volume("vm-root.qcow2").error().code == model::ErrorCode::NotFound);
}

TEST_CASE("libvirt storage: overlay volume XML matches the golden file") {
    auto xml = LibvirtStorage::overlayXml("6f1c2a9e-root.qcow2", "/var/lib/gpuhost/pool/base-debian12.qcow2",
                                          "qcow2", 20ull << 30);
    CHECK(xml == test::golden("storage/overlay-volume.xml", xml));
    std::string validate = "virt-xml-validate '" + test::goldenPath("storage/overlay-volume.xml").string() +
                           "' storagevol >/dev/null";
    CHECK(std::system(validate.c_str()) == 0);
}

namespace {

// A domain of test:///default that the fault injection below fails a call on.
virDomainPtr gFaultDomain = nullptr;

// Stands in for virDomainLookupByName: fails the way a broken disk or an exhausted host
// fails a call on a live connection, with VIR_ERR_SYSTEM_ERROR (a core dump into a folder
// that does not exist), and returns no domain.
virDomainPtr lookupFailingWithSystemError(virConnectPtr, const char*) {
    (void)virDomainCoreDump(gFaultDomain, "/nonexistent-gpuhost-dir/core", 0);
    return nullptr;
}

}  // namespace

TEST_CASE(
    "libvirt hypervisor: a system error of a domain lookup on a live connection is a failure, not a wait") {
    Connection connection("test:///default");
    auto conn = connection.get();
    REQUIRE(conn.ok());
    gFaultDomain = virDomainLookupByName(conn->get(), "test");
    REQUIRE(gFaultDomain != nullptr);
    REQUIRE(lookupFailingWithSystemError(conn->get(), "test") == nullptr);
    virErrorPtr injected = virGetLastError();
    REQUIRE(injected != nullptr);
    REQUIRE(injected->code == VIR_ERR_SYSTEM_ERROR);  // what the fault really is

    LibvirtHypervisor hypervisor(connection, lookupFailingWithSystemError);
    // Unavailable would make the reconciler defer the job forever while libvirt is alive
    // and answering: like every other call's errors, the lookup's are classified.
    auto state = hypervisor.powerState("gpuhost-any");
    REQUIRE_FALSE(state.ok());
    CHECK(state.error().code == model::ErrorCode::Internal);
    CHECK(state.error().message.find("look up domain gpuhost-any") != std::string::npos);
    CHECK(hypervisor.startDomain("gpuhost-any").error().code == model::ErrorCode::Internal);
    CHECK(hypervisor.shutdownDomain("gpuhost-any").error().code == model::ErrorCode::Internal);
    CHECK(connection.opens() == 1);  // a live connection is kept, not reopened
    virDomainFree(gFaultDomain);
    gFaultDomain = nullptr;
}
