#include "error_mapping.hpp"

#include "json_mapping.hpp"

namespace gpuhost::api {

using model::ErrorCode;

http::status statusFor(ErrorCode code) {
    switch (code) {
        case ErrorCode::InvalidArgument:
            return http::status::bad_request;
        case ErrorCode::Unauthenticated:
            return http::status::unauthorized;
        case ErrorCode::PermissionDenied:
        case ErrorCode::QuotaExceeded:
            return http::status::forbidden;
        case ErrorCode::NotFound:
            return http::status::not_found;
        case ErrorCode::MethodNotAllowed:
            return http::status::method_not_allowed;
        case ErrorCode::Conflict:
            return http::status::conflict;
        case ErrorCode::PayloadTooLarge:
            return http::status::payload_too_large;
        case ErrorCode::UnsupportedMediaType:
            return http::status::unsupported_media_type;
        case ErrorCode::NotImplemented:
            return http::status::not_implemented;
        case ErrorCode::Unavailable:
            return http::status::service_unavailable;
        case ErrorCode::Internal:
            return http::status::internal_server_error;
    }
    return http::status::internal_server_error;
}

std::string errorBody(const model::Error& error) {
    nlohmann::json body;
    body["message"] = error.code == ErrorCode::Internal ? "internal error" : error.message;
    if (!error.field.empty()) {
        body["field"] = error.field;
    }
    return dump(body);  // replaces invalid UTF-8 a message may echo from a request
}

}  // namespace gpuhost::api
