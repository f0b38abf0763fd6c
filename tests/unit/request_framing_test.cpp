// The framing checks the server applies to every request header before reading a body
// (issue 16: Transfer-Encoding smuggling, trailers). Pure functions: no socket needed.
#include <doctest/doctest.h>

#include <boost/beast/http/parser.hpp>

#include "request_framing.hpp"

using namespace gpuhost::api;

namespace {

// Parses a request as the server does (header first) and returns its header.
Request parse(const std::string& bytes) {
    http::request_parser<http::string_body> parser;
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(bytes), ec);
    REQUIRE_MESSAGE(!ec, ec.message());
    return parser.release();
}

std::string fieldOf(const std::optional<gpuhost::model::Error>& error) {
    return error ? error->field : "(none)";
}

}  // namespace

TEST_CASE("framing: a lone chunked (any case, spaces around) and no Transfer-Encoding pass") {
    CHECK_FALSE(framingError(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")));
    CHECK_FALSE(framingError(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")));
    CHECK_FALSE(framingError(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n")));
    CHECK_FALSE(framingError(parse("GET / HTTP/1.0\r\n\r\n")));
}

TEST_CASE("framing: every other Transfer-Encoding shape names Transfer-Encoding") {
    for (std::string coding : {"gzip", "identity", "", "xchunked", "chunked, identity", "gzip, chunked",
                               "chunked,", "chunked;q=1"}) {
        CAPTURE(coding);
        auto error =
            framingError(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding + "\r\n\r\n"));
        CHECK(fieldOf(error) == "Transfer-Encoding");
    }
    CHECK(fieldOf(framingError(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n"))) == "Transfer-Encoding");
    CHECK(fieldOf(framingError(parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"))) ==
          "Transfer-Encoding");
    // Beast refuses chunked beside Content-Length, but not an unknown coding beside it.
    CHECK(fieldOf(framingError(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
                                     "Content-Length: 0\r\n\r\n"))) == "Transfer-Encoding");
}

TEST_CASE("framing: Host must be exactly one on HTTP/1.1") {
    CHECK(fieldOf(framingError(parse("GET / HTTP/1.1\r\n\r\n"))) == "Host");
    CHECK(fieldOf(framingError(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"))) == "Host");
}

TEST_CASE("framing: fields that arrive in a chunked trailer are found") {
    http::request_parser<http::string_body> parser;
    boost::system::error_code ec;
    std::string head = "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    parser.put(boost::asio::buffer(head), ec);
    REQUIRE(parser.is_header_done());
    auto fields = fieldCount(parser.get());
    CHECK_FALSE(trailerError(fields, parser.get()));
    std::string rest = "0\r\nAuthorization: Bearer t\r\n\r\n";
    parser.put(boost::asio::buffer(rest), ec);
    REQUIRE(parser.is_done());
    CHECK(parser.get().count(http::field::authorization) == 1);  // what Beast does: merged
    CHECK(fieldOf(trailerError(fields, parser.get())) == "trailer");
}
