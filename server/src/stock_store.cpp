// Card stock lots: the lot file parser and the JobStore's stock tables
// (stock.h, job_store.h "card stock lots").
#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "cardbureau/core/bytes.h"
#include "cardbureau/server/job_store.h"
#include "cardbureau/server/stock.h"

namespace cardbureau::server {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> SplitCommas(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = line.find(',', start);
    out.push_back(
        Trim(line.substr(start, comma == std::string_view::npos ? line.npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsIsoDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!AllDigits(s.substr(0, 4)) || !AllDigits(s.substr(5, 2)) || !AllDigits(s.substr(8, 2))) {
    return false;
  }
  const int month = (s[5] - '0') * 10 + (s[6] - '0');
  const int day = (s[8] - '0') * 10 + (s[9] - '0');
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// "ABCD" -> the UID in upper case; "" when not hex of 4 or 7 bytes.
std::string NormalizeUid(std::string_view text) {
  if (text.size() != 8 && text.size() != 14) return {};
  std::string out;
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

constexpr size_t kMaxListedLines = 20;

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string msg;
  for (size_t i = 0; i < problems.size() && i < kMaxListedLines; ++i) {
    if (i) msg += "; ";
    msg += problems[i];
  }
  if (problems.size() > kMaxListedLines) {
    msg += "; and " + std::to_string(problems.size() - kMaxListedLines) + " more";
  }
  return msg;
}

}  // namespace

bool IsValidLotId(std::string_view id) {
  if (id.empty() || id.size() > 64 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::string LotIdFromFileName(std::string_view file_name) {
  const size_t slash = file_name.find_last_of('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const size_t dot = file_name.find_last_of('.');
  if (dot != std::string_view::npos && dot > 0) file_name = file_name.substr(0, dot);
  return std::string(file_name);
}

Result<CardType> ParseStockCardType(std::string_view text) {
  if (text == "mifare-classic-1k" || text == "1k" || text == "1K") {
    return CardType::kMifareClassic1K;
  }
  if (text == "mifare-classic-4k" || text == "4k" || text == "4K") {
    return CardType::kMifareClassic4K;
  }
  return Status(
      Code::kStockLotInvalid,
      "card type \"" + std::string(text) + "\" is not mifare-classic-1k or mifare-classic-4k",
      "card_type");
}

Result<StockLotFile> ParseStockLot(std::string_view text, std::string_view lot_id) {
  if (!IsValidLotId(lot_id)) {
    return Status(Code::kStockLotInvalid,
                  "lot id \"" + std::string(lot_id) +
                      "\" is not 1-64 letters, digits, '.', '_' or '-' (give --lot)",
                  "lot");
  }
  StockLotFile lot;
  lot.lot_id = std::string(lot_id);
  lot.sha256 = Sha256Hex(AsBytes(text));
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
      static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF) {
    text.remove_prefix(3);  // a UTF-8 byte order mark (spreadsheet exports)
  }
  std::vector<std::string> problems;
  std::map<std::string, int> seen;  // uid -> line
  bool header_seen = false;
  size_t columns = 0;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (Trim(line).empty()) continue;
    auto fields = SplitCommas(line);
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (!header_seen) {
      header_seen = true;
      std::vector<std::string> names;
      for (auto f : fields) {
        std::string n(f);
        for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        names.push_back(n);
      }
      const bool with_expiry =
          names == std::vector<std::string>{"uid", "transit_no", "card_type", "expires"};
      if (!with_expiry && names != std::vector<std::string>{"uid", "transit_no", "card_type"}) {
        return Status(Code::kStockLotInvalid,
                      where + "the header must be uid,transit_no,card_type[,expires]", "header");
      }
      columns = names.size();
      continue;
    }
    if (fields.size() != columns) {
      problems.push_back(where + std::to_string(fields.size()) + " fields, the header has " +
                         std::to_string(columns));
      continue;
    }
    StockCardLine card;
    card.line = line_no;
    card.uid = NormalizeUid(fields[0]);
    std::vector<std::string> bad;
    if (card.uid.empty()) {
      bad.push_back("UID \"" + std::string(fields[0]) + "\" is not hex of 4 or 7 bytes");
    } else if (auto [it, fresh] = seen.emplace(card.uid, line_no); !fresh) {
      bad.push_back("UID " + card.uid + " is already on line " + std::to_string(it->second));
    }
    if (!AllDigits(fields[1]) || fields[1].size() < 10 || fields[1].size() > 20) {
      bad.push_back("transit number \"" + std::string(fields[1]) + "\" is not 10-20 digits");
    }
    card.transit_no = std::string(fields[1]);
    auto type = ParseStockCardType(fields[2]);
    if (!type.ok()) {
      bad.push_back(type.status().message());
    } else {
      card.card_type = *type;
    }
    if (columns == 4 && !fields[3].empty()) {
      if (!IsIsoDate(fields[3])) {
        bad.push_back("expiry \"" + std::string(fields[3]) + "\" is not YYYY-MM-DD");
      }
      card.expires = std::string(fields[3]);
    }
    if (!bad.empty()) {
      std::string joined;
      for (const auto& b : bad) joined += (joined.empty() ? "" : ", ") + b;
      problems.push_back(where + joined);
      continue;
    }
    lot.cards.push_back(std::move(card));
  }
  if (!header_seen) {
    return Status(Code::kStockLotInvalid, "the lot file is empty (no header)", "header");
  }
  if (!problems.empty()) {
    return Status(Code::kStockLotInvalid,
                  "lot " + lot.lot_id + ": " + std::to_string(problems.size()) +
                      " bad line(s), nothing imported: " + JoinProblems(problems));
  }
  if (lot.cards.empty()) {
    return Status(Code::kStockLotInvalid, "lot " + lot.lot_id + " has no card");
  }
  return lot;
}

// ---- the store ----

Status JobStore::ImportStockLot(const StockLotFile& lot, std::string_view source) {
  if (!IsValidLotId(lot.lot_id) || lot.cards.empty()) {
    return Status(Code::kStockLotInvalid, "not a parsed lot (ParseStockLot)");
  }
  std::lock_guard lock(mu_);
  const int64_t now = NowMs();
  CB_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_));
  CB_ASSIGN_OR_RETURN(Statement * dup,
                      Stmt("SELECT lot_id, file_sha256=?2 FROM stock_lots WHERE lot_id=?1 OR "
                           "file_sha256=?2 LIMIT 1"));
  dup->Bind(1, lot.lot_id).Bind(2, lot.sha256);
  CB_ASSIGN_OR_RETURN(bool found, dup->Step());
  if (found) {
    const std::string other = dup->Text(0);
    const bool same_file = dup->Int(1) != 0;
    dup->Reset();
    return Status(Code::kStockLotInvalid,
                  same_file ? "this file was already imported as lot " + other
                            : "lot " + lot.lot_id + " was already imported",
                  "lot");
  }
  CB_ASSIGN_OR_RETURN(Statement * in_lot, Stmt("SELECT lot_id, line FROM stock_cards WHERE uid=?"));
  std::vector<std::string> problems;
  for (const StockCardLine& c : lot.cards) {
    in_lot->Reset();
    in_lot->Bind(1, c.uid);
    CB_ASSIGN_OR_RETURN(bool row, in_lot->Step());
    if (row) {
      problems.push_back("line " + std::to_string(c.line) + ": UID " + c.uid +
                         " is already in lot " + in_lot->Text(0) + " (line " +
                         std::to_string(in_lot->Int(1)) + ")");
    }
  }
  in_lot->Reset();
  if (!problems.empty()) {
    return Status(Code::kStockLotInvalid,
                  "lot " + lot.lot_id + ": " + std::to_string(problems.size()) +
                      " bad line(s), nothing imported: " + JoinProblems(problems));
  }
  CB_ASSIGN_OR_RETURN(Statement * add_lot,
                      Stmt("INSERT INTO stock_lots(lot_id, file_sha256, source, imported_at, "
                           "cards) VALUES(?,?,?,?,?)"));
  add_lot->Bind(1, lot.lot_id).Bind(2, lot.sha256).Bind(3, source).Bind(4, now);
  add_lot->Bind(5, static_cast<int64_t>(lot.cards.size()));
  CB_RETURN_IF_ERROR(add_lot->Run());
  CB_ASSIGN_OR_RETURN(Statement * add_card,
                      Stmt("INSERT INTO stock_cards(uid, lot_id, line, transit_no, card_type, "
                           "expires) VALUES(?,?,?,?,?,?)"));
  for (const StockCardLine& c : lot.cards) {
    add_card->Reset();
    add_card->Bind(1, c.uid).Bind(2, lot.lot_id).Bind(3, static_cast<int64_t>(c.line));
    add_card->Bind(4, c.transit_no).Bind(5, ToString(c.card_type)).Bind(6, c.expires);
    CB_RETURN_IF_ERROR(add_card->Run());
  }
  CB_RETURN_IF_ERROR(InsertAudit(
      "lot:" + lot.lot_id, "stock-import",
      "lot " + lot.lot_id + " " + std::to_string(lot.cards.size()) + " cards sha256 " + lot.sha256,
      now));
  return tx.Commit();
}

Result<StockCardInfo> JobStore::CheckStock(std::string_view job_id, std::string_view uid,
                                           CardType type, bool required) {
  std::lock_guard lock(mu_);
  std::string key(uid);
  for (auto& c : key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT lot_id, transit_no, card_type, status, job_id, reason "
                           "FROM stock_cards WHERE uid=?"));
  st->Bind(1, key);
  CB_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) {
    if (!required) {
      CB_ASSIGN_OR_RETURN(Statement * any, Stmt("SELECT 1 FROM stock_lots LIMIT 1"));
      CB_ASSIGN_OR_RETURN(bool lots, any->Step());
      any->Reset();
      if (!lots) return StockCardInfo{};  // no lot imported: runs as without lots
    }
    return Status(Code::kStockUnknown, "card UID " + key + " is in no imported stock lot");
  }
  StockCardInfo info;
  info.lot_id = st->Text(0);
  info.uid = key;
  info.transit_no = st->Text(1);
  const std::string card_type = st->Text(2);
  const std::string status = st->Text(3);
  const std::string owner = st->Text(4);
  const std::string reason = st->Text(5);
  st->Reset();
  auto parsed = ParseStockCardType(card_type);
  info.card_type = parsed.ok() ? *parsed : CardType::kMifareClassic1K;
  if (status == "produced" && owner != job_id) {
    return Status(Code::kStockUsed, "card UID " + key + " of lot " + info.lot_id +
                                        " was already produced for job " + owner);
  }
  if (status == "spoiled") {
    return Status(Code::kStockUsed,
                  "card UID " + key + " of lot " + info.lot_id + " was spoiled (" + reason + ")");
  }
  if (!parsed.ok() || info.card_type != type) {
    return Status(Code::kStockWrongType, "card UID " + key + " of lot " + info.lot_id + " is " +
                                             card_type + ", the job needs " +
                                             std::string(ToString(type)));
  }
  return info;
}

