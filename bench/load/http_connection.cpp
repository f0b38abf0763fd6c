#include "http_connection.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>

namespace gpuhost::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;

asio::ip::tcp::endpoint loopback(unsigned short port) {
    return {asio::ip::make_address("127.0.0.1"), port};
}

http::request<http::string_body> makeRequest(http::verb method, const std::string& target,
                                             const Credentials& credentials, std::string body) {
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + credentials.token);
    if (!credentials.project.empty()) {
        request.set("X-PROJECT-ID", credentials.project);
    }
    if (method == http::verb::post || !body.empty()) {
        request.set(http::field::content_type, "application/json");
        request.body() = std::move(body);
        request.prepare_payload();
    }
    return request;
}

HttpConnection::HttpConnection(asio::any_io_executor executor, asio::ip::tcp::endpoint endpoint)
    : stream_(std::move(executor)), endpoint_(endpoint) {}

void HttpConnection::close() {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.close();
    buffer_.clear();
    open_ = false;
    reused_ = false;
}

asio::awaitable<Response> HttpConnection::exchange(const http::request<http::string_body>& request) {
    bool mayRetry = reused_ && request.method() == http::verb::get;
    auto response = co_await exchangeOnce(request);
    if (response.status == 0 && mayRetry) {
        response = co_await exchangeOnce(request);
    }
    co_return response;
}

asio::awaitable<Response> HttpConnection::exchangeOnce(const http::request<http::string_body>& request) {
    beast::error_code ec;
    auto failed = [this, &ec] {
        close();
        return Response{0, ec.message()};
    };
    if (!open_) {
        stream_.expires_after(std::chrono::seconds(10));
        co_await stream_.async_connect(endpoint_, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            co_return failed();
        }
        stream_.socket().set_option(asio::ip::tcp::no_delay(true));
        open_ = true;
    }
    // Generous: a create waits for an fsync and a delete for a busy instance (~2 s).
    stream_.expires_after(std::chrono::seconds(30));
    co_await http::async_write(stream_, request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        co_return failed();
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(512u << 20);
    co_await http::async_read(stream_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        co_return failed();
    }
    auto response = parser.release();
    Response out{static_cast<int>(response.result_int()), std::move(response.body())};
    if (response.need_eof()) {
        close();
    } else {
        reused_ = true;
    }
    co_return out;
}

}  // namespace gpuhost::bench
