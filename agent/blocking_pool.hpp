#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include "model/error.hpp"

namespace gpuhost::agent {

/// Marks the calling thread as an I/O thread (set once by the server's threads).
void markIoThread();
/// Throws std::logic_error when called on an I/O thread: store, libvirt and process
/// calls must go through BlockingPool::run.
void assertNotOnIoThread(const char* what);

/// An exception escaping a blocking call, as an Internal error.
model::Error internalErrorFrom(std::exception_ptr exception);

/// A bounded pool for blocking calls (SQLite, libvirt, processes). Coroutines on the
/// I/O threads `co_await pool.run(fn)`; fn runs on a pool thread and the coroutine
/// resumes on its own executor (its strand). fn returns a model::Result; an exception
/// it throws comes back as an Internal error.
class BlockingPool {
  public:
    explicit BlockingPool(unsigned threads) : pool_(threads) {}
    ~BlockingPool() { join(); }

    BlockingPool(const BlockingPool&) = delete;
    BlockingPool& operator=(const BlockingPool&) = delete;

    // Callers: pass a *named* callable (`auto work = [..]{..}; co_await pool.run(std::move(work));`).
    // GCC 12 relocates a lambda temporary written inside a co_await expression bitwise,
    // leaving its captured std::strings pointing into the coroutine frame (caught by
    // ASan as a bad free). run() itself is a plain function and hands the work to the
    // pool as a pointer, so nothing non-trivial crosses a coroutine boundary by value.
    template <class F>
    auto run(F fn) {
        using R = std::invoke_result_t<F>;
        F* work = new F(std::move(fn));
        return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(R)>(
            [pool = &pool_, work](auto handler) {
                auto guard = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
                boost::asio::post(
                    *pool, [handler = std::move(handler), work, guard = std::move(guard)]() mutable {
                        std::unique_ptr<F> owned(work);
                        auto result = std::make_unique<R>(invokeCatching(*owned));
                        auto resume = guard.get_executor();
                        boost::asio::post(
                            resume, [handler = std::move(handler), result = std::move(result)]() mutable {
                                std::move(handler)(std::move(*result));
                            });
                    });
            },
            boost::asio::use_awaitable);
    }

    /// Fire-and-forget blocking work (e.g. re-reading the config on SIGHUP).
    template <class F>
    void post(F work) {
        boost::asio::post(pool_, std::move(work));
    }

    /// Waits for queued work to finish, then stops the threads.
    void join() { pool_.join(); }

  private:
    template <class F>
    static std::invoke_result_t<F> invokeCatching(F& work) {
        try {
            return work();
        } catch (...) {
            return internalErrorFrom(std::current_exception());
        }
    }

    boost::asio::thread_pool pool_;
};

}  // namespace gpuhost::agent
