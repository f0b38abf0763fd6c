#include "connection_slots.hpp"

#include <algorithm>

namespace gpuhost::api {

bool ConnectionSlots::underPressure() const {
    return entries_.size() * 4 > static_cast<std::size_t>(limits_.maxConnections) * 3;
}

void ConnectionSlots::drop(Id id, std::vector<Id>& closed) {
    auto it = entries_.find(id);
    if (it == entries_.end()) {
        return;
    }
    if (it->second.idle) {
        idle_.erase({it->second.idleSince, id});
    }
    auto address = perAddress_.find(it->second.address);
    if (address != perAddress_.end() && --address->second == 0) {
        perAddress_.erase(address);
    }
    entries_.erase(it);
    closed.push_back(id);
}

ConnectionSlots::Admission ConnectionSlots::admit(Id id, const std::string& address, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    Admission admission;
    auto held = perAddress_.find(address);
    if (held != perAddress_.end() && held->second >= limits_.perAddress) {
        admission.verdict = Verdict::AddressFull;
        return admission;
    }
    if (entries_.size() >= limits_.maxConnections) {
        if (idle_.empty()) {
            admission.verdict = Verdict::ServerFull;
            return admission;
        }
        drop(idle_.begin()->second, admission.close);
    }
    entries_.emplace(id, Entry{address});
    ++perAddress_[address];
    // Envoy's "reduce timeouts": under pressure, those idle past the short timeout go now,
    // not when their long one ends; only as many as bring the count back to 3/4.
    while (underPressure() && !idle_.empty() && idle_.begin()->first + limits_.idleUnderPressure <= now) {
        drop(idle_.begin()->second, admission.close);
    }
    return admission;
}

void ConnectionSlots::release(Id id) {
    std::lock_guard lock(mutex_);
    std::vector<Id> ignored;
    drop(id, ignored);
}

ConnectionSlots::Clock::duration ConnectionSlots::idle(Id id, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it != entries_.end() && !it->second.idle) {
        it->second.idle = true;
        it->second.idleSince = now;
        idle_.emplace(now, id);
    }
    return underPressure() ? std::min(limits_.idle, limits_.idleUnderPressure) : limits_.idle;
}

bool ConnectionSlots::busy(Id id) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
        return false;
    }
    if (it->second.idle) {
        idle_.erase({it->second.idleSince, id});
        it->second.idle = false;
    }
    return true;
}

std::size_t ConnectionSlots::count() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

std::size_t ConnectionSlots::countFor(const std::string& address) const {
    std::lock_guard lock(mutex_);
    auto it = perAddress_.find(address);
    return it == perAddress_.end() ? 0 : it->second;
}

}  // namespace gpuhost::api
