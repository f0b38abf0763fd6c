#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gpuhost::model {

/// A 128-bit id, always formatted in canonical lowercase 8-4-4-4-12 form.
class Uuid {
  public:
    Uuid() = default;

    /// Accepts only the canonical 36-character hyphenated form (any case).
    static std::optional<Uuid> parse(std::string_view text);
    /// A random (version 4) id.
    static Uuid random();

    std::string str() const;
    bool isNil() const;
    const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

    friend bool operator==(const Uuid&, const Uuid&) = default;
    friend auto operator<=>(const Uuid&, const Uuid&) = default;

  private:
    std::array<std::uint8_t, 16> bytes_{};
};

}  // namespace gpuhost::model

template <>
struct std::hash<gpuhost::model::Uuid> {
    std::size_t operator()(const gpuhost::model::Uuid& id) const noexcept;
};
