#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http.hpp"
#include "model/error.hpp"
#include "model/principal.hpp"
#include "model/uuid.hpp"

namespace gpuhost::api {

struct ApiContext;

/// Who may call a route.
enum class Access {
    Public,    // no token (health, the OpenAPI document)
    Operator,  // a token allowed every project ("*")
    Token,     // any valid token; the route scopes itself (projects)
    Project,   // a valid token + an X-PROJECT-ID header naming a project it may use
};

using PathParams = std::map<std::string, std::string, std::less<>>;

/// One parsed, authenticated, authorised request as a handler sees it.
struct Call {
    const Request& request;
    PathParams params;
    std::shared_ptr<const model::Principal> principal;
    std::optional<model::Uuid> project;  // set for Access::Project routes
    nlohmann::json body;                 // parsed when the route takes a body
};

using Handler = boost::asio::awaitable<model::Result<Reply>> (*)(ApiContext&, const Call&);

struct Route {
    http::verb method;
    std::string_view path;  // template, e.g. /api/v1alpha1/projects/{id}
    Access access;
    bool takesBody;            // JSON body required (POST/PUT/PATCH with content)
    std::string_view feature;  // reported by /capabilities
    Handler handler;           // nullptr: 501 not implemented (yet)
};

/// The route table: every route of the API, read top to bottom (routes.cpp).
const std::vector<Route>& routeTable();

/// Whether this daemon serves the route: it has a handler, and the daemon has what its
/// feature needs (the cluster service and the kind, for "slurm" and "kubernetes"). Any other
/// route answers 501 after auth, before its body is read; /capabilities says the same.
bool implemented(const Route& route, const ApiContext& ctx);

struct RouteMatch {
    const Route* route = nullptr;  // null: no route for this method (see allow) or path
    PathParams params;
    std::string allow;  // methods the path supports, when the path matched
};

/// Matches a request target (query string ignored) against the table.
RouteMatch matchRoute(const std::vector<Route>& routes, http::verb method, std::string_view target);

}  // namespace gpuhost::api
