#include "request_framing.hpp"

#include <boost/beast/core/string.hpp>

#include <iterator>

namespace gpuhost::api {

using model::Error;

namespace {

// Only the one coding this server decodes, spelled alone: `chunked` with optional
// whitespace around it. A list ("gzip, chunked", "chunked, identity"), an empty value or a
// look-alike ("xchunked") is refused instead of being read as "no body", which would run
// the body bytes as the next request.
bool isLoneChunked(boost::beast::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.remove_suffix(1);
    }
    return boost::beast::iequals(value, "chunked");
}

}  // namespace

std::optional<Error> framingError(const http::request_header<>& header) {
    // RFC 9112 §3.2: an HTTP/1.1 request needs exactly one Host, and two Hosts are never
    // valid (a proxy and this server could disagree about which one counts).
    auto hosts = header.count(http::field::host);
    if (hosts > 1 || (hosts == 0 && header.version() >= 11)) {
        return Error::invalid("Host", "an HTTP/1.1 request needs exactly one Host header");
    }
    auto codings = header.count(http::field::transfer_encoding);
    if (codings == 0) {
        return std::nullopt;
    }
    if (header.version() < 11) {
        // §6.1: an HTTP/1.0 hop may not understand it; the framing is then ambiguous.
        return Error::invalid("Transfer-Encoding", "Transfer-Encoding is not allowed on HTTP/1.0");
    }
    if (header.count(http::field::content_length) > 0) {
        return Error::invalid("Transfer-Encoding", "Transfer-Encoding and Content-Length together");
    }
    if (codings > 1 || !isLoneChunked(header[http::field::transfer_encoding])) {
        return Error::invalid("Transfer-Encoding", "the only Transfer-Encoding accepted is chunked");
    }
    return std::nullopt;
}

std::size_t fieldCount(const http::request_header<>& header) {
    return static_cast<std::size_t>(std::distance(header.begin(), header.end()));
}

std::optional<Error> trailerError(std::size_t fieldsAfterHeader, const http::request_header<>& header) {
    if (fieldCount(header) != fieldsAfterHeader) {
        return Error::invalid("trailer", "chunked trailer fields are not accepted");
    }
    return std::nullopt;
}

}  // namespace gpuhost::api
