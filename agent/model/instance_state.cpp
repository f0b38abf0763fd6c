#include "model/instance_state.hpp"

#include <array>
#include <string>

namespace gpuhost::model {

namespace {

constexpr std::array<std::string_view, 8> kStateNames{"creating", "starting", "running",      "stopping",
                                                      "stopped",  "deleting", "out-of-stock", "error"};

}  // namespace

std::string_view nameOf(InstanceState state) {
    return kStateNames[static_cast<std::size_t>(state)];
}

std::string_view nameOf(InstanceAction action) {
    switch (action) {
        case InstanceAction::Start:
            return "start";
        case InstanceAction::Stop:
            return "stop";
        case InstanceAction::Delete:
            return "delete";
    }
    return "delete";
}

std::optional<InstanceState> instanceStateFromString(std::string_view text) {
    for (std::size_t i = 0; i < kStateNames.size(); ++i) {
        if (kStateNames[i] == text) {
            return static_cast<InstanceState>(i);
        }
    }
    return std::nullopt;
}

Result<InstanceState> applyAction(InstanceState current, InstanceAction action) {
    using enum InstanceState;
    auto refuse = [&] {
        return Error::conflict("cannot " + std::string(nameOf(action)) + " an instance that is " +
                               std::string(nameOf(current)));
    };
    switch (action) {
        // From error, start and stop are the way back: the job redefines whatever is missing.
        case InstanceAction::Start:
            return current == Stopped || current == Failed ? Result<InstanceState>(Starting)
                                                           : Result<InstanceState>(refuse());
        case InstanceAction::Stop:
            return current == Running || current == Failed ? Result<InstanceState>(Stopping)
                                                           : Result<InstanceState>(refuse());
        case InstanceAction::Delete:
            // Deletable from anywhere, including half-made (creating, error, out-of-stock):
            // the reconciler finishes whatever was interrupted.
            return current == Deleting ? Result<InstanceState>(refuse()) : Result<InstanceState>(Deleting);
    }
    return refuse();
}

}  // namespace gpuhost::model
