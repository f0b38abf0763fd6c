#pragma once

#include "domain_spec.hpp"
#include "hypervisor.hpp"
#include "model/uuid.hpp"

namespace gpuhost::test {

/// A small TCG domain for the libvirt driver tests (its disks are never read on the test driver).
inline drivers::DomainSpec tinyDomainSpec(const model::Uuid& instance,
                                          const model::Uuid& project = model::Uuid::random()) {
    drivers::DomainSpec spec;
    spec.instanceId = instance;
    spec.projectId = project;
    spec.agentId = model::Uuid::random();
    spec.hostname = "vm-1";
    spec.vcpus = 1;
    spec.memoryBytes = 512ull << 20;
    spec.accelerator = drivers::Accelerator::Tcg;
    spec.rootDisk = "/var/lib/gpuhost/pool/" + instance.str() + ".qcow2";
    spec.seedIso = "/var/lib/gpuhost/pool/" + instance.str() + ".iso";
    spec.consoleLog = "/var/lib/gpuhost/console/" + instance.str() + ".log";
    spec.macAddress = drivers::macAddressFor(instance);
    return spec;
}

}  // namespace gpuhost::test
