// Who holds the server's connection slots (issue 16: idle keep-alive sockets locked everyone
// else out). Pure bookkeeping: time is passed in, no sockets.
#include <doctest/doctest.h>

#include "connection_slots.hpp"

using namespace gpuhost::api;
using Clock = ConnectionSlots::Clock;
using std::chrono::seconds;
using Verdict = ConnectionSlots::Verdict;

namespace {

const Clock::time_point t0{};

ConnectionSlots::Limits limits(unsigned max, unsigned perAddress) {
    return {max, perAddress, seconds(60), seconds(5)};
}

}  // namespace

TEST_CASE("slots: one address holds at most its cap, others are still admitted") {
    ConnectionSlots slots(limits(100, 3));
    for (ConnectionSlots::Id id = 0; id < 3; ++id) {
        CHECK(slots.admit(id, "127.0.0.1", t0).verdict == Verdict::Admitted);
    }
    CHECK(slots.admit(3, "127.0.0.1", t0).verdict == Verdict::AddressFull);
    CHECK(slots.admit(4, "127.0.0.2", t0).verdict == Verdict::Admitted);
    CHECK(slots.countFor("127.0.0.1") == 3);
    slots.release(0);
    CHECK(slots.countFor("127.0.0.1") == 2);
    CHECK(slots.admit(5, "127.0.0.1", t0).verdict == Verdict::Admitted);
}

TEST_CASE("slots: at the limit the connection idle longest is closed, a busy one never") {
    ConnectionSlots slots(limits(3, 10));
    for (ConnectionSlots::Id id = 0; id < 3; ++id) {
        REQUIRE(slots.admit(id, "a", t0).verdict == Verdict::Admitted);
    }
    // None idle: nothing can make room.
    CHECK(slots.admit(10, "b", t0).verdict == Verdict::ServerFull);
    slots.idle(2, t0 + seconds(1));
    slots.idle(1, t0 + seconds(2));
    auto admission = slots.admit(11, "b", t0 + seconds(3));
    CHECK(admission.verdict == Verdict::Admitted);
    CHECK(admission.close == std::vector<ConnectionSlots::Id>{2});
    CHECK(slots.count() == 3);
    CHECK_FALSE(slots.busy(2));  // its slot is gone: a request that raced the close is not served
    CHECK(slots.busy(1));        // busy again: no longer a candidate
    CHECK(slots.admit(12, "b", t0 + seconds(4)).verdict == Verdict::ServerFull);
    slots.release(2);  // the closed connection's coroutine ends later: nothing changes
    CHECK(slots.count() == 3);
}

TEST_CASE("slots: under pressure idle connections get the short timeout and go once past it") {
    ConnectionSlots slots(limits(8, 10));
    for (ConnectionSlots::Id id = 0; id < 6; ++id) {  // 6 of 8: exactly 3/4, not yet pressure
        REQUIRE(slots.admit(id, "a", t0).verdict == Verdict::Admitted);
    }
    CHECK(slots.idle(0, t0) == seconds(60));
    auto seventh = slots.admit(6, "b", t0 + seconds(1));
    CHECK(seventh.close.empty());  // idle only 1 s
    CHECK(slots.idle(1, t0 + seconds(1)) == seconds(5));
    auto eighth = slots.admit(7, "b", t0 + seconds(6));  // connection 0 idle 6 s, 1 idle 5 s
    CHECK(eighth.close == std::vector<ConnectionSlots::Id>{0, 1});
    CHECK(slots.count() == 6);
    CHECK(slots.idle(2, t0 + seconds(6)) == seconds(60));  // 6 of 8 again: no pressure
}
