#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace gpuhost::api {

/// Immutable text shared by pointer. A rendered list is written to every client that asks
/// from the same bytes: 60 clients that never read hold one copy between them, not 60.
class SharedText {
  public:
    SharedText() = default;
    SharedText(std::string text)  // NOLINT(google-explicit-constructor): a body is text
        : text_(std::make_shared<const std::string>(std::move(text))) {}
    SharedText(const char* text) : SharedText(std::string(text)) {}  // NOLINT(google-explicit-constructor)
    SharedText(std::shared_ptr<const std::string> text)              // NOLINT(google-explicit-constructor)
        : text_(std::move(text)) {}

    const std::string& str() const { return text_ != nullptr ? *text_ : none(); }
    operator std::string_view() const { return str(); }  // NOLINT(google-explicit-constructor)
    const char* data() const { return str().data(); }
    std::size_t size() const { return str().size(); }
    bool empty() const { return str().empty(); }
    std::size_t find(std::string_view needle) const { return str().find(needle); }
    bool operator==(std::string_view other) const { return str() == other; }
    /// Whether both hold the very same bytes (not merely equal ones).
    bool sameAs(const SharedText& other) const { return text_ == other.text_; }

  private:
    static const std::string& none() {
        static const std::string none;
        return none;
    }
    std::shared_ptr<const std::string> text_;
};

/// A Beast body whose value is a SharedText: the serializer sends straight from the shared
/// bytes, so writing a response copies nothing however slowly the client reads.
struct SharedBody {
    using value_type = SharedText;

    static std::uint64_t size(const value_type& body) { return body.size(); }

    class writer {
      public:
        using const_buffers_type = boost::asio::const_buffer;

        template <bool isRequest, class Fields>
        writer(const boost::beast::http::header<isRequest, Fields>&, const value_type& body) : body_(body) {}

        void init(boost::system::error_code& ec) { ec = {}; }

        boost::optional<std::pair<const_buffers_type, bool>> get(boost::system::error_code& ec) {
            ec = {};
            return {{const_buffers_type(body_.data(), body_.size()), false}};
        }

      private:
        const value_type& body_;
    };
};

}  // namespace gpuhost::api
