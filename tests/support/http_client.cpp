#include "support/http_client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

namespace gpuhost::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

http::request<http::string_body> buildRequest(const std::string& method, const std::string& target,
                                              const Headers& headers, const std::string& body) {
    http::request<http::string_body> request;
    request.method_string(method);
    request.target(target);
    request.version(11);
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) {
        request.insert(name, value);
    }
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        request.body() = body;
        request.prepare_payload();
    }
    return request;
}

HttpResponse toResponse(http::response<http::string_body>& response) {
    HttpResponse out;
    out.status = static_cast<int>(response.result_int());
    for (const auto& field : response) {
        std::string name(field.name_string());
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        out.headers[name] = std::string(field.value());
    }
    out.body = response.body();
    return out;
}

}  // namespace

struct Connection::Impl {
    asio::io_context ioc;
    beast::tcp_stream stream{ioc};
    beast::flat_buffer buffer;
};

Connection::Connection(std::uint16_t port) : impl_(new Impl) {
    impl_->stream.expires_after(std::chrono::seconds(30));
    impl_->stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

Connection::~Connection() {
    delete impl_;
}

HttpResponse Connection::request(const std::string& method, const std::string& target, const Headers& headers,
                                 const std::string& body) {
    auto request = buildRequest(method, target, headers, body);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    // Asynchronously, because Beast's stream timeouts apply only to async operations: a
    // daemon that never answers must fail the test after 30 s, not hang it.
    boost::system::error_code failure;
    impl_->stream.expires_after(std::chrono::seconds(30));
    http::async_write(impl_->stream, request, [&](boost::system::error_code written, std::size_t) {
        if (written) {
            failure = written;
            return;
        }
        http::async_read(impl_->stream, impl_->buffer, parser,
                         [&](boost::system::error_code read, std::size_t) { failure = read; });
    });
    impl_->ioc.restart();
    impl_->ioc.run();
    if (failure) {
        throw boost::system::system_error(failure, method + " " + target);
    }
    auto response = parser.release();
    return toResponse(response);
}

HttpResponse httpRequest(std::uint16_t port, const std::string& method, const std::string& target,
                         const Headers& headers, const std::string& body) {
    Connection connection(port);
    return connection.request(method, target, headers, body);
}

int connectLoopback(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(fd);
        fd = -1;
    }
    return fd;
}

std::string rawExchange(std::uint16_t port, const std::string& bytes, int timeoutMs, bool* peerClosed) {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    // Async for the same reason as Connection::request: only then does the timeout hold.
    boost::system::error_code ec;
    std::string received;
    char chunk[4096];
    std::function<void(boost::system::error_code, std::size_t)> onRead = [&](boost::system::error_code read,
                                                                             std::size_t n) {
        received.append(chunk, n);
        ec = read;
        if (!read) {
            stream.expires_after(std::chrono::milliseconds(timeoutMs));
            stream.async_read_some(asio::buffer(chunk), onRead);
        }
    };
    stream.expires_after(std::chrono::milliseconds(timeoutMs));
    asio::async_write(stream, asio::buffer(bytes), [&](boost::system::error_code written, std::size_t) {
        // A server that closes early may reset the write; what it sent is still read.
        (void)written;
        stream.expires_after(std::chrono::milliseconds(timeoutMs));
        stream.async_read_some(asio::buffer(chunk), onRead);
    });
    ioc.run();
    if (peerClosed != nullptr) {
        *peerClosed = ec != beast::error::timeout;
    }
    return received;
}

}  // namespace gpuhost::test
