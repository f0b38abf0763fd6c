// KeyedWorkQueue: dedup per key, one runner per key, keys in parallel, retries with
// capped backoff and jitter, stop.
#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "keyed_work_queue.hpp"
#include "log.hpp"

using namespace gpuhost;
using namespace std::chrono_literals;
using agent::KeyedWorkQueue;
using agent::RetryPolicy;
using agent::WorkOutcome;

namespace {

/// Two I/O threads, like gpuhostd's, so keys can really run at the same time.
struct Loop {
    boost::asio::io_context ioc;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ioc.get_executor()};
    std::thread a{[this] { ioc.run(); }}, b{[this] { ioc.run(); }};
    ~Loop() {
        work.reset();
        ioc.stop();
        a.join();
        b.join();
    }
};

template <class F>
void waitUntil(F condition) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!condition()) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(1ms);
    }
}

boost::asio::awaitable<void> pause(std::chrono::milliseconds duration) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, duration);
    co_await timer.async_wait(boost::asio::use_awaitable);
}

}  // namespace

TEST_CASE(
    "keyed work queue: the same kind scheduled while pending runs once, and kinds run lowest bit first") {
    Loop loop;
    std::mutex mutex;
    std::vector<unsigned> ran;
    std::atomic<bool> release{false}, started{false};
    KeyedWorkQueue<int> queue(loop.ioc.get_executor(),
                              [&](int, unsigned kind) -> boost::asio::awaitable<WorkOutcome> {
                                  started.store(true);
                                  while (!release.load()) {
                                      co_await pause(1ms);
                                  }
                                  std::lock_guard lock(mutex);
                                  ran.push_back(kind);
                                  co_return WorkOutcome::Done;
                              });
    queue.schedule(1, 4);  // starts running and blocks until released
    waitUntil([&] { return started.load(); });
    for (int i = 0; i < 50; ++i) {
        queue.schedule(1, 2);
        queue.schedule(1, 1);
    }
    release.store(true);
    waitUntil([&] { return !queue.busy(1); });
    std::lock_guard lock(mutex);
    CHECK(ran == std::vector<unsigned>{4, 1, 2});
}

TEST_CASE("keyed work queue: one runner per key, different keys in parallel") {
    Loop loop;
    std::mutex mutex;
    std::map<int, int> running, most;
    int together = 0, mostTogether = 0;
    KeyedWorkQueue<int> queue(loop.ioc.get_executor(),
                              [&](int key, unsigned) -> boost::asio::awaitable<WorkOutcome> {
                                  {
                                      std::lock_guard lock(mutex);
                                      most[key] = std::max(most[key], ++running[key]);
                                      mostTogether = std::max(mostTogether, ++together);
                                  }
                                  co_await pause(20ms);
                                  {
                                      std::lock_guard lock(mutex);
                                      --running[key];
                                      --together;
                                  }
                                  co_return WorkOutcome::Done;
                              });
    for (int round = 0; round < 3; ++round) {
        for (int key = 0; key < 4; ++key) {
            queue.schedule(key, 1u << round);
        }
    }
    waitUntil([&] {
        for (int key = 0; key < 4; ++key) {
            if (queue.busy(key)) {
                return false;
            }
        }
        return true;
    });
    std::lock_guard lock(mutex);
    for (int key = 0; key < 4; ++key) {
        CHECK(most[key] == 1);
    }
    CHECK(mostTogether > 1);  // keys overlapped: 4 keys × 3 kinds × 20 ms did not run one after another
}

TEST_CASE("keyed work queue: Retry runs the kind again after a growing delay, Done resets the count") {
    Loop loop;
    std::mutex mutex;
    std::vector<std::chrono::steady_clock::time_point> attempts;
    KeyedWorkQueue<int> queue(
        loop.ioc.get_executor(),
        [&](int, unsigned) -> boost::asio::awaitable<WorkOutcome> {
            std::lock_guard lock(mutex);
            attempts.push_back(std::chrono::steady_clock::now());
            co_return attempts.size() < 4 ? WorkOutcome::Retry : WorkOutcome::Done;
        },
        RetryPolicy{20ms, 1000ms, 0.0});
    queue.schedule(7, 1);
    waitUntil([&] {
        std::lock_guard lock(mutex);
        return attempts.size() == 4 && !queue.busy(7);
    });
    CHECK(queue.failures(7) == 0);
    std::lock_guard lock(mutex);
    // 20, 40, 80 ms: each gap at least its delay (timers never fire early).
    CHECK(attempts[1] - attempts[0] >= 20ms);
    CHECK(attempts[2] - attempts[1] >= 40ms);
    CHECK(attempts[3] - attempts[2] >= 80ms);
}

TEST_CASE("keyed work queue: backoff is capped and jittered within bounds") {
    RetryPolicy policy{1000ms, 30000ms, 0.2};
    CHECK(agent::retryDelay(policy, 1, 0.5) == 1000ms);
    CHECK(agent::retryDelay(policy, 2, 0.5) == 2000ms);
    CHECK(agent::retryDelay(policy, 5, 0.5) == 16000ms);
    CHECK(agent::retryDelay(policy, 6, 0.5) == 30000ms);
    CHECK(agent::retryDelay(policy, 60, 0.5) == 30000ms);
    CHECK(agent::retryDelay(policy, 1, 0.0) == 800ms);
    CHECK(agent::retryDelay(policy, 1, 0.999) >= 1199ms);
    CHECK(agent::retryDelay(policy, 60, 0.999) <= 36000ms);
}

