#include "support/http_client.hpp"

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
    impl_->stream.expires_after(std::chrono::seconds(30));
    http::write(impl_->stream, request);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(impl_->stream, impl_->buffer, parser);
    auto response = parser.release();
    return toResponse(response);
}

HttpResponse httpRequest(std::uint16_t port, const std::string& method, const std::string& target,
                         const Headers& headers, const std::string& body) {
    Connection connection(port);
    return connection.request(method, target, headers, body);
}

std::string rawExchange(std::uint16_t port, const std::string& bytes, int timeoutMs, bool* peerClosed) {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::milliseconds(timeoutMs));
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream.expires_after(std::chrono::milliseconds(timeoutMs));
    boost::system::error_code ec;
    asio::write(stream, asio::buffer(bytes), ec);
    std::string received;
    char chunk[4096];
    while (!ec) {
        stream.expires_after(std::chrono::milliseconds(timeoutMs));
        std::size_t n = stream.read_some(asio::buffer(chunk), ec);
        received.append(chunk, n);
    }
    if (peerClosed != nullptr) {
        *peerClosed = ec != beast::error::timeout;
    }
    return received;
}

}  // namespace gpuhost::test
