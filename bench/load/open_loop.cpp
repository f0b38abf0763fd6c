#include "open_loop.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gpuhost::bench {

namespace asio = boost::asio;

OpenLoop::OpenLoop(asio::any_io_executor executor, asio::ip::tcp::endpoint endpoint, std::size_t connections)
    : executor_(executor), endpoint_(endpoint), connections_(connections), allDone_(executor) {}

void OpenLoop::wakeOne() {
    if (!idle_.empty()) {
        idle_.back()->cancel();
        idle_.pop_back();
    }
}

void OpenLoop::enqueue(Planned planned) {
    queue_.push_back(std::move(planned));
    result_.maxQueued = std::max(result_.maxQueued, queue_.size());
    ++result_.sent;
    wakeOne();
}

// Everything runs on one thread: between a check of the queue and the wait that
// follows it nothing else can run, so no wake-up is lost.
asio::awaitable<void> OpenLoop::worker() {
    HttpConnection connection(executor_, endpoint_);
    asio::steady_timer wake(executor_);
    boost::system::error_code ignored;
    for (;;) {
        while (queue_.empty() && !closed_) {
            wake.expires_at(Clock::time_point::max());
            idle_.push_back(&wake);
            co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        }
        if (queue_.empty()) {
            break;
        }
        Planned planned = std::move(queue_.front());
        queue_.pop_front();
        auto response = co_await connection.exchange(planned.request);
        answered_(planned, response, Clock::now() - planned.due);
    }
    if (--running_ == 0) {
        allDone_.cancel();
    }
}

asio::awaitable<DriveResult> OpenLoop::drive(double rate, Clock::duration duration, Plan plan,
                                             Answered answered) {
    answered_ = std::move(answered);
    result_ = {};
    closed_ = false;
    for (std::size_t i = 0; i < connections_; ++i) {
        ++running_;
        asio::co_spawn(executor_, worker(), asio::detached);
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
    while (!idle_.empty()) {
        wakeOne();
    }
    while (running_ > 0) {
        allDone_.expires_at(Clock::time_point::max());
        co_await allDone_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    result_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    co_return result_;
}

}  // namespace gpuhost::bench