TEST_CASE("keyed work queue: an exception is a retry, not a crash") {
    Loop loop;
    agent::log::setLevel("error");
    std::atomic<int> calls{0};
    KeyedWorkQueue<int> queue(
        loop.ioc.get_executor(),
        [&](int, unsigned) -> boost::asio::awaitable<WorkOutcome> {
            if (++calls == 1) {
                throw std::runtime_error("odd reply");
            }
            co_return WorkOutcome::Done;
        },
        RetryPolicy{5ms, 10ms, 0.0});
    queue.schedule(1, 1);
    waitUntil([&] { return calls.load() == 2 && !queue.busy(1); });
}

TEST_CASE("keyed work queue: stop cancels pending retries and takes no new work") {
    Loop loop;
    std::atomic<int> calls{0};
    KeyedWorkQueue<int> queue(
        loop.ioc.get_executor(),
        [&](int, unsigned) -> boost::asio::awaitable<WorkOutcome> {
            ++calls;
            co_return WorkOutcome::Retry;
        },
        RetryPolicy{200ms, 200ms, 0.0});
    queue.schedule(1, 1);
    waitUntil([&] { return calls.load() == 1 && queue.failures(1) == 1; });
    queue.stop();
    queue.schedule(2, 1);
    std::this_thread::sleep_for(400ms);  // past the retry's delay: it must not have run
    CHECK(calls.load() == 1);
    CHECK(queue.stopping());
}

TEST_CASE("keyed work queue: a kind that reschedules itself every run does not starve the others") {
    Loop loop;
    std::atomic<int> firstRuns{0};
    std::atomic<bool> thirdRan{false};
    KeyedWorkQueue<int>* self = nullptr;
    KeyedWorkQueue<int> queue(loop.ioc.get_executor(),
                              [&](int key, unsigned kind) -> boost::asio::awaitable<WorkOutcome> {
                                  if (kind == 1) {
                                      ++firstRuns;
                                      if (!thirdRan.load()) {
                                          self->schedule(key, 1);  // a recheck that always comes back
                                      }
                                  } else if (kind == 4) {
                                      thirdRan.store(true);
                                  }
                                  co_return WorkOutcome::Done;
                              });
    self = &queue;
    queue.schedule(1, 1 | 2 | 4);
    waitUntil([&] { return thirdRan.load(); });
    CHECK(firstRuns.load() <= 3);  // 1, 2, 4 in turn (strict lowest-first never reached 4)
    waitUntil([&] { return !queue.busy(1); });
}

TEST_CASE(
    "keyed work queue: a delayed kind asked for again while its timer waits keeps one timer, the earliest") {
    Loop loop;
    std::mutex mutex;
    std::map<std::pair<int, unsigned>, int> runs;
    KeyedWorkQueue<int> queue(loop.ioc.get_executor(),
                              [&](int key, unsigned kind) -> boost::asio::awaitable<WorkOutcome> {
                                  std::lock_guard lock(mutex);
                                  ++runs[{key, kind}];
                                  co_return WorkOutcome::Done;
                              });
    auto runsOf = [&](int key, unsigned kind) {
        std::lock_guard lock(mutex);
        return runs[{key, kind}];
    };
    for (int i = 0; i < 50; ++i) {
        queue.scheduleAfter(1, 1, 60s);  // a recheck asked for on every poll of a long wait
    }
    CHECK(queue.timersPending() == 1);
    queue.scheduleAfter(1, 2, 60s);  // another kind and another key each keep their own
    queue.scheduleAfter(2, 1, 60s);
    CHECK(queue.timersPending() == 3);

    queue.scheduleAfter(1, 1, 2s);  // earlier: replaces the 60 s one
    queue.scheduleAfter(2, 1, 2s);
    queue.scheduleAfter(2, 1, 60s);  // later than the pending one: covered by it
    CHECK(queue.timersPending() == 3);
    waitUntil([&] { return runsOf(1, 1) == 1 && runsOf(2, 1) == 1 && !queue.busy(1) && !queue.busy(2); });
    CHECK(queue.timersPending() == 1);  // only key 1's kind 2 still waits

    // A replaced timer is cancelled, not left to fire later.
    queue.scheduleAfter(3, 1, 300ms);
    queue.scheduleAfter(3, 1, 10ms);
    waitUntil([&] { return runsOf(3, 1) == 1 && !queue.busy(3); });
    std::this_thread::sleep_for(600ms);  // past the replaced one's deadline
    CHECK(runsOf(3, 1) == 1);

    queue.scheduleAfter(1, 2, 10ms);  // nothing left pending when the test ends
    waitUntil([&] { return runsOf(1, 2) == 1 && !queue.busy(1); });
    CHECK(queue.timersPending() == 0);
    CHECK(runsOf(1, 1) == 1);
    CHECK(runsOf(2, 1) == 1);
}
