#include "blocking_pool.hpp"

#include <stdexcept>
#include <string>

namespace gpuhost::agent {

namespace {
thread_local bool ioThread = false;
}

void markIoThread() {
    ioThread = true;
}

void assertNotOnIoThread(const char* what) {
    if (ioThread) {
        throw std::logic_error(std::string("blocking call on an I/O thread: ") + what);
    }
}

}  // namespace gpuhost::agent

namespace gpuhost::agent {

model::Error internalErrorFrom(std::exception_ptr exception) {
    try {
        std::rethrow_exception(exception);
    } catch (const std::exception& e) {
        return model::Error::internal(e.what());
    } catch (...) {
        return model::Error::internal("unknown exception");
    }
}

}  // namespace gpuhost::agent
