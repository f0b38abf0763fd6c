#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <string>

namespace gpuhost::api {

namespace http = boost::beast::http;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// What a handler produces; the request handler turns it into a Response.
struct Reply {
    http::status status = http::status::ok;
    std::string body;
    std::string contentType = "application/json";
};

}  // namespace gpuhost::api
