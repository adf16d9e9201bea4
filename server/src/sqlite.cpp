#include "cardbureau/server/sqlite.h"

#include <sqlite3.h>

namespace cardbureau::server {

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    Close();
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

void Statement::Close() {
  if (stmt_ != nullptr) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
  }
}

Statement& Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  // An empty string_view may have a null data(), which SQLite would bind as NULL.
  const char* p = text.data() != nullptr ? text.data() : "";
  sqlite3_bind_text(stmt_, index, p, static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::BindOpt(int index, const std::optional<std::string>& text) {
  return text ? Bind(index, *text) : BindNull(index);
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Status(Code::kStorageError,
                std::string("sqlite step: ") + sqlite3_errmsg(sqlite3_db_handle(stmt_)));
}

Status Statement::Run() {
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

std::string Statement::Text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Database& Database::operator=(Database&& o) noexcept {
  if (this != &o) {
    Close();
    db_ = o.db_;
    o.db_ = nullptr;
  }
  return *this;
}

void Database::Close() {
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

Result<Database> Database::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  Database db(raw);  // owns raw even on failure
  if (rc != SQLITE_OK) {
    return Status(Code::kStorageError,
                  "cannot open store " + path + ": " + (raw ? sqlite3_errmsg(raw) : "no memory"));
  }
  sqlite3_busy_timeout(raw, 5000);
  CB_RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode=WAL"));
  CB_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=FULL"));
  CB_RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys=ON"));
  // Deleted or overwritten content is zeroed, not left in free pages: the
  // retention purge must leave no copy of a child's name in the file.
  CB_RETURN_IF_ERROR(db.Exec("PRAGMA secure_delete=ON"));
  return db;
}

Status Database::Exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status(Code::kStorageError, "sqlite exec: " + msg);
  }
  return Status::Ok();
}

int64_t Database::Changes() const { return sqlite3_changes64(db_); }

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error("prepare");
  return Statement(stmt);
}

Status Database::Error(std::string_view what) const {
  return Status(Code::kStorageError, std::string("sqlite ") + std::string(what) + ": " +
                                         (db_ ? sqlite3_errmsg(db_) : "closed"));
}

Result<Transaction> Transaction::Begin(Database& db) {
  CB_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) (void)db_->Exec("ROLLBACK");
}

Status Transaction::Commit() {
  if (db_ == nullptr) return Status(Code::kInternal, "transaction already finished");
  Status s = db_->Exec("COMMIT");
  if (s.ok()) db_ = nullptr;
  return s;
}

}  // namespace cardbureau::server
