// Asio and Beast are compiled once here (BOOST_*_SEPARATE_COMPILATION) instead of in
// every translation unit that includes them: a large saving on a 2-core build.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
