#include "model/instance.hpp"

#include <algorithm>

namespace gpuhost::model {

Result<std::string> parseImageReference(std::string_view reference, const std::string& field) {
    constexpr std::string_view scheme = "image://";
    if (!reference.starts_with(scheme)) {
        return Error::invalid(field, "must look like image://<name>, e.g. image://ubuntu22.04");
    }
    auto name = reference.substr(scheme.size());
    auto allowed = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    };
    if (name.empty() || name.size() > 63 || !std::all_of(name.begin(), name.end(), allowed)) {
        return Error::invalid(field, "image name must be 1-63 lowercase letters, digits, '.', '-' or '_'");
    }
    return std::string(name);
}

}  // namespace gpuhost::model
