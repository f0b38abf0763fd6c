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
        : region_(config.region),
          virtType_(config.virtType),
          instanceTypes_(config.instanceTypes),
          images_(config.images) {}

    const std::string& region() const { return region_; }
    VirtType virtType() const { return virtType_; }
    const std::vector<model::InstanceType>& instanceTypes() const { return instanceTypes_; }
    const std::vector<ImageConfig>& images() const { return images_; }

    const model::InstanceType* findInstanceType(std::string_view name) const {
        for (const auto& type : instanceTypes_) {
            if (type.name == name) {
                return &type;
            }
        }
        return nullptr;
    }

    /// The image for "ubuntu22.04" (the name after image://), or nullptr.
    const ImageConfig* findImage(std::string_view name) const {
        for (const auto& image : images_) {
            if (image.name == name) {
                return &image;
            }
        }
        return nullptr;
    }

  private:
    std::string region_;
    VirtType virtType_;
    std::vector<model::InstanceType> instanceTypes_;
    std::vector<ImageConfig> images_;
};

}  // namespace gpuhost::agent
