#include "auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <boost/beast/core/string.hpp>

#include <set>
#include <stdexcept>

namespace gpuhost::api {

TokenAuthenticator::TokenAuthenticator(const std::vector<agent::TokenConfig>& tokens)
    : entries_(build(tokens)) {}

std::shared_ptr<const TokenAuthenticator::Entries> TokenAuthenticator::build(
    const std::vector<agent::TokenConfig>& tokens) {
    auto entries = std::make_shared<Entries>();
    for (const auto& token : tokens) {
        model::Principal principal{
            .name = token.name, .allProjects = token.allProjects, .projects = {}, .scope = {}};
        principal.projects.insert(token.projects.begin(), token.projects.end());
        std::set<std::string> sorted;
        for (const auto& id : token.projects) {
            sorted.insert(id.str());
        }
        principal.scope = token.allProjects ? "*" : "";
        for (const auto& id : sorted) {
            principal.scope += token.allProjects ? "" : id + ",";
        }
        entries->push_back({token.sha256, std::move(principal)});
    }
    return entries;
}

void TokenAuthenticator::replace(const std::vector<agent::TokenConfig>& tokens) {
    auto entries = build(tokens);
    std::lock_guard lock(mutex_);
    entries_ = std::move(entries);
}

std::array<std::uint8_t, 32> TokenAuthenticator::sha256(std::string_view text) {
    std::array<std::uint8_t, 32> digest{};
    unsigned int length = 0;
    if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
        length != digest.size()) {
        throw std::runtime_error("SHA-256 failed");
    }
    return digest;
}

std::shared_ptr<const model::Principal> TokenAuthenticator::authenticate(std::string_view header) const {
    constexpr std::string_view kScheme = "bearer ";
    if (header.size() <= kScheme.size()) {
        return nullptr;
    }
    if (!boost::beast::iequals(header.substr(0, kScheme.size()), kScheme)) {
        return nullptr;
    }
    std::string_view token = header.substr(kScheme.size());
    if (token.size() > 4096) {
        return nullptr;
    }
    auto digest = sha256(token);
    std::shared_ptr<const Entries> entries;
    {
        std::lock_guard lock(mutex_);
        entries = entries_;
    }
    const model::Principal* match = nullptr;
    for (const auto& entry : *entries) {
        // No early exit: every entry costs the same whether or not it matches.
        bool equal = CRYPTO_memcmp(entry.hash.data(), digest.data(), digest.size()) == 0;
        match = equal ? &entry.principal : match;
    }
    if (match == nullptr) {
        return nullptr;
    }
    return std::shared_ptr<const model::Principal>(entries, match);  // shares ownership of the set
}

}  // namespace gpuhost::api
