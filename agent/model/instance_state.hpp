#pragma once

#include <optional>
#include <string_view>

#include "model/error.hpp"

namespace gpuhost::model {

/// The instance states real Atlas clients poll for (Failed is spelled "error" on the wire).
enum class InstanceState { Creating, Starting, Running, Stopping, Stopped, Deleting, OutOfStock, Failed };

/// What a user can ask of an instance.
enum class InstanceAction { Start, Stop, Delete };

std::string_view nameOf(InstanceState state);
std::string_view nameOf(InstanceAction action);
std::optional<InstanceState> instanceStateFromString(std::string_view text);

/// The state an accepted action moves the instance to, or Conflict (409) naming the
/// state that forbids it. One job at a time: an instance in a transitional state
/// (creating, starting, stopping) accepts only delete; deleting accepts nothing new,
/// but a repeated delete is answered as accepted (see isRepeatedDelete).
Result<InstanceState> applyAction(InstanceState current, InstanceAction action);

/// DELETE of an instance already being deleted changes nothing and is not an error.
inline bool isRepeatedDelete(InstanceState current, InstanceAction action) {
    return current == InstanceState::Deleting && action == InstanceAction::Delete;
}

}  // namespace gpuhost::model
