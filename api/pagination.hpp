#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::api {

/// Where an item sorts in a list: its creation order (milliseconds; 0 for items without one),
/// then a key unique within the list. Pages follow this order, so an item created or
/// deleted between two pages never shifts another across the cut: no duplicates, no gaps.
struct PageKey {
    std::int64_t order = 0;
    std::string id;

    auto operator<=>(const PageKey&) const = default;
};

/// What a list request asked for: ?limit= (1..max, default max) and ?cursor= (opaque).
struct PageRequest {
    std::size_t limit = 0;
    bool after = false;  // a cursor was given: only items past `from`
    PageKey from;
    /// Neither parameter given: the plain list every Atlas client asks for (cached).
    bool plain() const { return !after && !limitGiven; }
    bool limitGiven = false;
};

/// Reads `limit` and `cursor` from the target's query (other parameters are left alone).
/// InvalidArgument naming the parameter for a bad, repeated or out-of-range one.
model::Result<PageRequest> parsePageRequest(std::string_view target, std::size_t maxItems);

/// The opaque cursor: base64url (no padding) of a versioned key.
std::string encodeCursor(const PageKey& key);
model::Result<PageKey> decodeCursor(std::string_view cursor);

/// The target of the next page: the same path and query with `cursor` replaced.
std::string nextPageTarget(std::string_view target, std::string_view cursor);

template <class T>
struct Page {
    std::vector<T> items;
    std::string nextCursor;  // empty: this page ends the list
};

/// One page of `items` in key order. `key(item)` gives each item's PageKey.
template <class T, class KeyOf>
Page<T> takePage(std::vector<T> items, const PageRequest& request, KeyOf key) {
    std::vector<std::pair<PageKey, std::size_t>> order;
    order.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        PageKey k = key(items[i]);
        if (!request.after || k > request.from) {
            order.emplace_back(std::move(k), i);
        }
    }
    std::sort(order.begin(), order.end());
    Page<T> page;
    std::size_t count = std::min(order.size(), request.limit);
    page.items.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        page.items.push_back(std::move(items[order[i].second]));
    }
    if (count < order.size()) {
        page.nextCursor = encodeCursor(order[count - 1].first);
    }
    return page;
}

}  // namespace gpuhost::api
