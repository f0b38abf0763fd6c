// A stand-in Kubernetes API server for kubectl tests: mutual TLS on 127.0.0.1, just enough
// discovery for `kubectl get nodes`, and a fixed NodeList. Not a product; it serves until killed.
//
//   fixture_apiserver --cert C --key K --client-ca CA --nodes-json N --port-file P
//
// It binds port 0 and writes the port to P (atomically: P.tmp, then rename) once it accepts.
// A client must present a certificate signed by CA. Each request is logged on stderr.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Options {
    std::string cert;
    std::string key;
    std::string clientCa;
    std::string nodesJson;
    std::string portFile;
};

// What kubectl's discovery needs before it lists nodes: the core group only, v1, with nodes.
constexpr const char* kApiVersions =
    R"({"kind":"APIVersions","versions":["v1"],)"
    R"("serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:443"}]})";
constexpr const char* kApiGroupList = R"({"kind":"APIGroupList","apiVersion":"v1","groups":[]})";
constexpr const char* kCoreV1Resources =
    R"({"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"nodes","singularName":"",)"
    R"("namespaced":false,"kind":"Node","verbs":["get","list","watch"],"shortNames":["no"]}]})";
constexpr const char* kVersion =
    R"({"major":"1","minor":"20","gitVersion":"v1.20.2","gitCommit":"fixture","gitTreeState":"clean",)"
    R"("buildDate":"2021-01-01T00:00:00Z","goVersion":"go1.15","compiler":"gc","platform":"linux/amd64"})";
constexpr const char* kNotFound =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"not served by the fixture",)"
    R"("reason":"NotFound","code":404})";

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path);
    }
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

Options parseOptions(int argc, char** argv) {
    std::map<std::string, std::string> values;
    for (int i = 1; i + 1 < argc; i += 2) {
        values[argv[i]] = argv[i + 1];
    }
    Options options{values["--cert"], values["--key"], values["--client-ca"], values["--nodes-json"],
                    values["--port-file"]};
    if (options.cert.empty() || options.key.empty() || options.clientCa.empty() ||
        options.nodesJson.empty() || options.portFile.empty()) {
        throw std::runtime_error(
            "usage: fixture_apiserver --cert C --key K --client-ca CA --nodes-json N --port-file P");
    }
    return options;
}

// The whole API: a pure function of the request line.
http::response<http::string_body> answer(const http::request<http::string_body>& request,
                                         const std::string& nodes) {
    std::string_view target = request.target();
    std::string_view path = target.substr(0, target.find('?'));
    std::string body = kNotFound;
    http::status status = http::status::not_found;
    if (request.method() == http::verb::get) {
        static const std::map<std::string_view, const char*> kDiscovery = {{"/api", kApiVersions},
                                                                           {"/apis", kApiGroupList},
                                                                           {"/api/v1", kCoreV1Resources},
                                                                           {"/version", kVersion}};
        if (auto found = kDiscovery.find(path); found != kDiscovery.end()) {
            body = found->second;
            status = http::status::ok;
        } else if (path == "/api/v1/nodes") {
            body = nodes;
            status = http::status::ok;
        }
    }
    http::response<http::string_body> response{status, request.version()};
    response.set(http::field::content_type, "application/json");
    response.keep_alive(request.keep_alive());
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
}

// One connection, on its own thread: kubectl opens several at once, and a blocking server
// serving one idle keep-alive connection would stall the others.
void serve(tcp::socket socket, asio::ssl::context& tls, const std::string& nodes) {
    beast::error_code error;
    asio::ssl::stream<tcp::socket> stream(std::move(socket), tls);
    stream.handshake(asio::ssl::stream_base::server, error);
    if (error) {
        std::cerr << "handshake refused: " << error.message() << std::endl;
        return;
    }
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> request;
        http::read(stream, buffer, request, error);
        if (error) {
            break;
        }
        auto response = answer(request, nodes);
        std::cerr << request.method_string() << " " << request.target() << " -> " << response.result_int()
                  << std::endl;
        http::write(stream, response, error);
        if (error || !response.keep_alive()) {
            break;
        }
    }
    stream.shutdown(error);
}

void writePortFile(const std::string& path, unsigned short port) {
    std::string temporary = path + ".tmp";
    std::ofstream(temporary) << port << "\n";
    std::filesystem::rename(temporary, path);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        Options options = parseOptions(argc, argv);
        const std::string nodes = readFile(options.nodesJson);
        asio::ssl::context tls(asio::ssl::context::tls_server);
        tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
        tls.use_certificate_chain_file(options.cert);
        tls.use_private_key_file(options.key, asio::ssl::context::pem);
        tls.load_verify_file(options.clientCa);
        tls.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
        // Name the accepted CA in the CertificateRequest, as kube-apiserver does (client-go sends
        // its certificate anyway: the refusal of a stranger's is this side's verification).
        SSL_CTX_set_client_CA_list(tls.native_handle(), SSL_load_client_CA_file(options.clientCa.c_str()));

        asio::io_context io;
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
        writePortFile(options.portFile, acceptor.local_endpoint().port());
        for (;;) {
            tcp::socket socket(io);
            acceptor.accept(socket);
            std::thread(serve, std::move(socket), std::ref(tls), std::cref(nodes)).detach();
        }
    } catch (const std::exception& failure) {
        std::cerr << "fixture_apiserver: " << failure.what() << std::endl;
        return 1;
    }
}
