#pragma once

#include <cstdint>
#include <string>

namespace gpuhost::model {

/// A purchasable VM shape, configured by the operator.
struct InstanceType {
    std::string name;
    unsigned cpu = 0;
    std::uint64_t memoryBytes = 0;
    unsigned gpuCount = 0;
    std::string gpuModel;
    std::uint64_t diskBytes = 0;  // root disk size; 0 keeps the image's own size
};

}  // namespace gpuhost::model
