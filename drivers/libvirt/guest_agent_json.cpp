#include "libvirt/guest_agent_json.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

namespace gpuhost::drivers::libvirt {

using model::Error;
using model::Result;
using nlohmann::json;

std::string encodeBase64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // + the terminating NUL it writes
    int written =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

Result<std::string> decodeBase64(std::string_view text, std::string_view what) {
    constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // OpenSSL's decoder skips whitespace and tolerates odd padding; an agent that sends
    // either is not one we understand.
    auto padding = text.size() - std::min(text.size(), text.find_last_not_of('=') + 1);
    auto body = text.substr(0, text.size() - padding);
    auto bad = [&] {
        return Error::internal("guest agent sent " + std::string(what) + " that is not base64");
    };
    if (text.size() % 4 != 0 || padding > 2 || body.find_first_not_of(alphabet) != std::string_view::npos) {
        return bad();
    }
    std::string out(text.size() / 4 * 3, '\0');
    int written =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (written < 0) {
        return bad();
    }
    out.resize(static_cast<std::size_t>(written) - padding);  // it counts padding as zero bytes
    return out;
}

std::string guestPingCommand() {
    return json{{"execute", "guest-ping"}}.dump();
}

Result<std::string> guestExecCommand(const GuestCommand& command) {
    json arguments{{"path", command.argv.empty() ? std::string() : command.argv.front()},
                   {"capture-output", true}};
    if (command.argv.size() > 1) {
        arguments["arg"] = std::vector<std::string>(command.argv.begin() + 1, command.argv.end());
    }
    if (!command.input.empty()) {
        arguments["input-data"] = encodeBase64(command.input);
    }
    if (command.env) {
        arguments["env"] = *command.env;
    }
    // JSON carries only UTF-8: a path with another byte would reach the guest altered
    // (replaced) or not at all, so it is refused rather than rewritten.
    try {
        return json{{"execute", "guest-exec"}, {"arguments", std::move(arguments)}}.dump();
    } catch (const json::type_error&) {
        return Error::invalid("argv", "must be UTF-8 text (arguments and environment)");
    }
}

std::string guestExecStatusCommand(std::int64_t pid) {
    return json{{"execute", "guest-exec-status"}, {"arguments", {{"pid", pid}}}}.dump();
}

namespace {

// The "return" object of an agent reply, or an Internal error saying what was wrong.
Result<json> returned(std::string_view reply, std::string_view command) {
    auto parsed = json::parse(reply, nullptr, false);
    std::string prefix = "guest agent's reply to " + std::string(command);
    if (parsed.is_discarded() || !parsed.is_object()) {
        return Error::internal(prefix + " is not a JSON object");
    }
    if (auto error = parsed.find("error"); error != parsed.end()) {
        std::string text = error->is_object() && error->contains("desc") && (*error)["desc"].is_string()
                               ? (*error)["desc"].get<std::string>()
                               : error->dump(-1, ' ', false, json::error_handler_t::replace);
        return Error::internal(prefix + " is an error: " + text);
    }
    auto value = parsed.find("return");
    if (value == parsed.end()) {
        return Error::internal(prefix + " has no \"return\"");
    }
    return *value;
}

// An optional integer field that must fit an int.
Result<std::optional<int>> optionalInt(const json& object, const char* field) {
    auto it = object.find(field);
    if (it == object.end()) {
        return std::optional<int>{};
    }
    if (!it->is_number_integer()) {
        return Error::internal(std::string("guest-exec-status: \"") + field + "\" is not an integer");
    }
    auto value = it->get<std::int64_t>();
    if (it->is_number_unsigned() &&
        it->get<std::uint64_t>() > std::uint64_t(std::numeric_limits<int>::max())) {
        return Error::internal(std::string("guest-exec-status: \"") + field + "\" is out of range");
    }
    if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) {
        return Error::internal(std::string("guest-exec-status: \"") + field + "\" is out of range");
    }
    return std::optional<int>(static_cast<int>(value));
}

Result<bool> optionalBool(const json& object, const char* field) {
    auto it = object.find(field);
    if (it == object.end()) {
        return false;
    }
    if (!it->is_boolean()) {
        return Error::internal(std::string("guest-exec-status: \"") + field + "\" is not a boolean");
    }
    return it->get<bool>();
}

Result<std::string> optionalData(const json& object, const char* field) {
    auto it = object.find(field);
    if (it == object.end()) {
        return std::string();
    }
    if (!it->is_string()) {
        return Error::internal(std::string("guest-exec-status: \"") + field + "\" is not a string");
    }
    return decodeBase64(it->get_ref<const std::string&>(), field);
}

}  // namespace

Result<void> parseGuestPingReply(std::string_view reply) {
    auto value = returned(reply, "guest-ping");
    if (!value) {
        return value.error();
    }
    return {};
}

Result<std::int64_t> parseGuestExecReply(std::string_view reply) {
    auto value = returned(reply, "guest-exec");
    if (!value) {
        return value.error();
    }
    if (!value->is_object() || !value->contains("pid") || !(*value)["pid"].is_number_integer() ||
        (*value)["pid"].get<std::int64_t>() < 0) {
        return Error::internal("guest agent's reply to guest-exec has no pid (a non-negative integer)");
    }
    return (*value)["pid"].get<std::int64_t>();
}

Result<GuestExecStatus> parseGuestExecStatusReply(std::string_view reply) {
    auto value = returned(reply, "guest-exec-status");
    if (!value) {
        return value.error();
    }
    if (!value->is_object()) {
        return Error::internal("guest agent's reply to guest-exec-status: \"return\" is not an object");
    }
    const json& status = *value;
    auto exited = status.find("exited");
    if (exited == status.end() || !exited->is_boolean()) {
        return Error::internal("guest-exec-status: \"exited\" is missing or not a boolean");
    }
    GuestExecStatus out;
    out.exited = exited->get<bool>();
    if (!out.exited) {
        return out;  // the agent sends output only once the program is gone
    }
    auto exitCode = optionalInt(status, "exitcode");
    auto signal = optionalInt(status, "signal");
    auto stdOut = optionalData(status, "out-data");
    auto stdErr = optionalData(status, "err-data");
    auto outTruncated = optionalBool(status, "out-truncated");
    auto errTruncated = optionalBool(status, "err-truncated");
    for (const Error* error :
         {exitCode ? nullptr : &exitCode.error(), signal ? nullptr : &signal.error(),
          stdOut ? nullptr : &stdOut.error(), stdErr ? nullptr : &stdErr.error(),
          outTruncated ? nullptr : &outTruncated.error(), errTruncated ? nullptr : &errTruncated.error()}) {
        if (error != nullptr) {
            return *error;
        }
    }
    if (!*exitCode && !*signal) {
        return Error::internal("guest-exec-status: exited without \"exitcode\" or \"signal\"");
    }
    out.exitCode = *exitCode;
    out.signal = *signal;
    out.stdOut = std::move(*stdOut);
    out.stdErr = std::move(*stdErr);
    out.stdOutTruncated = *outTruncated;
    out.stdErrTruncated = *errTruncated;
    return out;
}

}  // namespace gpuhost::drivers::libvirt
