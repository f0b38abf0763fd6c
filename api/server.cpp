#include "server.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <array>
#include <tuple>
#include <vector>

#include "log.hpp"
#include "request_framing.hpp"

namespace gpuhost::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using model::Error;
using model::ErrorCode;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

bool isHttpParseError(const boost::system::error_code& ec) {
    return ec.category() == beast::http::make_error_code(http::error::bad_target).category() &&
           ec != http::error::end_of_stream && ec != http::error::partial_message;
}

// A read failure that deserves an answer before the connection closes; nullopt: just close.
std::optional<Error> readErrorReply(const boost::system::error_code& ec) {
    if (ec == http::error::body_limit) {
        return Error{ErrorCode::PayloadTooLarge, "request body too large", {}};
    }
    if (ec == http::error::header_limit) {
        return Error::invalid("headers", "request headers too large");
    }
    if (isHttpParseError(ec)) {
        return Error::invalid("request", "malformed HTTP request");
    }
    return std::nullopt;
}

// nginx's lingering close. Closing a socket with unread input sends RST, and an RST can
// destroy the error reply just written before the client reads it (a 413 for a large
// upload: the client is still sending). So: half-close (the client sees the reply end),
// then read and drop what it still sends until it closes too, for a bounded time and
// size, then close. Async reads under the stream's timer: no thread waits here.
constexpr auto kLingerTotal = std::chrono::seconds(5);
constexpr auto kLingerIdle = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 8 << 20;

// Refused connections told so with a 503 at one time (the rest are just closed), and how
// long writing that reply may take.
constexpr unsigned kMaxRefusing = 64;
constexpr auto kRefusalWrite = std::chrono::seconds(2);

asio::awaitable<void> lingerClose(beast::tcp_stream& stream, const std::atomic<bool>& draining) {
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    auto deadline = std::chrono::steady_clock::now() + kLingerTotal;
    std::array<char, 4096> sink{};  // as nginx: small, since up to max_connections may linger
    std::size_t dropped = 0;
    while (!ec && !draining && dropped < kLingerBytes) {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) {
            break;
        }
        stream.expires_after(std::min<std::chrono::steady_clock::duration>(kLingerIdle, left));
        std::size_t n = 0;
        std::tie(ec, n) = co_await stream.async_read_some(asio::buffer(sink), kUseTuple);
        dropped += n;
    }
}

tcp::socket& lowestSocket(beast::tcp_stream& stream) {
    return stream.socket();
}
tcp::socket& lowestSocket(beast::ssl_stream<beast::tcp_stream>& stream) {
    return stream.next_layer().socket();
}

}  // namespace

/// Registry entry for one connection; touched only on the connection's strand.
struct Server::Connection {
    Connection(asio::any_io_executor executor, std::uint64_t id) : strand(std::move(executor)), id(id) {}
    asio::any_io_executor strand;   // the connection's own strand
    std::uint64_t id;               // its key in connections_ and slots_
    tcp::socket* socket = nullptr;  // null once the session has ended
    bool busy = false;              // between reading a request and writing its response
};

Server::Server(asio::io_context& ioc, RequestHandler& handler, ServerOptions options)
    : ioc_(ioc),
      handler_(handler),
      options_(std::move(options)),
      acceptorStrand_(asio::make_strand(ioc)),
      acceptor_(acceptorStrand_),
      slots_(ConnectionSlots::Limits{options_.limits.maxConnections, options_.limits.maxConnectionsPerAddress,
                                     options_.limits.idleTimeout, options_.limits.idleTimeoutUnderPressure}) {
}

Server::~Server() = default;

std::shared_ptr<asio::ssl::context> Server::loadTlsContext() const {
    auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    // TLS 1.2 is the floor; bearer tokens must not ride on anything weaker.
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                         asio::ssl::context::single_dh_use);
    context->use_certificate_chain_file(options_.tls->cert.string());
    context->use_private_key_file(options_.tls->key.string(), asio::ssl::context::pem);
    return context;
}

void Server::reloadTls() {
    if (!options_.tls) {
        return;
    }
    try {
        auto context = loadTlsContext();
        std::lock_guard lock(tlsMutex_);
        tlsContext_ = std::move(context);
        agent::log::info("tls reloaded", {{"cert", options_.tls->cert.string()}});
    } catch (const std::exception& e) {
        agent::log::error("tls reload failed; keeping the previous certificate", {{"error", e.what()}});
    }
}

void Server::start() {
    if (options_.tls) {
        tlsContext_ = loadTlsContext();
    }
    tcp::endpoint endpoint{asio::ip::make_address(options_.host), options_.port};
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(acceptorStrand_, acceptLoop(), asio::detached);
}

