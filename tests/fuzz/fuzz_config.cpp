// libFuzzer: YAML text → the config loader. It must either return a Config or throw
// ConfigError; anything else (a crash, another exception type) is a finding.
#include <cstdint>
#include <string>

#include "config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    try {
        (void)gpuhost::agent::parseConfig(text, "/etc/gpuhost");
    } catch (const gpuhost::agent::ConfigError&) {
    }
    return 0;
}
