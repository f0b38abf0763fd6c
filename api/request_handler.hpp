#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "api_context.hpp"
#include "auth.hpp"
#include "http.hpp"
#include "router.hpp"

namespace gpuhost::api {

/// handle_request: a pure function of the request (plus the services it calls).
/// Sessions only read and write bytes; everything HTTP-semantic happens here:
/// routing, 404/405, auth (401/403), project scoping, content type (415), JSON
/// parsing (400), the handler, error mapping, request ids, metrics and the access log.
class RequestHandler {
  public:
    RequestHandler(ApiContext& context, const TokenAuthenticator& auth);

    boost::asio::awaitable<Response> handle(Request request, std::string_view peer);

    /// A response for a request that never reached handle() (e.g. 413 while reading).
    static Response errorResponse(const model::Error& error, unsigned version, bool keepAlive);

  private:
    model::Result<Call> prepare(const Request& request, const RouteMatch& match) const;
    boost::asio::awaitable<model::Result<Reply>> dispatch(const Request& request, const RouteMatch& match);

    ApiContext& context_;
    const TokenAuthenticator& auth_;
    const std::vector<Route>& routes_;
};

/// The request id: the client's X-Request-Id when it is short and safe, else a new one.
std::string requestIdFor(std::string_view clientValue);

}  // namespace gpuhost::api
