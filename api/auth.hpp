#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "model/principal.hpp"

namespace gpuhost::api {

/// Checks `Authorization: Bearer <token>` against the configured SHA-256 hashes.
/// Every configured hash is compared in constant time, so the time taken says
/// nothing about which token (or how much of one) matched.
class TokenAuthenticator {
  public:
    explicit TokenAuthenticator(const std::vector<agent::TokenConfig>& tokens);

    /// The principal for a valid header value, or nullptr. The principal stays valid
    /// for as long as the caller holds it, even across replace().
    std::shared_ptr<const model::Principal> authenticate(std::string_view authorizationHeader) const;

    /// Swaps in a new token set (SIGHUP); requests in flight keep the old principals.
    void replace(const std::vector<agent::TokenConfig>& tokens);

    static std::array<std::uint8_t, 32> sha256(std::string_view text);

  private:
    struct Entry {
        std::array<std::uint8_t, 32> hash;
        model::Principal principal;
    };
    using Entries = std::vector<Entry>;
    static std::shared_ptr<const Entries> build(const std::vector<agent::TokenConfig>& tokens);

    mutable std::mutex mutex_;
    std::shared_ptr<const Entries> entries_;
};

}  // namespace gpuhost::api
