#include "handlers/handlers.hpp"
#include "router.hpp"

namespace gpuhost::api {

namespace h = handlers;
using http::verb;
using enum Access;

// Every route of the API. A null handler answers 501 until its issue lands;
// /capabilities derives "implemented" from this column (and from whether the daemon
// has the service a feature needs), so it cannot lie.
const std::vector<Route>& routeTable() {
    // clang-format off
    static const std::vector<Route> routes = {
        // method        path                                                  access    body   feature       handler
        {verb::get,    "/healthz",                                             Public,   false, "operations", h::health},
        {verb::get,    "/metrics",                                             Operator, false, "operations", h::metrics},
        {verb::get,    "/api/v1alpha1/openapi.json",                           Public,   false, "operations", h::openapi},

        {verb::post,   "/api/v1alpha1/projects",                               Token,    true,  "projects", h::createProject},
        {verb::get,    "/api/v1alpha1/projects",                               Token,    false, "projects", h::listProjects},
        {verb::get,    "/api/v1alpha1/projects/{id}",                          Token,    false, "projects", h::getProject},
        {verb::delete_,"/api/v1alpha1/projects/{id}",                          Token,    false, "projects", h::deleteProject},

        {verb::get,    "/api/v1alpha1/instance-types",                         Project,  false, "catalog", h::listInstanceTypes},
        {verb::get,    "/api/v1alpha1/capacity",                               Project,  false, "capacity", h::getCapacity},
        {verb::get,    "/api/v1alpha1/capabilities",                           Project,  false, "catalog", h::getCapabilities},

        {verb::post,   "/api/v1alpha1/instances",                              Project,  true,  "instances", h::createInstance},
        {verb::get,    "/api/v1alpha1/instances",                              Project,  false, "instances", h::listInstances},
        {verb::get,    "/api/v1alpha1/instances/{id}",                         Project,  false, "instances", h::getInstance},
        {verb::delete_,"/api/v1alpha1/instances/{id}",                         Project,  false, "instances", h::deleteInstance},
        {verb::post,   "/api/v1alpha1/instances/{id}/actions/start",           Project,  false, "instances", h::startInstance},
        {verb::post,   "/api/v1alpha1/instances/{id}/actions/stop",            Project,  false, "instances", h::stopInstance},

        {verb::post,   "/api/v1alpha1/filesystems",                            Project,  true,  "filesystems", h::createFilesystem},
        {verb::get,    "/api/v1alpha1/filesystems",                            Project,  false, "filesystems", h::listFilesystems},
        {verb::get,    "/api/v1alpha1/filesystems/{id}",                       Project,  false, "filesystems", h::getFilesystem},
        {verb::delete_,"/api/v1alpha1/filesystems/{id}",                       Project,  false, "filesystems", h::deleteFilesystem},

        {verb::post,   "/api/v1alpha1/kubernetes/clusters",                    Project,  true,  "kubernetes", h::createKubernetesCluster},
        {verb::get,    "/api/v1alpha1/kubernetes/clusters",                    Project,  false, "kubernetes", h::listKubernetesClusters},
        {verb::get,    "/api/v1alpha1/kubernetes/clusters/{id}",               Project,  false, "kubernetes", h::getKubernetesCluster},
        {verb::patch,  "/api/v1alpha1/kubernetes/clusters/{id}",               Project,  true,  "kubernetes", h::upgradeKubernetesCluster},
        {verb::delete_,"/api/v1alpha1/kubernetes/clusters/{id}",               Project,  false, "kubernetes", h::deleteKubernetesCluster},
        {verb::get,    "/api/v1alpha1/kubernetes/clusters/{id}/node-pools",    Project,  false, "kubernetes", h::listKubernetesClusterPools},
        {verb::post,   "/api/v1alpha1/kubernetes/clusters/{id}/node-pools",    Project,  true,  "kubernetes", h::addKubernetesPool},  // extension
        {verb::get,    "/api/v1alpha1/kubernetes/clusters/{id}/node-pools/{pool}", Project, false, "kubernetes", h::getKubernetesClusterPool},
        {verb::patch,  "/api/v1alpha1/kubernetes/clusters/{id}/node-pools/{pool}", Project, true, "kubernetes", h::scaleKubernetesPool},  // extension
        {verb::delete_,"/api/v1alpha1/kubernetes/clusters/{id}/node-pools/{pool}", Project, false, "kubernetes", h::removeKubernetesPool},  // extension
        {verb::get,    "/api/v1alpha1/kubernetes/node-pools",                  Project,  false, "kubernetes", h::listKubernetesPools},
        {verb::get,    "/api/v1alpha1/kubernetes/clusters/{id}/kubeconfig",    Project,  false, "kubernetes", h::getKubeconfig},

        {verb::post,   "/api/v1alpha1/slurm/clusters",                         Project,  true,  "slurm", h::createSlurmCluster},
        {verb::get,    "/api/v1alpha1/slurm/clusters",                         Project,  false, "slurm", h::listSlurmClusters},
        {verb::get,    "/api/v1alpha1/slurm/clusters/{id}",                    Project,  false, "slurm", h::getSlurmCluster},
        {verb::delete_,"/api/v1alpha1/slurm/clusters/{id}",                    Project,  false, "slurm", h::deleteSlurmCluster},
        {verb::get,    "/api/v1alpha1/slurm/clusters/{id}/node-pools",         Project,  false, "slurm", h::listSlurmClusterPools},
        {verb::post,   "/api/v1alpha1/slurm/clusters/{id}/node-pools",         Project,  true,  "slurm", h::addSlurmPool},  // extension
        {verb::get,    "/api/v1alpha1/slurm/clusters/{id}/node-pools/{pool}",  Project,  false, "slurm", h::getSlurmClusterPool},
        {verb::patch,  "/api/v1alpha1/slurm/clusters/{id}/node-pools/{pool}",  Project,  true,  "slurm", h::scaleSlurmPool},  // extension
        {verb::delete_,"/api/v1alpha1/slurm/clusters/{id}/node-pools/{pool}",  Project,  false, "slurm", h::removeSlurmPool},  // extension
        {verb::get,    "/api/v1alpha1/slurm/node-pools",                       Project,  false, "slurm", h::listSlurmPools},
        {verb::get,    "/api/v1alpha1/slurm/clusters/{id}/users",              Project,  false, "slurm", h::listSlurmUsers},
        {verb::post,   "/api/v1alpha1/slurm/clusters/{id}/users",              Project,  true,  "slurm", h::addSlurmUser},
        {verb::get,    "/api/v1alpha1/slurm/clusters/{id}/users/{username}",   Project,  false, "slurm", h::getSlurmUser},
        {verb::put,    "/api/v1alpha1/slurm/clusters/{id}/users/{username}",   Project,  true,  "slurm", h::updateSlurmUser},
        {verb::delete_,"/api/v1alpha1/slurm/clusters/{id}/users/{username}",   Project,  false, "slurm", h::removeSlurmUser},
    };
    // clang-format on
    return routes;
}

}  // namespace gpuhost::api
