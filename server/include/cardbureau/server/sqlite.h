// Move-only RAII owners for sqlite3* and sqlite3_stmt*.
//
// Errors are STORAGE_ERROR with SQLite's message (never the bound values, so
// personal data does not leak into logs). Thread-compatible: one thread at a
// time per Database (callers serialise; JobStore holds a mutex).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cardbureau/core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cardbureau::server {

class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() { Close(); }
  Statement(Statement&& o) noexcept : stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Finalizes; idempotent.
  void Close();
  sqlite3_stmt* handle() const { return stmt_; }

  // Binding is 1-based like SQLite. Resets the statement and clears bindings.
  Statement& Reset();
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, int64_t value);
  Statement& BindNull(int index);
  Statement& BindOpt(int index, const std::optional<std::string>& text);

  // Steps once: true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion (for statements without rows).
  Status Run();

  // Column accessors for the current row (0-based).
  std::string Text(int col) const;
  int64_t Int(int col) const;
  bool IsNull(int col) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  Database() = default;
  ~Database() { Close(); }
  Database(Database&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Database& operator=(Database&& o) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Opens (creating if absent) with WAL, synchronous=FULL, foreign keys on and
  // a busy timeout. STORAGE_ERROR on failure.
  static Result<Database> Open(const std::string& path);

  void Close();  // idempotent
  sqlite3* handle() const { return db_; }

  Status Exec(std::string_view sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  Result<Statement> Prepare(std::string_view sql);
  // STORAGE_ERROR with the connection's last message and `what`.
  Status Error(std::string_view what) const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless committed.
class Transaction {
 public:
  static Result<Transaction> Begin(Database& db);
  ~Transaction();
  Transaction(Transaction&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_ = nullptr;
};

}  // namespace cardbureau::server
