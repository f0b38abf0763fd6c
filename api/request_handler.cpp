#include "request_handler.hpp"

#include <boost/beast/core/string.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "error_mapping.hpp"
#include "json_mapping.hpp"
#include "log.hpp"
#include "model/validation.hpp"
#include "pagination.hpp"

namespace gpuhost::api {

using model::Error;
using model::ErrorCode;
using model::Result;

namespace {

constexpr std::string_view kProjectHeader = "X-PROJECT-ID";
constexpr std::string_view kRequestIdHeader = "X-Request-Id";
constexpr std::string_view kNextCursorHeader = "X-Next-Cursor";

bool isJsonContentType(std::string_view value) {
    std::string_view media = value.substr(0, value.find(';'));
    while (!media.empty() && media.back() == ' ') {
        media.remove_suffix(1);
    }
    return boost::beast::iequals(media, "application/json");
}

// A header that decides who or what a request is about must not be ambiguous.
Result<void> rejectRepeated(const Request& request, std::string_view name) {
    if (request.count(name) > 1) {
        return Error::invalid(std::string(name), "header given more than once");
    }
    return {};
}

Result<void> rejectRepeated(const Request& request, http::field field) {
    if (request.count(field) > 1) {
        return Error::invalid(std::string(http::to_string(field)), "header given more than once");
    }
    return {};
}

}  // namespace

std::string requestIdFor(std::string_view clientValue) {
    bool safe = !clientValue.empty() && clientValue.size() <= 64;
    for (char c : clientValue) {
        safe = safe && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '_' || c == '.');
    }
    if (safe) {
        return std::string(clientValue);
    }
    thread_local std::mt19937_64 generator{std::random_device{}()};
    char buffer[17];
    std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(generator()));
    return buffer;
}

RequestHandler::RequestHandler(ApiContext& context, const TokenAuthenticator& auth)
    : context_(context), auth_(auth), routes_(routeTable()) {}

Result<Call> RequestHandler::prepare(const Request& request, const RouteMatch& match) const {
    const Route& route = *match.route;
    Call call{request, match.params, nullptr, std::nullopt, {}};
    if (route.access != Access::Public) {
        if (auto once = rejectRepeated(request, http::field::authorization); !once) {
            return once.error();
        }
        call.principal = auth_.authenticate(request[http::field::authorization]);
        if (call.principal == nullptr) {
            return Error{ErrorCode::Unauthenticated, "missing or invalid bearer token", {}};
        }
    }
    if (route.access == Access::Operator && !call.principal->allProjects) {
        return Error{ErrorCode::PermissionDenied, "this route needs an operator token (projects: \"*\")", {}};
    }
    if (route.access == Access::Project) {
        if (auto once = rejectRepeated(request, kProjectHeader); !once) {
            return once.error();
        }
        auto header = request[kProjectHeader];
        if (header.empty()) {
            return Error::invalid(std::string(kProjectHeader), "header is required");
        }
        auto project = model::parseUuidField(header, std::string(kProjectHeader));
        if (!project) {
            return project.error();
        }
        if (!call.principal->mayUse(*project)) {
            return Error{ErrorCode::PermissionDenied, "this token may not use that project",
                         std::string(kProjectHeader)};
        }
        if (!context_.projects.exists(*project)) {
            return Error::notFound("project");
        }
        call.project = *project;
    }
    return call;
}

boost::asio::awaitable<Result<Reply>> RequestHandler::dispatch(const Request& request,
                                                               const RouteMatch& match) {
    if (match.route == nullptr) {
        co_return match.allow.empty()
            ? Error::notFound("route")
            : Error{ErrorCode::MethodNotAllowed, "method not allowed; allowed: " + match.allow, {}};
    }
    auto call = prepare(request, match);
    if (!call) {
        co_return call.error();
    }
    if (!implemented(*match.route, context_)) {
        co_return Error{ErrorCode::NotImplemented, "not implemented", {}};
    }
    if (match.route->takesBody) {
        if (auto once = rejectRepeated(request, http::field::content_type); !once) {
            co_return once.error();
        }
        if (!isJsonContentType(request[http::field::content_type])) {
            co_return Error{ErrorCode::UnsupportedMediaType, "Content-Type must be application/json", {}};
        }
        auto body = parseJsonObject(request.body());
        if (!body) {
            co_return body.error();
        }
        call->body = std::move(*body);
    }
    co_return co_await match.route->handler(context_, *call);
}

Response RequestHandler::errorResponse(const Error& error, unsigned version, bool keepAlive) {
    Response response{statusFor(error.code), version};
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    response.body() = errorBody(error);
    response.keep_alive(keepAlive);
    response.prepare_payload();
    return response;
}

boost::asio::awaitable<Response> RequestHandler::handle(Request request, std::string_view peer) {
    auto start = std::chrono::steady_clock::now();
    std::string requestId = requestIdFor(request[kRequestIdHeader]);
    RouteMatch match = matchRoute(routes_, request.method(), request.target());

    Result<Reply> result = Error::internal("unhandled");
    try {
        result = co_await dispatch(request, match);
    } catch (const std::exception& e) {
        result = Error::internal(e.what());
    }

    Response response;
    if (result) {
        response = Response{result->status, request.version()};
        if (result->status != http::status::no_content) {
            response.set(http::field::content_type, result->contentType);
            response.body() = std::move(result->body);
        }
        response.set(http::field::cache_control, "no-store");
        if (!result->nextCursor.empty()) {
            // The body stays the Atlas-shaped array; where the list goes on rides in headers.
            response.set(kNextCursorHeader, result->nextCursor);
            response.set(http::field::link,
                         "<" + nextPageTarget(request.target(), result->nextCursor) + ">; rel=\"next\"");
        }
        response.keep_alive(request.keep_alive());
        if (result->status != http::status::no_content) {
            response.prepare_payload();
        }
    } else {
        response = errorResponse(result.error(), request.version(), request.keep_alive());
        if (result.error().code == ErrorCode::Unauthenticated) {
            response.set(http::field::www_authenticate, "Bearer realm=\"gpuhost\"");
        }
        if (result.error().code == ErrorCode::MethodNotAllowed) {
            response.set(http::field::allow, match.allow);
        }
        if (result.error().code == ErrorCode::Internal) {
            agent::log::error("internal error", {{"req_id", requestId}, {"error", result.error().message}});
        }
    }
    response.set(kRequestIdHeader, requestId);

    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    std::string_view routeName = match.route != nullptr ? match.route->path : "unmatched";
    auto status = static_cast<unsigned>(response.result_int());
    context_.metrics.observeRequest(routeName, http::to_string(request.method()), status, elapsed.count());
    if (agent::log::enabled(agent::log::Level::Info)) {
        std::string statusText = std::to_string(status);
        std::string millis = std::to_string(elapsed.count() * 1000.0);
        agent::log::info("request", {{"req_id", requestId},
                                     {"peer", peer},
                                     {"method", http::to_string(request.method())},
                                     {"route", routeName},
                                     {"target", request.target().substr(0, 256)},
                                     {"status", statusText},
                                     {"dur_ms", millis}});
    }
    co_return response;
}

}  // namespace gpuhost::api
