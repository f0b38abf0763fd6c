#include "libvirt/libvirt_guest_agent.hpp"

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>

#include <cstdlib>
#include <memory>

#include "libvirt/guest_agent_json.hpp"

namespace gpuhost::drivers::libvirt {

using model::Error;
using model::Result;

Result<std::string> LibvirtGuestAgent::command(const std::string& domain, const std::string& json,
                                               std::string_view what) {
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    std::unique_ptr<virDomain, decltype(&virDomainFree)> handle(
        virDomainLookupByName(conn->get(), domain.c_str()), virDomainFree);
    if (handle == nullptr) {
        return connection_.failed("look up domain " + domain);
    }
    char* reply =
        virDomainQemuAgentCommand(handle.get(), json.c_str(), static_cast<int>(commandTimeout_.count()), 0);
    if (reply == nullptr) {
        // libvirt reports what the agent said (e.g. a program that does not exist: "Failed
        // to execute child process …"), or why it could not ask (not connected: Unavailable).
        return connection_.failed(std::string(what) + " in domain " + domain);
    }
    std::string text(reply);
    std::free(reply);
    return text;
}

Result<void> LibvirtGuestAgent::ping(const std::string& domain) {
    auto reply = command(domain, guestPingCommand(), "guest-ping");
    if (!reply) {
        return reply.error();
    }
    return parseGuestPingReply(*reply);
}

Result<std::int64_t> LibvirtGuestAgent::startExec(const std::string& domain, const GuestCommand& command) {
    if (command.argv.empty() || command.argv.front().empty()) {
        return Error::invalid("argv", "needs a program to run");
    }
    auto json = guestExecCommand(command);
    if (!json) {
        return json.error();
    }
    auto reply = this->command(domain, *json, "guest-exec of " + command.argv.front());
    if (!reply) {
        return reply.error();
    }
    return parseGuestExecReply(*reply);
}

Result<GuestExecStatus> LibvirtGuestAgent::execStatus(const std::string& domain, std::int64_t pid) {
    auto reply = command(domain, guestExecStatusCommand(pid), "guest-exec-status");
    if (!reply) {
        return reply.error();
    }
    return parseGuestExecStatusReply(*reply);
}

}  // namespace gpuhost::drivers::libvirt