Status JobStore::StockOnEventLocked(std::string_view job_id, const HistoryEvent& e, int64_t now) {
  if (e.kind != "card" || e.stage != "rejected" || e.uid.empty()) return Status::Ok();
  // The reject hopper: an unused card, or the card this job produced, is
  // spoiled; a card produced by another job or already spoiled stays so.
  CB_ASSIGN_OR_RETURN(
      Statement * st,
      Stmt("UPDATE stock_cards SET status='spoiled', job_id=?2, reason=?3, message=?4, at=?5 "
           "WHERE uid=?1 AND (status='unused' OR (status='produced' AND job_id=?2))"));
  std::string uid = e.uid;
  for (auto& c : uid) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  st->Bind(1, uid).Bind(2, job_id).Bind(3, e.code.empty() ? std::string("SPOILED") : e.code);
  st->Bind(4, e.message).Bind(5, now);
  return st->Run();
}

Status JobStore::StockProducedLocked(std::string_view job_id, std::string_view uid_text,
                                     int64_t now) {
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("UPDATE stock_cards SET status='produced', job_id=?2, reason='', "
                           "message='', at=?3 WHERE uid=?1 AND status='unused'"));
  std::string uid(uid_text);
  for (auto& c : uid) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  st->Bind(1, uid).Bind(2, job_id).Bind(3, now);
  return st->Run();
}

