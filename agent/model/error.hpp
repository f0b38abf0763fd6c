#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace gpuhost::model {

/// What went wrong, independent of any transport. api/error_mapping.cpp is the
/// only place that turns these into HTTP statuses.
enum class ErrorCode {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    QuotaExceeded,  // a configured limit of the project or region (403, naming the limit)
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotImplemented,
    Unavailable,
    Internal,
};

std::string_view nameOf(ErrorCode code);

/// A typed error; `field` names the request field at fault when there is one.
struct Error {
    ErrorCode code;
    std::string message;
    std::string field;

    static Error invalid(std::string field, std::string_view what);
    static Error notFound(std::string_view what);
    static Error conflict(std::string message);
    static Error internal(std::string message);
};

/// A value or an Error. Errors are values; exceptions are kept for start-up
/// failures and broken invariants.
template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : data_(std::move(value)) {}
    Result(Error error) : data_(std::move(error)) {}

    bool ok() const { return data_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(data_); }
    const T& value() const& { return std::get<0>(data_); }
    T&& value() && { return std::get<0>(std::move(data_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    const Error& error() const { return std::get<1>(data_); }

  private:
    std::variant<T, Error> data_;
};

struct Unit {};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }

  private:
    Error error_{ErrorCode::Internal, {}, {}};
    bool ok_ = true;
};

}  // namespace gpuhost::model
