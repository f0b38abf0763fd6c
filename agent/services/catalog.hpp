#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "model/instance_type.hpp"

namespace gpuhost::agent {

/// What this region sells and how it runs it, as configured by the operator.
class Catalog {
  public:
    explicit Catalog(const Config& config)
        : region_(config.region), virtType_(config.virtType), instanceTypes_(config.instanceTypes) {}

    const std::string& region() const { return region_; }
    VirtType virtType() const { return virtType_; }
    const std::vector<model::InstanceType>& instanceTypes() const { return instanceTypes_; }

    const model::InstanceType* findInstanceType(std::string_view name) const {
        for (const auto& type : instanceTypes_) {
            if (type.name == name) {
                return &type;
            }
        }
        return nullptr;
    }

  private:
    std::string region_;
    VirtType virtType_;
    std::vector<model::InstanceType> instanceTypes_;
};

}  // namespace gpuhost::agent
