#include <doctest/doctest.h>

#include <optional>

#include "model/instance_state.hpp"

using namespace gpuhost::model;
using enum InstanceState;

// Every (state, action) pair, written out: the contract Atlas clients rely on.
TEST_CASE("instance states: the whole (state, action) table") {
    struct Row {
        InstanceState state;
        std::optional<InstanceState> start, stop, remove;  // nullopt: 409
    };
    const Row table[] = {
        {Creating, std::nullopt, std::nullopt, Deleting},
        {Starting, std::nullopt, std::nullopt, Deleting},
        {Running, std::nullopt, Stopping, Deleting},
        {Stopping, std::nullopt, std::nullopt, Deleting},
        {Stopped, Starting, std::nullopt, Deleting},
        {Deleting, std::nullopt, std::nullopt, std::nullopt},
        {OutOfStock, std::nullopt, std::nullopt, Deleting},
        {Failed, Starting, Stopping, Deleting},
    };
    for (const auto& row : table) {
        for (auto [action, expected] :
             {std::pair{InstanceAction::Start, row.start}, std::pair{InstanceAction::Stop, row.stop},
              std::pair{InstanceAction::Delete, row.remove}}) {
            CAPTURE(nameOf(row.state));
            CAPTURE(nameOf(action));
            auto next = applyAction(row.state, action);
            if (expected) {
                REQUIRE(next.ok());
                CHECK(*next == *expected);
            } else {
                REQUIRE_FALSE(next.ok());
                CHECK(next.error().code == ErrorCode::Conflict);
                CHECK(next.error().message.find(std::string(nameOf(row.state))) != std::string::npos);
            }
        }
    }
    CHECK(isRepeatedDelete(Deleting, InstanceAction::Delete));
    CHECK_FALSE(isRepeatedDelete(Running, InstanceAction::Delete));
}

TEST_CASE("instance states: names round-trip and match the API's spelling") {
    for (auto state : {Creating, Starting, Running, Stopping, Stopped, Deleting, OutOfStock, Failed}) {
        CHECK(instanceStateFromString(nameOf(state)) == state);
    }
    CHECK(nameOf(OutOfStock) == "out-of-stock");
    CHECK(nameOf(Failed) == "error");
    CHECK_FALSE(instanceStateFromString("Running").has_value());
}
