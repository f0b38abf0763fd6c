#pragma once

#include <atomic>
#include <bit>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <utility>

#include "log.hpp"

namespace gpuhost::agent {

/// What one run of a piece of work tells the queue.
enum class WorkOutcome {
    Done,   // finished (or nothing left to do): forget its failures
    Retry,  // a transient error (libvirt unreachable, a GPU still held): run it again later
};

/// Capped exponential backoff with jitter, so work that failed for a passing reason is
/// tried again within a second or two (not at the next periodic resync), and many keys
/// failing together (a libvirtd restart) do not retry in lock step.
struct RetryPolicy {
    std::chrono::milliseconds first{1000};
    std::chrono::milliseconds max{30000};
    double jitter = 0.2;  // each delay is scaled by a random factor in [1 - jitter, 1 + jitter)
};

/// The delay before retry number `attempt` (1 for the first); `unit` is a uniform draw in [0, 1).
std::chrono::milliseconds retryDelay(const RetryPolicy& policy, unsigned attempt, double unit);

/// Work deduplicated per key (an instance, a filesystem, a cluster): what is pending for a
/// key is a set of kinds (bits), so scheduling the same kind twice before it runs runs it
/// once. One runner per key at a time (libvirt's one-job-per-domain rule, and the reason a
/// job never races another job of its own resource); different keys run in parallel, each
/// on a strand of its own. Lower bits run first. The runner is a coroutine; a Retry outcome
/// (or an exception) schedules that kind again after RetryPolicy's delay. stop() cancels
/// pending retries and lets each runner finish its current step only.
template <class Key>
class KeyedWorkQueue {
  public:
    using Kinds = unsigned;
    using Runner = std::function<boost::asio::awaitable<WorkOutcome>(Key, Kinds)>;

    KeyedWorkQueue(boost::asio::any_io_executor executor, Runner runner, RetryPolicy policy = {})
        : executor_(std::move(executor)),
          runner_(std::move(runner)),
          policy_(policy),
          random_(std::random_device{}()) {}
    ~KeyedWorkQueue() { stop(); }

    KeyedWorkQueue(const KeyedWorkQueue&) = delete;
    KeyedWorkQueue& operator=(const KeyedWorkQueue&) = delete;

