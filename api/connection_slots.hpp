#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gpuhost::api {

/// Who holds the server's connection slots, so that idle clients cannot hoard them (issue 16:
/// ~1,030 idle keep-alive sockets locked every other client out for as long as they stayed).
/// As nginx's limit_conn and Envoy's overload manager do:
///  - one client address holds at most `perAddress` connections; past it, new ones are refused;
///  - at `maxConnections`, the connection idle longest between requests is closed to make room
///    (only when none is idle is the new one refused);
///  - past 3/4 of `maxConnections` ("pressure"), a connection going idle gets `idleUnderPressure`
///    instead of `idle`, and an admission closes those already idle longer than that, oldest
///    first, until the count is back at 3/4.
/// Pure bookkeeping under a mutex (connections live on their own strands); the server does the
/// I/O. A connection counts from admit() until release() or until it is chosen for closing.
class ConnectionSlots {
  public:
    using Clock = std::chrono::steady_clock;
    using Id = std::uint64_t;

    struct Limits {
        unsigned maxConnections = 1024;
        unsigned perAddress = 256;
        Clock::duration idle = std::chrono::seconds(60);
        Clock::duration idleUnderPressure = std::chrono::seconds(5);
    };

    enum class Verdict { Admitted, AddressFull, ServerFull };
    struct Admission {
        Verdict verdict = Verdict::Admitted;
        std::vector<Id> close;  // idle connections to close now, oldest first (their slots are gone)
    };

    explicit ConnectionSlots(Limits limits) : limits_(limits) {}

    /// A new connection `id` from `address`.
    Admission admit(Id id, const std::string& address, Clock::time_point now);
    /// The connection has ended (nothing to do when it was closed to make room).
    void release(Id id);
    /// The connection waits for its next request: it may now be closed to make room. Returns
    /// how long it may wait.
    Clock::duration idle(Id id, Clock::time_point now);
    /// A request has started on the connection: false when it was already chosen for closing
    /// (its slot is given away; the server closes it without serving the request).
    bool busy(Id id);

    std::size_t count() const;
    std::size_t countFor(const std::string& address) const;

  private:
    struct Entry {
        std::string address;
        Clock::time_point idleSince{};
        bool idle = false;
    };
    bool underPressure() const;  // with mutex_ held
    void drop(Id id, std::vector<Id>& closed);

    Limits limits_;
    mutable std::mutex mutex_;
    std::unordered_map<Id, Entry> entries_;
    std::unordered_map<std::string, unsigned> perAddress_;
    std::set<std::pair<Clock::time_point, Id>> idle_;  // oldest first
};

}  // namespace gpuhost::api
