#pragma once

#include <cstddef>
#include <optional>

#include "http.hpp"
#include "model/error.hpp"

namespace gpuhost::api {

/// How a request's body is delimited, checked once its header is read and before any body
/// byte is: a Host that is not exactly one (HTTP/1.1), a Transfer-Encoding other than a lone
/// `chunked`, any Transfer-Encoding on HTTP/1.0, or Transfer-Encoding beside Content-Length.
/// Each would let a proxy in front and this server split the byte stream differently
/// (request smuggling, RFC 9112 §6.1/§6.3), so the answer is 400 and the connection closes.
std::optional<model::Error> framingError(const http::request_header<>& header);

/// Beast merges chunked trailer fields into the header set, where they would count as
/// Authorization, X-PROJECT-ID or a second Host that no gateway saw. The server counts the
/// fields once the header is read and again after the body: any growth means trailers,
/// and such a request is refused (400, then the connection closes).
std::size_t fieldCount(const http::request_header<>& header);
std::optional<model::Error> trailerError(std::size_t fieldsAfterHeader, const http::request_header<>& header);

}  // namespace gpuhost::api
