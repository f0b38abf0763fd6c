#pragma once

// What the crash tests compare after each restart: the instances the API lists, the
// domains and volumes libvirt holds for instances the test made, side by side.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "api_helpers.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "libvirt/libvirt_storage.hpp"

namespace gpuhost::test {

struct CrashView {
    std::map<std::string, std::string> states;   // id → state, from the API
    std::map<std::string, std::string> reasons;  // id → reason, from the API
    std::map<std::string, drivers::PowerState> domains;
    std::set<std::string> volumeOwners;  // overlays and seed ISOs are named gpuhost-<id>…

    std::string describe() const {
        std::string text = "api:";
        for (const auto& [id, state] : states) {
            text += " " + id.substr(0, 8) + "=" + state + "(" + reasons.at(id) + ")";
        }
        text += "\nlibvirt:";
        for (const auto& [id, power] : domains) {
            text += " " + id.substr(0, 8) + "=" + std::string(drivers::nameOf(power));
        }
        text += "\nvolumes of:";
        for (const auto& id : volumeOwners) {
            text += " " + id.substr(0, 8);
        }
        return text;
    }
};

/// Only domains and volumes of instances in `everCreated` count: libvirt may hold others.
inline CrashView viewAfterCrash(Daemon& daemon, const std::string& project,
                                drivers::libvirt::LibvirtHypervisor& hypervisor,
                                drivers::libvirt::LibvirtStorage& storage,
                                const std::set<std::string>& everCreated) {
    CrashView seen;
    auto listed = httpRequest(daemon.port(), "GET", kBase + "/instances", inProject(project));
    REQUIRE(listed.status == 200);
    for (const auto& instance : nlohmann::json::parse(listed.body)) {
        seen.states[instance.at("id")] = instance.at("state");
        seen.reasons[instance.at("id")] = instance.value("reason", "");
    }
    auto domains = hypervisor.listManagedDomains();
    REQUIRE(domains.ok());
    for (const auto& domain : *domains) {
        if (everCreated.contains(domain.instanceId.str())) {
            seen.domains[domain.instanceId.str()] = domain.state;
        }
    }
    auto volumes = storage.listVolumes();
    REQUIRE(volumes.ok());
    for (const auto& volume : *volumes) {
        auto owner = volume.name.starts_with("gpuhost-") ? volume.name.substr(8, 36) : std::string();
        if (everCreated.contains(owner)) {
            seen.volumeOwners.insert(owner);
        }
    }
    return seen;
}

}  // namespace gpuhost::test
