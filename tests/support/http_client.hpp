#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gpuhost::test {

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // lowercase names
    std::string body;

    std::string header(const std::string& lowercaseName) const {
        auto it = headers.find(lowercaseName);
        return it == headers.end() ? std::string() : it->second;
    }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

/// A blocking HTTP/1.1 client for tests (one request per connection unless a
/// persistent Connection is used).
HttpResponse httpRequest(std::uint16_t port, const std::string& method, const std::string& target,
                         const Headers& headers = {}, const std::string& body = {});

/// Sends raw bytes and returns whatever comes back until the server closes (or timeout).
/// `peerClosed` tells the two apart.
std::string rawExchange(std::uint16_t port, const std::string& bytes, int timeoutMs = 3000,
                        bool* peerClosed = nullptr);

/// A plain blocking TCP socket connected to 127.0.0.1:port, for tests that write bytes
/// themselves (slow or hostile clients); -1 when the connect fails. The caller closes it.
int connectLoopback(std::uint16_t port);

/// A keep-alive connection for several requests in a row.
class Connection {
  public:
    explicit Connection(std::uint16_t port);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    HttpResponse request(const std::string& method, const std::string& target, const Headers& headers = {},
                         const std::string& body = {});

  private:
    struct Impl;
    Impl* impl_;
};

}  // namespace gpuhost::test
