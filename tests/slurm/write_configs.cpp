// Writes the configs of the real-Slurm test's cluster into a directory, through the same
// generators the agent uses, with a Layout that keeps every path under that directory.
// Usage: slurm_write_configs <dir> <slurmctld port> <slurmd port>
// Files: slurm.conf gres.conf cgroup.conf munge.key (0400), slurmd-cpu.args and
// slurmd-h100.args (one argv entry per line, for cpu-0 and h100-1) and h100.conf (the --conf
// text of an 8xH100 node, for scontrol create).
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <string>

#include "munge_key.hpp"
#include "node_config.hpp"
#include "slurm_conf.hpp"

using namespace gpuhost;

namespace {

void write(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    ::chmod(path.c_str(), mode);
}

// By value: a reference into a temporary Result would dangle in a range-for.
template <class T>
T orDie(model::Result<T> result) {
    if (!result) {
        std::cerr << "slurm_write_configs: " << result.error().field << ": " << result.error().message
                  << "\n";
        std::exit(1);
    }
    return std::move(result).value();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: slurm_write_configs <dir> <slurmctld port> <slurmd port>\n";
        return 2;
    }
    std::string dir = argv[1];
    slurm::ClusterSpec spec;
    spec.name = "gpuhosttest";
    spec.controllerHostname = "localhost";
    spec.controllerAddress = "127.0.0.1";
    spec.slurmVersion = "22.05.8";
    // cpu joins the default partition "batch", h100 only "gpu": proves the NodeSet wiring.
    spec.pools = {{"cpu", 1, 1, 768, 0, "", {"batch"}}, {"h100", 1, 8, 16384, 8, "h100", {"gpu"}}};
    spec.maxNodes = 8;

    slurm::Layout layout;
    layout.slurmUser = "root";  // the test runs as root; the guests run as slurm
    layout.stateSaveLocation = dir + "/state";
    layout.slurmdSpoolDir = dir + "/spool";
    layout.logDir = dir + "/log";
    layout.pidDir = dir + "/run";
    layout.slurmctldPort = static_cast<unsigned>(std::stoul(argv[2]));
    layout.slurmdPort = static_cast<unsigned>(std::stoul(argv[3]));
    layout.cgroupTracking = false;  // hosts need not run cgroup v2 with systemd

    write(dir + "/slurm.conf", orDie(slurm::slurmConf(spec, layout)), 0644);
    write(dir + "/gres.conf", orDie(slurm::gresConf(spec)), 0644);
    write(dir + "/cgroup.conf", slurm::cgroupConf(layout), 0644);
    write(dir + "/munge.key", orDie(slurm::mungeKey()), 0400);
    std::string args;
    for (const auto& arg : orDie(slurm::slurmdArgs(spec, layout, "cpu", 0))) {
        args += arg + "\n";
    }
    write(dir + "/slurmd-cpu.args", args, 0644);
    args.clear();
    for (const auto& arg : orDie(slurm::slurmdArgs(spec, layout, "h100", 1))) {
        args += arg + "\n";
    }
    write(dir + "/slurmd-h100.args", args, 0644);
    write(dir + "/h100.conf", slurm::slurmdConf(spec.pools[1]) + "\n", 0644);
    return 0;
}