asio::awaitable<void> Server::acceptLoop() {
    while (!draining_) {
        auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_), kUseTuple);
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
            co_return;
        }
        if (ec) {
            // EMFILE and friends: back off briefly instead of spinning.
            agent::log::warn("accept failed", {{"error", ec.message()}});
            asio::steady_timer pause(acceptorStrand_, std::chrono::milliseconds(50));
            co_await pause.async_wait(kUseTuple);
            continue;
        }
        boost::system::error_code remoteError;
        auto remote = socket.remote_endpoint(remoteError);
        if (remoteError) {  // already gone
            continue;
        }
        auto connection = std::make_shared<Connection>(socket.get_executor(), nextConnectionId_++);
        auto admission =
            slots_.admit(connection->id, remote.address().to_string(), std::chrono::steady_clock::now());
        closeConnections(admission.close);
        if (admission.verdict != ConnectionSlots::Verdict::Admitted) {
            refuse(std::move(socket), admission.verdict);
            continue;
        }
        {
            std::lock_guard lock(connectionsMutex_);
            connections_.emplace(connection->id, connection);
        }
        ++active_;
        std::string peer = remote.address().to_string() + ":" + std::to_string(remote.port());
        asio::co_spawn(connection->strand, runConnection(std::move(socket), connection, std::move(peer)),
                       asio::detached);
    }
}

void Server::closeConnections(const std::vector<std::uint64_t>& ids) {
    std::lock_guard lock(connectionsMutex_);
    for (auto id : ids) {
        auto it = connections_.find(id);
        if (it == connections_.end()) {
            continue;
        }
        std::shared_ptr<Connection> connection = it->second;
        // Its slot is already given away: close it whatever it is doing by the time this runs
        // (a request that arrived meanwhile is refused by ConnectionSlots::busy).
        asio::post(connection->strand, [connection] {
            if (connection->socket != nullptr) {
                boost::system::error_code ignored;
                connection->socket->cancel(ignored);
                connection->socket->close(ignored);
            }
        });
    }
}

void Server::refuse(tcp::socket socket, ConnectionSlots::Verdict verdict) {
    bool tls = false;
    {
        std::lock_guard lock(tlsMutex_);
        tls = tlsContext_ != nullptr;
    }
    // As nginx's limit_conn: a 503 the client's retry logic understands, not a reset. At most
    // kMaxRefusing are told at a time (each lingers a moment), so a flood costs little more
    // than closing would.
    bool tell = !tls && !draining_;
    if (tell && refusing_.fetch_add(1) >= kMaxRefusing) {
        --refusing_;
        tell = false;
    }
    if (!tell) {
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
    }
    auto why = verdict == ConnectionSlots::Verdict::AddressFull
                   ? Error{ErrorCode::Unavailable, "too many connections from this address; try again later",
                           "limits.max_connections_per_address"}
                   : Error{ErrorCode::Unavailable, "the server is at its connection limit; try again later",
                           "limits.max_connections"};
    auto executor = socket.get_executor();
    asio::co_spawn(executor, tellRefused(std::move(socket), std::move(why)), asio::detached);
}

asio::awaitable<void> Server::tellRefused(tcp::socket socket, Error why) {
    try {
        beast::tcp_stream stream(std::move(socket));
        auto reply = RequestHandler::errorResponse(why, 11, false);
        reply.set(http::field::retry_after, "1");
        stream.expires_after(kRefusalWrite);
        auto [writeError, written] = co_await http::async_write(stream, reply, kUseTuple);
        if (!writeError) {
            co_await lingerClose(stream, draining_);  // its request may be arriving: no RST over the 503
        }
    } catch (const std::exception& e) {
        agent::log::warn("refusing a connection failed", {{"error", e.what()}});
    }
    // Not in a destructor: a frame destroyed unfinished at shutdown must not touch the server.
    --refusing_;
}

asio::awaitable<void> Server::runConnection(tcp::socket socket, std::shared_ptr<Connection> connection,
                                            std::string peer) {
    boost::system::error_code ec;
    try {
        std::shared_ptr<asio::ssl::context> tls;
        {
            std::lock_guard lock(tlsMutex_);
            tls = tlsContext_;
        }
        if (tls) {
            beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
            connection->socket = &lowestSocket(stream);
            beast::get_lowest_layer(stream).expires_after(options_.limits.headerTimeout);
            auto [handshakeError] =
                co_await stream.async_handshake(asio::ssl::stream_base::server, kUseTuple);
            if (!handshakeError) {
                if (co_await serve(stream, *connection, peer)) {
                    // No close_notify: its exchange would read the client's unread records.
                    connection->busy = false;  // shutdown may close it at once
                    co_await lingerClose(beast::get_lowest_layer(stream), draining_);
                } else {
                    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
                    co_await stream.async_shutdown(kUseTuple);
                }
            }
            connection->socket = nullptr;
        } else {
            beast::tcp_stream stream(std::move(socket));
            connection->socket = &lowestSocket(stream);
            if (co_await serve(stream, *connection, peer)) {
                connection->busy = false;  // shutdown may close it at once
                co_await lingerClose(stream, draining_);
            } else {
                stream.socket().shutdown(tcp::socket::shutdown_send, ec);
            }
            connection->socket = nullptr;
        }
    } catch (const std::exception& e) {
        connection->socket = nullptr;
        agent::log::error("connection failed", {{"peer", peer}, {"error", e.what()}});
    }
    slots_.release(connection->id);
    {
        std::lock_guard lock(connectionsMutex_);
        connections_.erase(connection->id);
    }
    --active_;
}

