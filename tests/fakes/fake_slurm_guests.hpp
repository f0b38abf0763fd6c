#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fakes/scripted_guest_agent.hpp"

namespace gpuhost::test {

struct SlurmNode {
    std::string state = "idle";
    std::vector<std::string> flags;
};

struct SlurmGuest {
    bool up = false;
    std::string hostname;  // what cloud-init set (the instance's name)
    std::map<std::string, std::string> files;
    std::map<std::string, unsigned> accounts;  // name -> uid
    bool slurmctld = false;
    std::map<std::string, SlurmNode> nodes;  // on a controller
};

/// The guests of Slurm clusters as the agent drives them, in memory: every domain has files,
/// accounts and (on a controller) a slurmctld with dynamic nodes. Programs exit at their
/// first status poll. Nodes register when the test says so (registerNode: a slurmd that
/// started); drain, delete, sinfo --json and the users' commands behave like the real ones
/// as far as the agent can tell. Guests answer once `boot` has been called for the domain.
class FakeSlurmGuests final : public ScriptedGuestAgent<SlurmGuest> {
  public:
    using Node = SlurmNode;
    using Guest = SlurmGuest;

    void boot(const std::string& domain, const std::string& hostname) {
        std::lock_guard lock(mutex_);
        guests_[domain].up = true;
        guests_[domain].hostname = hostname;
    }
    void registerNode(const std::string& controller, const std::string& node, std::string state = "idle") {
        std::lock_guard lock(mutex_);
        guests_[controller].nodes[node] = Node{std::move(state), {}};
    }

  private:
    static std::string after(const std::string& arg, const std::string& prefix) {
        return arg.starts_with(prefix) ? arg.substr(prefix.size()) : std::string();
    }

    drivers::GuestExecStatus sinfo(const Guest& guest) {
        if (!guest.slurmctld) {
            return exited(1, {}, "slurm_load_node error: Unable to contact slurm controller");
        }
        nlohmann::json nodes = nlohmann::json::array();
        for (const auto& [name, node] : guest.nodes) {
            nodes.push_back({{"name", name},
                             {"state", node.state},
                             {"state_flags", node.flags},
                             {"slurmd_version", "22.05.8"},
                             {"partitions", {"main"}},
                             {"reason", ""},
                             {"address", name},
                             {"hostname", name}});
        }
        nlohmann::json doc = {{"meta", {{"Slurm", {{"release", "22.05.8"}}}}},
                              {"errors", nlohmann::json::array()},
                              {"nodes", nodes}};
        return exited(0, doc.dump());
    }

    drivers::GuestExecStatus run(Guest& guest, const std::vector<std::string>& argv,
                                 const std::string& input) override {
        const auto& program = argv.front();
        if (program == "test") {  // test -s PATH: the munge key cloud-init writes at first boot
            return exited(0);
        }
        if (program == "hostname") {
            return exited(0, guest.hostname + "\n");
        }
        if (program == "cloud-init" || program == "systemctl" || program == "visudo" || program == "rm") {
            if (program == "systemctl" && argv.size() >= 3 && argv[1] == "is-active") {
                return exited(guest.slurmctld ? 0 : 3);
            }
            if (program == "systemctl" && argv.size() == 4 && argv[3] == "slurmctld") {
                guest.slurmctld = true;
            }
            return exited(0);
        }
        if (program == "cat") {
            auto it = guest.files.find(argv.at(1));
            return it == guest.files.end() ? exited(1, {}, "No such file or directory")
                                           : exited(0, it->second);
        }
        if (program == "install" && argv.size() >= 2 && argv[1] == "-D") {
            guest.files[argv.back()] = input;
            return exited(0);
        }
        if (program == "install" || program == "mv") {
            if (program == "mv") {
                guest.files[argv.back()] = guest.files[argv[argv.size() - 2]];
                guest.files.erase(argv[argv.size() - 2]);
            }
            return exited(0);
        }
        if (program == "getent") {
            // The image's own accounts (slurm's uid is above the cluster range) and one a user
            // made by hand inside it: never the agent's to remove.
            std::string passwd =
                "root:x:0:0:root:/root:/bin/bash\n"
                "slurm:x:64030:64030::/nonexistent:/usr/sbin/nologin\n"
                "bob:x:20500:20500:Bob:/home/bob:/bin/bash\n";
            for (const auto& [name, uid] : guest.accounts) {
                passwd += name + ":x:" + std::to_string(uid) + ":" + std::to_string(uid) + ":" +
                          gecos_[name] + ":/home/" + name + ":/bin/bash\n";
            }
            return exited(0, passwd);
        }
        if (program == "useradd") {
            guest.accounts[argv.back()] = static_cast<unsigned>(std::stoul(argv.at(3)));
            gecos_[argv.back()] = argv.at(5) == "-c" ? argv.at(6) : "";
            return exited(0);
        }
        if (program == "userdel") {
            return exited(guest.accounts.erase(argv.back()) == 1 ? 0 : 6);
        }
        if (program == "sinfo") {
            return sinfo(guest);
        }
        if (program == "scontrol" && argv.size() >= 2) {
            if (!guest.slurmctld) {
                return exited(1, {}, "Unable to contact slurm controller");
            }
            if (argv[1] == "show") {
                return exited(0, "No reservations in the system\n");
            }
            if (argv[1] == "reconfigure") {
                return exited(0);
            }
            auto name = after(argv.at(2), "nodename=");
            auto node = guest.nodes.find(name);
            if (node == guest.nodes.end()) {
                return exited(1, {}, "Invalid node name specified");
            }
            if (argv[1] == "update") {
                node->second.flags = {"DRAIN"};
            } else if (argv[1] == "delete") {
                guest.nodes.erase(node);
            }
            return exited(0);
        }
        return exited(127, {}, "unknown program " + program);
    }

    std::map<std::string, std::string> gecos_;
};

}  // namespace gpuhost::test
