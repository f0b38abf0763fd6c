#pragma once

// IPv4 address ranges (Kubernetes pod and service blocks): strict parsing and overlap.
#include <cstdint>
#include <string>
#include <string_view>

#include "model/error.hpp"

namespace gpuhost::model {

struct Ipv4Cidr {
    std::uint32_t base = 0;  // host order, host bits zero
    unsigned prefix = 0;

    std::string text() const;  // "10.244.0.0/16"
    bool overlaps(const Ipv4Cidr& other) const;
    bool operator==(const Ipv4Cidr&) const = default;
};

/// "a.b.c.d/n": four decimal octets without leading zeros, a prefix 0-32, and no host bits
/// set (10.244.1.0/16 is refused: it names another block than the user likely meant).
/// InvalidArgument naming `field`.
Result<Ipv4Cidr> parseIpv4Cidr(std::string_view text, const std::string& field);

}  // namespace gpuhost::model