Result<std::vector<StockLotReport>> JobStore::StockReport(std::string_view lot_id,
                                                          bool with_cards) {
  std::lock_guard lock(mu_);
  // One query for the numbers (the report, the reconciliation and the
  // dashboard use the same), one for the card lists.
  CB_ASSIGN_OR_RETURN(
      Statement * st,
      Stmt("SELECT l.lot_id, l.imported_at, count(c.uid), coalesce(sum(c.status='produced'),0), "
           "coalesce(sum(c.status='spoiled'),0), coalesce(sum(c.status='unused'),0) "
           "FROM stock_lots l LEFT JOIN stock_cards c ON c.lot_id=l.lot_id "
           "WHERE ?1='' OR l.lot_id=?1 GROUP BY l.lot_id ORDER BY l.imported_at, l.lot_id"));
  st->Bind(1, lot_id);
  std::vector<StockLotReport> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    StockLotReport r;
    r.lot_id = st->Text(0);
    r.imported_at_ms = st->Int(1);
    r.received = st->Int(2);
    r.produced = st->Int(3);
    r.spoiled = st->Int(4);
    r.remaining = st->Int(5);
    out.push_back(std::move(r));
  }
  if (!lot_id.empty() && out.empty()) {
    return Status(Code::kNotFound, "no stock lot " + std::string(lot_id));
  }
  if (!with_cards) return out;
  CB_ASSIGN_OR_RETURN(Statement * cards,
                      Stmt("SELECT uid, status, job_id, reason, message, coalesce(at,0), "
                           "transit_no FROM stock_cards WHERE lot_id=? AND status<>'unused' "
                           "ORDER BY at, uid"));
  for (StockLotReport& r : out) {
    cards->Reset();
    cards->Bind(1, r.lot_id);
    for (;;) {
      CB_ASSIGN_OR_RETURN(bool row, cards->Step());
      if (!row) break;
      if (cards->Text(1) == "produced") {
        r.produced_cards.push_back(StockProduced{cards->Text(0), cards->Text(2), cards->Int(5)});
      } else {
        r.spoiled_cards.push_back(StockSpoiled{r.lot_id, cards->Text(0), cards->Text(6),
                                               cards->Text(2), cards->Text(3), cards->Text(4),
                                               cards->Int(5)});
      }
    }
  }
  return out;
}

Result<std::vector<StockSpoiled>> JobStore::StockSpoiledSince(int64_t since_ms) {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT lot_id, uid, transit_no, job_id, reason, message, at "
                           "FROM stock_cards WHERE status='spoiled' AND at>=? ORDER BY at, uid"));
  st->Bind(1, since_ms);
  std::vector<StockSpoiled> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    out.push_back(StockSpoiled{st->Text(0), st->Text(1), st->Text(2), st->Text(3), st->Text(4),
                               st->Text(5), st->Int(6)});
  }
  return out;
}

Result<std::vector<StockByType>> JobStore::StockRemainingByType() {
  std::lock_guard lock(mu_);
  CB_ASSIGN_OR_RETURN(Statement * st,
                      Stmt("SELECT card_type, count(*), sum(status='unused') FROM stock_cards "
                           "GROUP BY card_type ORDER BY card_type"));
  std::vector<StockByType> out;
  for (;;) {
    CB_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    auto type = ParseStockCardType(st->Text(0));
    if (!type.ok()) continue;
    out.push_back(StockByType{*type, st->Int(1), st->Int(2)});
  }
  return out;
}

}  // namespace cardbureau::server
