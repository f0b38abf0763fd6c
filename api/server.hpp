#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "connection_slots.hpp"
#include "request_handler.hpp"

namespace gpuhost::api {

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    agent::Limits limits;
    std::optional<agent::TlsConfig> tls;
};

/// The HTTP(S) front end: an acceptor and one coroutine per connection, each on
/// its own strand. Sessions only move bytes; RequestHandler decides everything.
class Server {
  public:
    Server(boost::asio::io_context& ioc, RequestHandler& handler, ServerOptions options);
    ~Server();

    /// Binds and listens (throws std::system_error on failure), loads TLS material
    /// (throws on bad files), then starts accepting.
    void start();
    std::uint16_t port() const { return port_; }

    /// Re-reads tls.cert/tls.key for new connections; keeps the old ones on error.
    void reloadTls();

    /// Stops accepting, closes idle connections, lets busy ones finish their
    /// response (then closes them), and force-closes what is left after `grace`.
    boost::asio::awaitable<void> shutdown(std::chrono::steady_clock::duration grace);

    std::size_t activeConnections() const { return active_.load(); }

  private:
    struct Connection;
    using Executor = boost::asio::strand<boost::asio::io_context::executor_type>;

    std::shared_ptr<boost::asio::ssl::context> loadTlsContext() const;
    boost::asio::awaitable<void> acceptLoop();
    boost::asio::awaitable<void> runConnection(boost::asio::ip::tcp::socket socket,
                                               std::shared_ptr<Connection> connection, std::string peer);
    /// Closes the connections ConnectionSlots chose to make room (on their strands).
    void closeConnections(const std::vector<std::uint64_t>& ids);
    /// A connection ConnectionSlots refused: told so with a 503 while few are being told,
    /// closed at once otherwise (and on a TLS port, where a plain reply means nothing).
    void refuse(boost::asio::ip::tcp::socket socket, ConnectionSlots::Verdict verdict);
    boost::asio::awaitable<void> tellRefused(boost::asio::ip::tcp::socket socket, model::Error why);
    /// Serves requests until the connection should close; true when it ended on an error
    /// reply sent while the client may still be sending (close by lingering).
    template <class Stream>
    boost::asio::awaitable<bool> serve(Stream& stream, Connection& connection, const std::string& peer);
    void forEachConnection(bool force);

    boost::asio::io_context& ioc_;
    RequestHandler& handler_;
    ServerOptions options_;
    Executor acceptorStrand_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::atomic<std::size_t> active_{0};
    std::atomic<bool> draining_{false};
    std::atomic<unsigned> refusing_{0};  // refused connections being told so (tellRefused)

    mutable std::mutex tlsMutex_;
    std::shared_ptr<boost::asio::ssl::context> tlsContext_;

    ConnectionSlots slots_;
    std::mutex connectionsMutex_;
    std::uint64_t nextConnectionId_ = 0;  // used on acceptorStrand_ only
    std::map<std::uint64_t, std::shared_ptr<Connection>> connections_;
};

}  // namespace gpuhost::api