    /// Adds `kinds` to the key's pending work and starts its runner if none is running.
    void schedule(const Key& key, Kinds kinds) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_.load() || kinds == 0) {
                return;
            }
            auto& slot = slots_[key];
            slot.pending |= kinds;
            if (slot.running) {
                return;  // the runner picks it up
            }
            slot.running = true;
        }
        // Outside the lock: co_spawn may start the runner inline, and the runner takes it.
        boost::asio::co_spawn(boost::asio::make_strand(executor_), drain(key), boost::asio::detached);
    }

    /// schedule() after `delay` (a poll, a retry); cancelled by stop(). At most one timer
    /// waits per key and kinds, the earliest: the run it starts decides its own next check, so
    /// a poll or recheck asked for again while one is pending does not pile up timers.
    void scheduleAfter(const Key& key, Kinds kinds, std::chrono::milliseconds delay) {
        auto due = std::chrono::steady_clock::now() + delay;
        std::lock_guard lock(mutex_);
        if (stopping_.load() || kinds == 0) {
            return;
        }
        auto [it, inserted] = timers_.try_emplace(TimerKey{key, kinds});
        std::shared_ptr<boost::asio::steady_timer> replaced;
        if (!inserted) {
            if (it->second.due <= due) {
                return;  // the pending one fires first and covers this
            }
            replaced = std::move(it->second.timer);
        }
        auto timer = std::make_shared<boost::asio::steady_timer>(executor_, due);
        auto sequence = ++timerSequence_;  // not the address: a freed timer's may come back
        it->second = PendingTimer{timer, due, sequence};
        // Armed under the lock, before any other thread can reach the timer (a handler never
        // runs inline).
        timer->async_wait([this, key, kinds, sequence](const boost::system::error_code& ec) {
            {
                std::lock_guard lock(mutex_);
                auto it = timers_.find(TimerKey{key, kinds});
                if (it != timers_.end() && it->second.sequence == sequence) {
                    timers_.erase(it);
                }
            }
            if (!ec) {
                schedule(key, kinds);
            }
        });
        if (replaced) {
            boost::asio::post(replaced->get_executor(), [replaced] { replaced->cancel(); });
        }
    }

    /// No new runs; pending timers are cancelled; runners stop before their next step.
    void stop() {
        std::map<TimerKey, PendingTimer> timers;
        {
            std::lock_guard lock(mutex_);
            stopping_.store(true);
            timers.swap(timers_);
        }
        for (auto& entry : timers) {
            auto timer = entry.second.timer;  // named: clang cannot capture a structured binding
            boost::asio::post(timer->get_executor(), [timer] { timer->cancel(); });
        }
    }
    bool stopping() const { return stopping_.load(); }

    /// Whether the key has work pending or running (tests and shutdown logging).
    bool busy(const Key& key) const {
        std::lock_guard lock(mutex_);
        auto it = slots_.find(key);
        return it != slots_.end() && (it->second.running || it->second.pending != 0);
    }
    /// Failed runs in a row of the key (0 after a Done).
    unsigned failures(const Key& key) const {
        std::lock_guard lock(mutex_);
        auto it = slots_.find(key);
        return it == slots_.end() ? 0 : it->second.failures;
    }
    /// Timers waiting to schedule work, over all keys (tests: they must not pile up).
    std::size_t timersPending() const {
        std::lock_guard lock(mutex_);
        return timers_.size();
    }

  private:
    struct Slot {
        Kinds pending = 0;
        bool running = false;
        unsigned failures = 0;
        Kinds last = 0;  // the kind run last: the next is the one after it (round robin)
    };

    using TimerKey = std::pair<Key, Kinds>;
    struct PendingTimer {
        std::shared_ptr<boost::asio::steady_timer> timer;
        std::chrono::steady_clock::time_point due;
        std::uint64_t sequence = 0;
    };

    boost::asio::awaitable<void> drain(Key key) {
        for (;;) {
            Kinds kind = 0;
            {
                std::lock_guard lock(mutex_);
                auto& slot = slots_[key];
                if (stopping_.load() || slot.pending == 0) {
                    slot.running = false;
                    if (slot.pending == 0 && slot.failures == 0) {
                        slots_.erase(key);  // nothing to remember: keep the map small
                    }
                    co_return;
                }
                // Lowest kind first, but in turn: a kind that keeps coming back (a recheck)
                // never starves the others.
                Kinds later = slot.last == 0 ? 0 : slot.pending & ~((slot.last << 1) - 1);
                kind = Kinds{1} << std::countr_zero(later != 0 ? later : slot.pending);
                slot.pending &= ~kind;
                slot.last = kind;
            }
            WorkOutcome outcome = WorkOutcome::Retry;
            try {
                outcome = co_await runner_(key, kind);
            } catch (const std::exception& e) {
                log::error("work failed with an exception; retrying", {{"error", e.what()}});
            }
            std::chrono::milliseconds delay{};
            {
                std::lock_guard lock(mutex_);
                auto& slot = slots_[key];
                if (outcome == WorkOutcome::Done) {
                    slot.failures = 0;
                    continue;
                }
                ++slot.failures;
                delay =
                    retryDelay(policy_, slot.failures, std::uniform_real_distribution<double>(0, 1)(random_));
            }
            scheduleAfter(key, kind, delay);
        }
    }

    boost::asio::any_io_executor executor_;
    Runner runner_;
    RetryPolicy policy_;
    mutable std::mutex mutex_;
    std::map<Key, Slot> slots_;
    std::map<TimerKey, PendingTimer> timers_;
    std::uint64_t timerSequence_ = 0;  // guarded by mutex_
    std::minstd_rand random_;          // jitter only; guarded by mutex_
    std::atomic<bool> stopping_{false};
};

inline std::chrono::milliseconds retryDelay(const RetryPolicy& policy, unsigned attempt, double unit) {
    double delay = static_cast<double>(policy.first.count());
    for (unsigned i = 1; i < attempt && delay < static_cast<double>(policy.max.count()); ++i) {
        delay *= 2;
    }
    delay = std::min(delay, static_cast<double>(policy.max.count()));
    delay *= 1.0 - policy.jitter + 2.0 * policy.jitter * unit;
    return std::chrono::milliseconds(static_cast<std::int64_t>(delay));
}

}  // namespace gpuhost::agent
