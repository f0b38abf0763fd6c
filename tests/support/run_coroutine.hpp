#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <optional>

namespace gpuhost::test {

// co_spawn's future needs a default-constructible value; model::Result is not.
template <class T>
boost::asio::awaitable<std::optional<T>> asOptional(boost::asio::awaitable<T> work) {
    co_return co_await std::move(work);
}

/// Runs one awaitable to completion on a private io_context and returns its value.
template <class T>
T runCoroutine(boost::asio::awaitable<T> work) {
    boost::asio::io_context ioc;
    auto future = boost::asio::co_spawn(ioc, asOptional(std::move(work)), boost::asio::use_future);
    ioc.run();
    return std::move(*future.get());
}

}  // namespace gpuhost::test