template <class Stream>
asio::awaitable<bool> Server::serve(Stream& stream, Connection& connection, const std::string& peer) {
    const auto& limits = options_.limits;
    beast::flat_buffer buffer;
    bool first = true;
    while (!draining_ || first) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(limits.headerBytes));
        parser.body_limit(limits.bodyBytes);
        connection.busy = false;
        if (!first && buffer.size() == 0) {
            // Between requests a keep-alive connection may idle for idle_timeout (shorter under
            // pressure) and may be closed to make room; once the next request starts, its header
            // must arrive within header_timeout.
            beast::get_lowest_layer(stream).expires_after(
                slots_.idle(connection.id, std::chrono::steady_clock::now()));
            auto [idleError, idleBytes] = co_await stream.async_read_some(buffer.prepare(4096), kUseTuple);
            if (idleError || !slots_.busy(connection.id)) {
                co_return false;
            }
            buffer.commit(idleBytes);
        }
        beast::get_lowest_layer(stream).expires_after(limits.headerTimeout);
        first = false;
        auto [headerError, headerBytes] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
        connection.busy = true;
        std::optional<Error> early = headerError ? readErrorReply(headerError) : framingError(parser.get());
        auto headerFields = fieldCount(parser.get());
        if (!early && !headerError && parser.content_length() &&
            *parser.content_length() > limits.bodyBytes) {
            early = Error{ErrorCode::PayloadTooLarge, "request body too large", {}};
        }
        if (!early && !headerError) {
            if (parser.get().version() >= 11 &&
                beast::iequals(parser.get()[http::field::expect], "100-continue")) {
                http::response<http::empty_body> go{http::status::continue_, 11};
                co_await http::async_write(stream, go, kUseTuple);
            }
            if (!parser.is_done()) {  // most GETs end with their header
                beast::get_lowest_layer(stream).expires_after(limits.bodyTimeout);
                auto [bodyError, bodyBytes] = co_await http::async_read(stream, buffer, parser, kUseTuple);
                headerError = bodyError;
                early = bodyError ? readErrorReply(bodyError) : trailerError(headerFields, parser.get());
            }
        }
        if (early) {
            agent::log::warn("request rejected", {{"peer", peer}, {"error", early->message}});
            auto reply = RequestHandler::errorResponse(*early, 11, false);
            beast::get_lowest_layer(stream).expires_after(limits.sendTimeout);
            auto [writeError, written] = co_await http::async_write(stream, reply, kUseTuple);
            co_return !writeError;  // the client may still be sending: close by lingering
        }
        if (headerError) {
            co_return false;
        }
        auto response = co_await handler_.handle(parser.release(), peer);
        if (draining_) {
            response.keep_alive(false);
        }
        // send_timeout: a client that stops reading cannot hold the connection (and the
        // response's memory) for longer.
        beast::get_lowest_layer(stream).expires_after(limits.sendTimeout);
        auto [writeError, written] = co_await http::async_write(stream, response, kUseTuple);
        if (writeError || !response.keep_alive()) {
            co_return false;
        }
    }
    co_return false;
}

void Server::forEachConnection(bool force) {
    std::lock_guard lock(connectionsMutex_);
    for (const auto& entry : connections_) {
        // A named copy, not a structured binding: clang 14 cannot capture those.
        std::shared_ptr<Connection> connection = entry.second;
        asio::post(connection->strand, [connection, force] {
            if (connection->socket != nullptr && (force || !connection->busy)) {
                boost::system::error_code ignored;
                connection->socket->cancel(ignored);
                connection->socket->close(ignored);
            }
        });
    }
}

asio::awaitable<void> Server::shutdown(std::chrono::steady_clock::duration grace) {
    draining_ = true;
    co_await asio::dispatch(acceptorStrand_, asio::use_awaitable);
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    forEachConnection(false);
    auto deadline = std::chrono::steady_clock::now() + grace;
    asio::steady_timer timer(acceptorStrand_);
    while (active_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        // Idle keep-alive connections that were busy a moment ago close here too.
        forEachConnection(false);
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(kUseTuple);
    }
    if (active_.load() > 0) {
        agent::log::warn("shutdown grace elapsed; closing busy connections",
                         {{"connections", std::to_string(active_.load())}});
        forEachConnection(true);
    }
}

}  // namespace gpuhost::api
