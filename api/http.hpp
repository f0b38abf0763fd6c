#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <string>

#include "shared_body.hpp"

namespace gpuhost::api {

namespace http = boost::beast::http;

using Request = http::request<http::string_body>;
using Response = http::response<SharedBody>;

/// What a handler produces; the request handler turns it into a Response.
struct Reply {
    http::status status = http::status::ok;
    SharedText body;
    std::string contentType = "application/json";
    /// Set when a list was cut: where the next page starts (sent as X-Next-Cursor and Link).
    std::string nextCursor{};
};

}  // namespace gpuhost::api
