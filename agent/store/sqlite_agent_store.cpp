// The agent's own facts (AgentMetadataStore): its id and the image import marks, as
// rows of agent_meta.
#include "store/sqlite_detail.hpp"
#include "store/sqlite_store.hpp"

namespace gpuhost::agent {

using model::Error;
using model::Result;
using sqlite::Statement;
using sqlite::Timer;
using sqlite::Transaction;

namespace {

// Marks share agent_meta with the agent id; the prefix keeps a mark from ever being read
// as another fact. The store does not interpret the mark ("<host>/<volume>").
std::string markKey(const std::string& mark) {
    return "imported:" + mark;
}

}  // namespace

Result<model::Uuid> SqliteStore::agentId() {
    Timer timer(metrics_, "agent_id");
    std::lock_guard lock(mutex_);
    Transaction transaction(db_);
    Statement read(db_, "SELECT value FROM agent_meta WHERE key = 'agent_id'");
    if (read.step() == SQLITE_ROW) {
        auto id = model::Uuid::parse(read.text(0));
        if (!id) {
            return Error::internal("store: malformed agent_id");
        }
        return *id;
    }
    auto id = model::Uuid::random();
    Statement write(db_, "INSERT INTO agent_meta (key, value) VALUES ('agent_id', ?)");
    write.bind(1, id.str());
    if (write.step() != SQLITE_DONE || !transaction.commit()) {
        return lastError("store agent id");
    }
    return id;
}

Result<bool> SqliteStore::imageImported(const std::string& mark) {
    Timer timer(metrics_, "image_imported");
    std::lock_guard lock(mutex_);
    Statement read(db_, "SELECT 1 FROM agent_meta WHERE key = ?");
    read.bind(1, markKey(mark));
    int rc = read.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return lastError("read image import");
    }
    return rc == SQLITE_ROW;
}

Result<void> SqliteStore::markImageImported(const std::string& mark) {
    Timer timer(metrics_, "mark_image_imported");
    std::lock_guard lock(mutex_);
    Statement write(db_, "INSERT OR REPLACE INTO agent_meta (key, value) VALUES (?, 'complete')");
    write.bind(1, markKey(mark));
    if (write.step() != SQLITE_DONE) {
        return lastError("mark image import");
    }
    return {};
}

Result<void> SqliteStore::forgetImageImported(const std::string& mark) {
    Timer timer(metrics_, "forget_image_imported");
    std::lock_guard lock(mutex_);
    Statement forget(db_, "DELETE FROM agent_meta WHERE key = ?");
    forget.bind(1, markKey(mark));
    if (forget.step() != SQLITE_DONE) {
        return lastError("forget image import");
    }
    return {};
}

}  // namespace gpuhost::agent
