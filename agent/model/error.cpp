#include "model/error.hpp"

namespace gpuhost::model {

std::string_view nameOf(ErrorCode code) {
    switch (code) {
        case ErrorCode::InvalidArgument:
            return "invalid-argument";
        case ErrorCode::Unauthenticated:
            return "unauthenticated";
        case ErrorCode::PermissionDenied:
            return "permission-denied";
        case ErrorCode::QuotaExceeded:
            return "quota-exceeded";
        case ErrorCode::NotFound:
            return "not-found";
        case ErrorCode::MethodNotAllowed:
            return "method-not-allowed";
        case ErrorCode::Conflict:
            return "conflict";
        case ErrorCode::PayloadTooLarge:
            return "payload-too-large";
        case ErrorCode::UnsupportedMediaType:
            return "unsupported-media-type";
        case ErrorCode::NotImplemented:
            return "not-implemented";
        case ErrorCode::Unavailable:
            return "unavailable";
        case ErrorCode::Internal:
            return "internal";
    }
    return "internal";
}

Error Error::invalid(std::string field, std::string_view what) {
    std::string message = field.empty() ? std::string(what) : field + ": " + std::string(what);
    return Error{ErrorCode::InvalidArgument, std::move(message), std::move(field)};
}

Error Error::notFound(std::string_view what) {
    return Error{ErrorCode::NotFound, std::string(what) + " not found", {}};
}

Error Error::conflict(std::string message) {
    return Error{ErrorCode::Conflict, std::move(message), {}};
}

Error Error::internal(std::string message) {
    return Error{ErrorCode::Internal, std::move(message), {}};
}

}  // namespace gpuhost::model
