#include "model/cidr.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace gpuhost::model {

namespace {

std::uint32_t maskOf(unsigned prefix) {
    return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
}

// A decimal number without sign or leading zeros, at most `max`.
std::optional<unsigned> decimal(std::string_view text, unsigned max) {
    if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0')) {
        return std::nullopt;
    }
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value > max) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::string Ipv4Cidr::text() const {
    return std::to_string(base >> 24) + "." + std::to_string((base >> 16) & 0xff) + "." +
           std::to_string((base >> 8) & 0xff) + "." + std::to_string(base & 0xff) + "/" +
           std::to_string(prefix);
}

bool Ipv4Cidr::overlaps(const Ipv4Cidr& other) const {
    auto mask = maskOf(std::min(prefix, other.prefix));
    return (base & mask) == (other.base & mask);
}

Result<Ipv4Cidr> parseIpv4Cidr(std::string_view text, const std::string& field) {
    auto bad = [&](std::string_view why) { return Error::invalid(field, why); };
    auto slash = text.find('/');
    if (text.size() > 18 || slash == std::string_view::npos) {
        return bad("must be an IPv4 CIDR block such as 10.244.0.0/16");
    }
    auto prefix = decimal(text.substr(slash + 1), 32);
    if (!prefix) {
        return bad("must end in a prefix length from 0 to 32");
    }
    std::uint32_t base = 0;
    auto address = text.substr(0, slash);
    for (int octet = 0; octet < 4; ++octet) {
        auto dot = address.find('.');
        if ((octet < 3) == (dot == std::string_view::npos)) {
            return bad("must be an IPv4 CIDR block such as 10.244.0.0/16");
        }
        auto value = decimal(address.substr(0, dot), 255);
        if (!value) {
            return bad("must be an IPv4 CIDR block such as 10.244.0.0/16");
        }
        base = (base << 8) | *value;
        address = octet < 3 ? address.substr(dot + 1) : std::string_view{};
    }
    if ((base & ~maskOf(*prefix)) != 0) {
        return bad("has host bits set after the prefix (did you mean " +
                   Ipv4Cidr{base & maskOf(*prefix), *prefix}.text() + "?)");
    }
    return Ipv4Cidr{base, *prefix};
}

}  // namespace gpuhost::model
