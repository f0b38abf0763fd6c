#pragma once

// How every list route answers: the page the query asks for (?limit, ?cursor; without them
// the whole list up to list_max_items), rendered as the Atlas-shaped JSON array, with where
// the next page starts in the reply (the request handler sends it as headers).
#include <nlohmann/json.hpp>
#include <vector>

#include "api_context.hpp"
#include "json_mapping.hpp"
#include "pagination.hpp"
#include "router.hpp"

namespace gpuhost::api::handlers {

/// The page the call asks for, or InvalidArgument naming `limit` or `cursor`.
inline model::Result<PageRequest> pageRequest(const ApiContext& ctx, const Call& call) {
    return parsePageRequest(call.request.target(), ctx.listMaxItems);
}

/// Items that have a creation time and an id sort by them: new ones come last.
template <class T>
PageKey createdKey(const T& item) {
    return PageKey{item.createdAt.time_since_epoch().count(), item.id.str()};
}

/// One page of `items` in `key` order, each shown as `toJson(item)`.
template <class T, class KeyOf, class ToJson>
RenderedList renderPage(std::vector<T> items, const PageRequest& request, KeyOf key, ToJson toJson) {
    auto page = takePage(std::move(items), request, key);
    auto list = nlohmann::json::array();
    for (const auto& item : page.items) {
        list.push_back(toJson(item));
    }
    return RenderedList{dump(list), std::move(page.nextCursor)};
}

inline Reply listReply(RenderedList list) {
    Reply reply{http::status::ok, std::move(list.body)};
    reply.nextCursor = std::move(list.nextCursor);
    return reply;
}

}  // namespace gpuhost::api::handlers
