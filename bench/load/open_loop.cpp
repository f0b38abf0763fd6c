#include "open_loop.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gpuhost::bench {

namespace asio = boost::asio;

OpenLoop::OpenLoop(asio::any_io_executor executor, asio::ip::tcp::endpoint endpoint,
                   std::size_t readConnections, std::size_t writeConnections)
    : executor_(executor), endpoint_(endpoint), allDone_(executor) {
    reads_.connections = readConnections;
    writes_.connections = writeConnections;
}

void OpenLoop::wakeOne(Lane& lane) {
    if (!lane.idle.empty()) {
        lane.idle.back()->cancel();
        lane.idle.pop_back();
    }
}

void OpenLoop::enqueue(Planned planned) {
    bool write = planned.kind == Kind::Create || planned.kind == Kind::Delete;
    auto& lane = write ? writes_ : reads_;
    lane.queue.push_back(std::move(planned));
    result_.maxQueued = std::max(result_.maxQueued, reads_.queue.size() + writes_.queue.size());
    ++result_.sent;
    wakeOne(lane);
}

// Everything runs on one thread: between a check of the queue and the wait that
// follows it nothing else can run, so no wake-up is lost.
asio::awaitable<void> OpenLoop::worker(Lane& lane) {
    HttpConnection connection(executor_, endpoint_);
    asio::steady_timer wake(executor_);
    boost::system::error_code ignored;
    for (;;) {
        while (lane.queue.empty() && !closed_) {
            wake.expires_at(Clock::time_point::max());
            lane.idle.push_back(&wake);
            co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        }
        if (lane.queue.empty()) {
            break;
        }
        Planned planned = std::move(lane.queue.front());
        lane.queue.pop_front();
        auto response = co_await connection.exchange(planned.request);
        answered_(planned, response, Clock::now() - planned.due);
    }
    if (--running_ == 0) {
        allDone_.cancel();
    }
}

asio::awaitable<DriveResult> OpenLoop::drive(double rate, Clock::duration duration, const Plan& plan,
                                             const Answered& answered) {
    answered_ = answered;
    result_ = {};
    closed_ = false;
    for (auto* lane : {&reads_, &writes_}) {
        for (std::size_t i = 0; i < lane->connections; ++i) {
            ++running_;
            asio::co_spawn(executor_, worker(*lane), asio::detached);
        }
    }
    asio::steady_timer tick(executor_);
    boost::system::error_code ignored;
    auto start = Clock::now();
    auto period = std::chrono::duration<double>(1.0 / rate);
    for (std::uint64_t i = 0;; ++i) {
        auto due = start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(i));
        if (due >= start + duration) {
            break;
        }
        tick.expires_at(due);
        co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        enqueue(plan(due));
    }
    closed_ = true;
    for (auto* lane : {&reads_, &writes_}) {
        while (!lane->idle.empty()) {
            wakeOne(*lane);
        }
    }
    while (running_ > 0) {
        allDone_.expires_at(Clock::time_point::max());
        co_await allDone_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    result_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    co_return result_;
}

}  // namespace gpuhost::bench
