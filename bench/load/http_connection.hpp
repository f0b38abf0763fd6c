// One keep-alive HTTP/1.1 connection to gpuhostd for the load and scale benchmarks, used
// from coroutines on one io_context. It connects lazily and reconnects after an error,
// so a worker can keep going; the error itself is reported to the caller (status 0).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

namespace gpuhost::bench {

namespace http = boost::beast::http;

struct Response {
    int status = 0;    // 0: the exchange failed (connect, write, read or timeout)
    std::string body;  // the response body, or the I/O error's message when status is 0
};

/// What every request to the API carries: the bearer token and, for project-scoped
/// routes, the project.
struct Credentials {
    std::string token;
    std::string project;  // empty: no X-PROJECT-ID header
};

http::request<http::string_body> makeRequest(http::verb method, const std::string& target,
                                             const Credentials& credentials, std::string body = {});

class HttpConnection {
  public:
    HttpConnection(boost::asio::any_io_executor executor, boost::asio::ip::tcp::endpoint endpoint);

    /// Sends one request and reads its answer. A GET on a reused connection that the
    /// server closed while it idled is retried once on a new connection (safe: GETs
    /// change nothing); every other failure is returned as status 0.
    boost::asio::awaitable<Response> exchange(const http::request<http::string_body>& request);

  private:
    boost::asio::awaitable<Response> exchangeOnce(const http::request<http::string_body>& request);
    void close();

    boost::beast::tcp_stream stream_;
    boost::beast::flat_buffer buffer_;
    boost::asio::ip::tcp::endpoint endpoint_;
    bool open_ = false;
    bool reused_ = false;
};

/// 127.0.0.1:port
boost::asio::ip::tcp::endpoint loopback(unsigned short port);

}  // namespace gpuhost::bench
