#pragma once

// Small RAII helpers over the SQLite C API, shared by the store's source files.
#include <sqlite3.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "blocking_pool.hpp"
#include "metrics.hpp"

namespace gpuhost::agent::sqlite {

/// A prepared statement, finalized on scope exit.
class Statement {
  public:
    Statement(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
            throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
        }
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    void bind(int index, const std::string& text) {
        sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    }
    void bindBlob(int index, const std::string& bytes) {
        sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    }
    void bindInt(int index, sqlite3_int64 value) { sqlite3_bind_int64(stmt_, index, value); }
    void bindNull(int index) { sqlite3_bind_null(stmt_, index); }
    bool isNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
    std::string blob(int column) const {
        auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
        return data == nullptr ? std::string() : std::string(data, sqlite3_column_bytes(stmt_, column));
    }
    int step() { return sqlite3_step(stmt_); }
    std::string text(int column) const {
        auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
        return data == nullptr ? std::string() : std::string(data, sqlite3_column_bytes(stmt_, column));
    }
    sqlite3_int64 integer(int column) const { return sqlite3_column_int64(stmt_, column); }

  private:
    sqlite3_stmt* stmt_ = nullptr;
};

/// BEGIN IMMEDIATE … COMMIT, rolled back on every other way out (errors, exceptions),
/// so the single connection is never left inside a transaction.
class Transaction {
  public:
    explicit Transaction(sqlite3* db) : db_(db) {
        if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
            throw std::runtime_error(std::string("sqlite begin: ") + sqlite3_errmsg(db_));
        }
    }
    ~Transaction() {
        if (!committed_) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    bool commit() {
        committed_ = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
        return committed_;
    }

  private:
    sqlite3* db_;
    bool committed_ = false;
};

/// Records one store operation's latency in the metrics.
class Timer {
  public:
    Timer(Metrics* metrics, const char* operation)
        : metrics_(metrics), operation_(operation), start_(std::chrono::steady_clock::now()) {
        assertNotOnIoThread(operation);
    }
    ~Timer() {
        if (metrics_ != nullptr) {
            std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
            metrics_->observeStore(operation_, elapsed.count());
        }
    }

  private:
    Metrics* metrics_;
    const char* operation_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace gpuhost::agent::sqlite
