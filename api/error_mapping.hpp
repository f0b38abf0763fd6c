#pragma once

#include "http.hpp"
#include "model/error.hpp"

namespace gpuhost::api {

/// The one place where typed errors become HTTP statuses.
http::status statusFor(model::ErrorCode code);

/// The JSON error body: {"message": "...", "field": "..."} (field only when known).
/// Internal errors get a generic message; the detail goes to the log, not the client.
std::string errorBody(const model::Error& error);

}  // namespace gpuhost::api
