#include "model/uuid.hpp"

#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <cstring>

namespace gpuhost::model {

namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool isHyphenPosition(std::size_t i) {
    return i == 8 || i == 13 || i == 18 || i == 23;
}

}  // namespace

// boost::uuids::string_generator accepts braces and missing hyphens; ids in
// paths and headers must be canonical, so parsing is strict here.
std::optional<Uuid> Uuid::parse(std::string_view text) {
    if (text.size() != 36) {
        return std::nullopt;
    }
    Uuid id;
    std::size_t byte = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (isHyphenPosition(i)) {
            if (text[i] != '-') {
                return std::nullopt;
            }
            continue;
        }
        int high = hexValue(text[i]);
        int low = i + 1 < text.size() ? hexValue(text[i + 1]) : -1;
        if (high < 0 || low < 0) {
            return std::nullopt;
        }
        id.bytes_[byte++] = static_cast<std::uint8_t>(high * 16 + low);
        ++i;
    }
    return id;
}

Uuid Uuid::random() {
    thread_local boost::uuids::random_generator generator;
    boost::uuids::uuid generated = generator();
    Uuid id;
    std::memcpy(id.bytes_.data(), generated.data, id.bytes_.size());
    return id;
}

std::string Uuid::str() const {
    boost::uuids::uuid raw;
    std::memcpy(raw.data, bytes_.data(), bytes_.size());
    return boost::uuids::to_string(raw);
}

bool Uuid::isNil() const {
    for (auto b : bytes_) {
        if (b != 0) {
            return false;
        }
    }
    return true;
}

}  // namespace gpuhost::model

std::size_t std::hash<gpuhost::model::Uuid>::operator()(const gpuhost::model::Uuid& id) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, id.bytes().data(), sizeof(h));
    return h;
}
