#include "cardbureau/line/line.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "cardbureau/encoder/key_backend.h"
#include "cardbureau/encoder/personalizer.h"
#include "cardbureau/layout/card_renderer.h"
#include "cardbureau/layout/photo.h"
#include "cardbureau/layout/proof_pdf.h"
#include "cardbureau/layout/qr.h"
#include "cardbureau/layout/template.h"
#include "cardbureau/line/qa.h"
#include "cardbureau/printers/file_util.h"
#include "crash_point.h"

namespace cardbureau::line {

namespace fs = std::filesystem;
using server::JobState;

namespace {

// The part of a face that holds the QR code: the template's QR box with a
// margin of a quarter of its size on every side (quiet zone and placement
// tolerance), clipped to the face. Scanning only this region is what makes
// the two QR checks per card cheap; the whole face when there is no box.
cv::Mat QrRegion(const cv::Mat& face, const cv::Rect& box) {
  if (box.empty()) return face;
  const int mx = box.width / 4, my = box.height / 4;
  const cv::Rect grown(box.x - mx, box.y - my, box.width + 2 * mx, box.height + 2 * my);
  const cv::Rect clipped = grown & cv::Rect(0, 0, face.cols, face.rows);
  return clipped.empty() ? face : face(clipped);
}

// Station-level faults take a station out of rotation when repeated; card
// faults (a bad card) do not.
bool IsStationFault(Code c) {
  switch (c) {
    case Code::kPrinterJam:
    case Code::kPrinterOutOfRibbon:
    case Code::kPrinterError:
    case Code::kReaderUnavailable:
    case Code::kReaderError:
    case Code::kCardTimeout:
    case Code::kIoError:
      return true;
    default:
      return false;
  }
}

// The card or its connection went away mid-operation.
// The stock check refused the card (not the bureau's, used, wrong type).
bool IsStockFault(Code c) {
  return c == Code::kStockUnknown || c == Code::kStockUsed || c == Code::kStockWrongType;
}

bool IsTransportLoss(Code c) {
  return c == Code::kCardRemoved || c == Code::kReaderError || c == Code::kProtocolError;
}

// Failures for which a fresh card cannot help.
bool IsJobFault(Code c) {
  return c == Code::kRecordTooLarge || c == Code::kUnrenderableGlyph || c == Code::kInvalidField ||
         c == Code::kInvalidTemplate;
}

uint8_t IssueSequence(const Job& job) {
  // The centre does not send the previous card's sequence: a reissue is the
  // second issue unless the record of the replaced card says otherwise.
  return job.kind == JobKind::kNew ? 1 : 2;
}

struct PreparedJob {
  server::JobContext ctx;
  layout::PreparedCard card;
  int cards_used = 0;
  bool encoding_recorded = false;
  Status last_error;
  std::string uid;         // the current card's UID once encoding told it, else ""
  std::string transit_no;  // the current card's transit number from its stock lot, else ""
};

server::HistoryEvent WithStatus(server::HistoryEvent e, const Status& s) {
  e.code = std::string(s.code_name());
  e.message = s.message();
  return e;
}

// A card whose face copies could not be written: kept (bounded) so the
// files are rewritten when the disk allows (after the next card, at Stop).
struct PendingOutputs {
  std::string job_id;
  fs::path dir;
  layout::RenderedCard card;
};
constexpr size_t kMaxPendingOutputs = 16;
// The card's production record and the batch reconciliation: fsync'ed with
// their folder before the job advances (core/file.h's durability list).
constexpr AtomicWriteOptions kRecordFile{.mode = 0640, .create_parents = true};
constexpr int kOutputWriteTries = 3;

// What the batch manifest needs of a produced card (images reloaded from
// disk when the manifest is written, so memory stays flat).
struct ProducedCard {
  layout::RenderedCard meta;  // images left empty
  fs::path dir;
};

struct Batch {
  BatchSnapshot snap;
  std::vector<ProducedCard> cards;
};

// A store row as the manifest prints it. A purged row keeps its job id,
// card number, UID and outcome; the name is gone.
layout::ManifestRow ToManifestRow(const server::BatchRow& r) {
  layout::ManifestRow m;
  m.job_id = r.job_id;
  m.student_name = r.purged ? "（已清除 purged）" : r.student_name;
  m.card_no = r.card_no;
  m.uid_hex = r.card_uid;
  m.reissue = r.reissue;
  m.code = r.code;
  using O = layout::ManifestOutcome;
  switch (r.state) {
    case JobState::kRejected:
      m.outcome = O::kRejected;
      break;
    case JobState::kFailed:
      m.outcome = O::kFailed;
      break;
    case JobState::kCancelled:
      m.outcome = O::kCancelled;
      break;
    case JobState::kReported:
    case JobState::kAcknowledged:
      m.outcome = r.voided ? O::kVoided : r.reprint ? O::kReprinted : O::kProduced;
      break;
    default:
      m.outcome = O::kPending;
  }
  return m;
}

}  // namespace

struct Line::Impl {
  server::ProductionSink& sink;
  LineOptions options;
  layout::Template tmpl;
  layout::RasterProfile profile;
  std::unique_ptr<encoder::Personalizer> personalizer;
  std::optional<layout::QrSigner> signer;
  std::optional<layout::QrVerifier> verifier;
  std::vector<std::unique_ptr<layout::CardRenderer>> renderers;

  struct Station {
    StationSetup setup;
    StationSnapshot snap;
    bool paused = false;
    bool out_of_rotation = false;
    bool keystore_wait = false;  // paused by itself until the keystore is back
    std::thread thread;
  };
  std::vector<std::unique_ptr<Station>> stations;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<server::JobContext> to_render;
  std::deque<std::unique_ptr<PreparedJob>> ready;
  int rendering = 0;
  bool stopping = false;
  std::vector<std::thread> render_threads;
  LineStats stats;
  std::map<std::string, Batch> batches;
  std::deque<PendingOutputs> pending_outputs;  // under mu
  std::mutex files_mu;  // serialises the batch files' writers (taken before mu)

  Impl(server::ProductionSink& s, LineOptions o) : sink(s), options(std::move(o)) {}

  const Clock& clock() const { return *options.clock; }

  // ---- bookkeeping (all under mu) ----
  Batch& BatchFor(const Job& job) {
    Batch& b = batches[job.school.code];
    b.snap.batch_id = job.school.code;
    b.snap.school_name = job.school.name;
    return b;
  }
  // Records a fault; station faults count toward taking the station out of
  // rotation unless `counts` is false (a fault the station recovered from).
  void Fault(Station& st, const Status& s, bool counts = true) {
    st.snap.last_faults.push_back(std::string(s.code_name()) + ": " + s.message());
    if (st.snap.last_faults.size() > 5) st.snap.last_faults.erase(st.snap.last_faults.begin());
    st.snap.faults.push_back(StationFaultRecord{
        std::chrono::duration_cast<std::chrono::milliseconds>(clock().Now().time_since_epoch())
            .count(),
        std::string(s.code_name()), s.message(), st.snap.current_job});
    if (st.snap.faults.size() > 10) st.snap.faults.erase(st.snap.faults.begin());
    // Durable until an operator acknowledges it (the dashboard's fault list).
    const StationFaultRecord& rec = st.snap.faults.back();
    sink.StationFault(server::StationFaultRow{0, rec.at_ms, st.snap.name, rec.code, rec.message,
                                              rec.job_id, std::nullopt, ""});
    stats.failures_by_code[std::string(s.code_name())]++;
    if (counts && IsStationFault(s.code())) {
      if (++st.snap.consecutive_failures >= options.station_failure_limit && !st.out_of_rotation) {
        st.out_of_rotation = true;
        std::cerr << "line: station " << st.snap.name << " taken out of rotation after "
                  << st.snap.consecutive_failures << " failures (last: " << s.code_name() << ")\n";
      }
    }
  }

  // A history row about `job`'s current card at station `st`.
  server::HistoryEvent Event(const Station& st, const PreparedJob& job, std::string kind,
                             std::string stage) const {
    server::HistoryEvent e;
    e.kind = std::move(kind);
    e.station = st.snap.name;
    e.printer = st.setup.printer->name();
    e.attempt = job.cards_used;
    e.uid = job.uid;
    e.stage = std::move(stage);
    return e;
  }

  // Writes the face copies, a few times; the caller records a failure.
  Status WriteOutputs(const layout::RenderedCard& card, const fs::path& dir) {
    Status s;
    for (int i = 0; i < kOutputWriteTries; ++i) {
      s = layout::WriteCardOutputs(card, dir.string(), options.outputs);
      if (s.ok()) return s;
    }
    return s;
  }

  // Rewrites face copies that failed earlier; each success is a history row.
  void RetryPendingOutputs() {
    std::deque<PendingOutputs> todo;
    {
      std::lock_guard lock(mu);
      todo.swap(pending_outputs);
    }
    std::deque<PendingOutputs> still;
    for (auto& p : todo) {
      Status s = layout::WriteCardOutputs(p.card, p.dir.string(), options.outputs);
      if (s.ok()) {
        server::HistoryEvent e;
        e.kind = "output";
        e.stage = "outputs";
        e.code = "OK";
        e.message = "face copies rewritten";
        Status r = sink.Record(p.job_id, {e});
        if (r.ok()) continue;
        // The history refused the row: keep the card so it is tried again.
      }
      still.push_back(std::move(p));
    }
    std::lock_guard lock(mu);
    for (auto& p : still) {
      if (pending_outputs.size() < kMaxPendingOutputs) pending_outputs.push_back(std::move(p));
    }
  }

  // ---- batch files ----
  // reconciliation.json (and manifest.pdf when `manifest`, or when one
  // exists already: a job changed outcome after it was written) for one
  // school. The numbers come from the store's one batch query
  // (JobStore::Batches, through the sink) so they equal the dashboard's;
  // the line's own counts only when the sink keeps no store.
  Status WriteBatchFiles(const std::string& id, bool manifest) {
    if (options.batches_dir.empty()) return Status::Ok();
    std::lock_guard files_lock(files_mu);  // one writer per set of files
    Batch b;
    {
      std::lock_guard lock(mu);
      auto it = batches.find(id);
      if (it == batches.end()) return Status::Ok();
      b = it->second;
    }
    const fs::path dir = options.batches_dir / id;
    nlohmann::json rec;
    auto counts = sink.CountBatch(id);
    if (counts.ok() && !counts->empty()) {
      const server::BatchCounts& c = counts->front();
      rec = {{"batch", id},
             {"school", b.snap.school_name},
             {"source", "store"},
             {"total", c.total},
             {"jobs", c.jobs},
             {"queued", c.queued},
             {"in_progress", c.in_progress},
             {"produced", c.produced},
             {"voided", c.voided},
             {"reprinted", c.reprints},
             {"rejected", c.rejected},
             {"failed", c.failed},
             {"cancelled", c.cancelled},
             {"cards_in", c.cards_in},
             {"cards_rejected", c.cards_rejected},
             {"balanced", c.cards_in == c.produced + c.cards_rejected}};
    } else if (!counts.ok() && counts.status().code() != Code::kNotFound) {
      return counts.status();  // the store failed: no numbers rather than wrong ones
    } else {
      rec = {{"batch", id},
             {"school", b.snap.school_name},
             {"source", "line"},
             {"jobs", b.snap.jobs},
             {"produced", b.snap.produced},
             {"failed", b.snap.failed},
             {"cancelled", b.snap.cancelled},
             {"cards_in", b.snap.cards_used},
             {"cards_rejected", b.snap.cards_rejected},
             {"reprinted", b.snap.reprinted},
             {"balanced", b.snap.cards_used == b.snap.produced + b.snap.cards_rejected}};
    }
    // The manifest's rows are the store's rows of the batch (the same rows
    // the counts above are made of); a sink without a store (test doubles)
    // prints this run's produced cards.
    auto rows = sink.BatchRows(id);
    if (!rows.ok() && rows.status().code() != Code::kNotFound) return rows.status();
    // The produced cards: from the store's rows (every run's, voided ones
    // marked), else this run's.
    nlohmann::json cards = nlohmann::json::array();
    if (rows.ok()) {
      for (const server::BatchRow& r : *rows) {
        if (r.state != JobState::kReported && r.state != JobState::kAcknowledged) continue;
        cards.push_back({{"job_id", r.job_id},
                         {"card_no", r.card_no},
                         {"uid", r.card_uid},
                         {"voided", r.voided}});
      }
    } else {
      for (const auto& c : b.cards) {
        cards.push_back({{"job_id", c.meta.summary.job_id}, {"card_no", c.meta.summary.card_no}});
      }
    }
    rec["cards"] = cards;
    // The card stock lots, from the same query as `cardbureau stock report`
    // and the dashboard (received = produced + spoiled + remaining).
    if (auto lots = sink.StockLots(); lots.ok() && !lots->empty()) {
      nlohmann::json stock = nlohmann::json::array();
      for (const auto& l : *lots) {
        stock.push_back({{"lot_id", l.lot_id},
                         {"received", l.received},
                         {"produced", l.produced},
                         {"spoiled", l.spoiled},
                         {"remaining", l.remaining},
                         {"balanced", l.received == l.produced + l.spoiled + l.remaining}});
      }
      rec["stock_lots"] = std::move(stock);
    }
    CB_RETURN_IF_ERROR(
        WriteFileAtomic(dir / "reconciliation.json", AsBytes(rec.dump(2)), kRecordFile));
    std::error_code ec;
    if (!manifest && !fs::exists(dir / "manifest.pdf", ec)) return Status::Ok();
    if (!rows.ok() && b.cards.empty()) return Status::Ok();
    std::vector<layout::RenderedCard> loaded;
    loaded.reserve(b.cards.size());
    for (const auto& c : b.cards) {
      layout::RenderedCard r = c.meta;
      // The one image decoder (layout/photo.h): bounded, never throws.
      auto front = layout::ReadImageFile((c.dir / "front.png").string(), "front");
      auto back = layout::ReadImageFile((c.dir / "back.png").string(), "back");
      if (!front.ok() || !back.ok()) continue;  // purged meanwhile
      r.images.front = std::move(front).value();
      r.images.back = std::move(back).value();
      loaded.push_back(std::move(r));
    }
    std::vector<const layout::RenderedCard*> ptrs;
    for (const auto& r : loaded) ptrs.push_back(&r);
    CB_ASSIGN_OR_RETURN(auto pdf, layout::ProofPdf::Create());
    if (rows.ok()) {
      layout::BatchManifest m;
      m.batch_id = id;
      m.school_code = id;
      m.school_name = b.snap.school_name;
      m.date = clock().TodayBeijing().ToIso();
      for (const server::BatchRow& r : *rows) m.rows.push_back(ToManifestRow(r));
      m.totals = layout::CountOutcomes(m.rows);
      CB_RETURN_IF_ERROR(ptrs.empty() ? pdf.AddManifest(m) : pdf.AddBatch(ptrs, m));
    } else {
      if (ptrs.empty()) return Status::Ok();
      CB_RETURN_IF_ERROR(pdf.AddBatch(ptrs));
    }
    return pdf.SaveToFile((dir / "manifest.pdf").string());
  }

  // Makes the batch `id` known to this run when an earlier run wrote its
  // files (after a restart the line knows a batch only when one of its jobs
  // starts): false when it has no files and this run has not seen it.
  bool KnowBatch(const std::string& id) {
    if (options.batches_dir.empty() || id.empty()) return false;
    {
      std::lock_guard lock(mu);
      if (batches.count(id)) return true;
    }
    const fs::path rec_path = options.batches_dir / id / "reconciliation.json";
    std::error_code ec;
    if (!fs::exists(rec_path, ec)) return false;
    std::ifstream in(rec_path);
    const nlohmann::json rec = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    std::lock_guard lock(mu);
    Batch& b = batches[id];
    b.snap.batch_id = id;
    if (b.snap.school_name.empty() && rec.is_object() && rec.contains("school") &&
        rec["school"].is_string()) {
      b.snap.school_name = rec["school"].get<std::string>();
    }
    return true;
  }

  // A job of `school`'s batch changed outcome (produced, failed, cancelled,
  // voided, refused): its batch files are regenerated. A failure is a fault
  // in the job's history and in the line's stats, not only a log line.
  void OutcomeChanged(const std::string& job_id, const std::string& school, bool manifest) {
    Status s = WriteBatchFiles(school, manifest);
    if (s.ok()) return;
    {
      std::lock_guard lock(mu);
      stats.failures_by_code[std::string(s.code_name())]++;
      stats.batch_report_error = s.ToString();
    }
    server::HistoryEvent e;
    e.kind = "fault";
    e.stage = "batch-files";
    e.code = std::string(s.code_name());
    e.message = "batch files not written: " + s.message();
    if (Status r = sink.Record(job_id, {e}); !r.ok()) {
      std::lock_guard lock(mu);
      stats.batch_report_error += "; history: " + r.ToString();
    }
  }

  // ---- render stage ----
  void RenderLoop(size_t index) {
    layout::CardRenderer& renderer = *renderers[index];
    for (;;) {
      server::JobContext ctx;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !to_render.empty(); });
        if (stopping) return;
        ctx = std::move(to_render.front());
        to_render.pop_front();
        ++rendering;
      }
      RenderOne(renderer, std::move(ctx));
      {
        std::lock_guard lock(mu);
        --rendering;
      }
      cv.notify_all();
    }
  }

  void RenderOne(layout::CardRenderer& renderer, server::JobContext ctx) {
    const std::string id = ctx.job_id;
    if (ctx.state == JobState::kEncoded || ctx.state == JobState::kPrinted ||
        ctx.state == JobState::kVerified) {
      ResumeAfterEncoding(ctx);
      return;
    }
    auto photo = printers::ReadFileLimited(ctx.photo_path, kMaxPhotoBytes);
    if (!photo.ok()) {
      sink.Failed(id, Status(Code::kPhotoUnreadable, "stored photo: " + photo.status().message()),
                  true);
      CountFailed(ctx.job_id, ctx.job);
      return;
    }
    auto prepared = renderer.Prepare(ctx.job, *photo);
    if (!prepared.ok()) {
      sink.Failed(id, prepared.status(), false);
      CountFailed(ctx.job_id, ctx.job);
      return;
    }
    if (ctx.state == JobState::kValidated) {
      Status s = sink.Advance(id, JobState::kRendered);
      if (!s.ok()) {
        if (s.code() != Code::kCancelled) sink.Failed(id, s, true);
        CountCancelled(ctx.job_id, ctx.job, s);
        return;
      }
      ctx.state = JobState::kRendered;
    }
    auto job = std::make_unique<PreparedJob>();
    job->ctx = std::move(ctx);
    job->card = std::move(*prepared);
    {
      std::lock_guard lock(mu);
      ready.push_back(std::move(job));
    }
    cv.notify_all();
  }

  void CountFailed(const std::string& job_id, const Job& job) {
    {
      std::lock_guard lock(mu);
      BatchFor(job).snap.failed++;
      stats.failed++;
    }
    OutcomeChanged(job_id, job.school.code, /*manifest=*/false);
  }
  void CountCancelled(const std::string& job_id, const Job& job, const Status& s) {
    {
      std::lock_guard lock(mu);
      if (s.code() == Code::kCancelled) {
        BatchFor(job).snap.cancelled++;
      } else {
        BatchFor(job).snap.failed++;
        stats.failed++;
      }
    }
    OutcomeChanged(job_id, job.school.code, /*manifest=*/false);
  }

  // A job that reached `encoded` or later in an earlier run: the chip must
  // not be encoded again. With the card's production record (written before
  // `encoded`) and the state `verified`, the outcome is known; otherwise an
  // operator must check the card.
  void ResumeAfterEncoding(const server::JobContext& ctx) {
    std::ifstream in(ctx.cards_dir / "production.json");
    nlohmann::json rec = nlohmann::json::parse(in, nullptr, false);
    if (ctx.state == JobState::kVerified && rec.is_object() && rec.contains("uid")) {
      server::CardOutcome out;
      out.card.uid = rec.value("uid", "");
      out.card.card_no = ctx.job.card.card_no;
      out.card.card_type = rec.value("card_type", std::string(ToString(ctx.job.card.card_type)));
      out.qa.chip = "ok";
      out.qa.face = "ok";
      out.station = rec.value("station", "");
      out.produced_at = rec.value("produced_at", clock().NowIsoBeijing());
      sink.Completed(ctx.job_id, out);
      return;
    }
    // The card bound at `encoded` was neither produced nor rejected: it is
    // recorded as rejected (quarantined), so that the batch's cards balance.
    server::HistoryEvent quarantined;
    quarantined.kind = "card";
    quarantined.stage = "rejected";
    quarantined.uid = rec.is_object() ? rec.value("uid", std::string()) : std::string();
    quarantined.code = std::string(CodeName(Code::kCardError));
    quarantined.message = "card quarantined for an operator (production stopped mid-card)";
    sink.FailedWith(
        ctx.job_id,
        Status(Code::kCardError, "production was interrupted after the chip was encoded (card " +
                                     (rec.is_object() ? rec.value("uid", std::string("?")) : "?") +
                                     "); an operator must check the card before a reprint"),
        false, {quarantined});
    CountFailed(ctx.job_id, ctx.job);
  }

  // ---- stations ----
  std::unique_ptr<PreparedJob> TakeJob(Station& st) {
    std::unique_lock lock(mu);
    for (;;) {
      if (stopping) return nullptr;
      if (!st.paused && !st.out_of_rotation) {
        for (auto it = ready.begin(); it != ready.end(); ++it) {
          if (st.setup.card_types.count((*it)->ctx.job.card.card_type)) {
            auto job = std::move(*it);
            ready.erase(it);
            st.snap.current_job = job->ctx.job_id;
            return job;
          }
        }
      }
      cv.wait_for(lock, std::chrono::milliseconds(200));
    }
  }

  void StationLoop(Station& st) {
    while (auto job = TakeJob(st)) {
      bool done = ProduceOne(st, *job);
      const printers::PrinterSupplies supplies = st.setup.printer->supplies();
      std::lock_guard lock(mu);
      st.snap.current_job.clear();
      st.snap.supplies = supplies;
      if (!done) {
        // Back to the queue for another card (this or another station).
        ready.push_front(std::move(job));
      }
      cv.notify_all();
    }
  }

  // Ejects the current card to the reject hopper and counts the fault on
  // the station; returns the job's history rows for it (the fault, and the
  // eject's own failure), for the caller to store.
  std::vector<server::HistoryEvent> EjectToReject(Station& st, PreparedJob& job, const Status& why,
                                                  std::string_view stage) {
    Status e = st.setup.printer->Eject(printers::Hopper::kReject);
    st.setup.source->WaitUntilEmpty(std::chrono::seconds(2));
    std::vector<server::HistoryEvent> events;
    if (stage == "feed") {
      // Fed but never at the reader: no attempt row was written for it.
      auto fed = Event(st, job, "attempt", "fed");
      fed.message = "card fed; it did not reach the reader";
      events.push_back(std::move(fed));
    }
    auto fault = WithStatus(Event(st, job, "fault", std::string(stage)), why);
    fault.message += e.ok() ? " (card to the reject hopper)" : " (reject hopper eject failed)";
    events.push_back(std::move(fault));
    if (!e.ok()) events.push_back(WithStatus(Event(st, job, "fault", "eject"), e));
    auto rejected = Event(st, job, "card", "rejected");
    rejected.code = std::string(why.code_name());
    rejected.message = "card to the reject hopper";
    events.push_back(std::move(rejected));
    std::lock_guard lock(mu);
    Fault(st, why);
    if (!e.ok()) Fault(st, e);
    st.snap.rejected_cards++;
    stats.cards_rejected++;
    BatchFor(job.ctx.job).snap.cards_rejected++;
    job.last_error = why;
    return events;
  }
  // As EjectToReject, storing the rows in the job's history.
  Status RejectCard(Station& st, PreparedJob& job, const Status& why, std::string_view stage) {
    Status s = sink.Record(job.ctx.job_id, EjectToReject(st, job, why, stage));
    CrashPointForTests("RejectCard");  // test-only: after the fault is recorded
    return s;
  }

  // The job's history could not be written (the store failed): the job is
  // not produced further here. Failed() may fail the same way; then the job
  // stays in its durable state and the next run takes it up.
  bool HistoryLost(PreparedJob& job, const Status& s) {
    sink.Failed(job.ctx.job_id, s, true);
    CountFailed(job.ctx.job_id, job.ctx.job);
    return true;
  }
  // A card fault: the card is rejected and recorded; false = try a fresh card.
  bool RetryWithNewCard(Station& st, PreparedJob& job, const Status& why, std::string_view stage) {
    Status r = RejectCard(st, job, why, stage);
    if (!r.ok()) return HistoryLost(job, r);
    return false;
  }

  // The pkcs11 keystore went away (KEYSTORE_UNAVAILABLE): the station
  // records it, shows the state "keystore" (Line::Stations) and waits,
  // probing the token every second with a throw-away diversification,
  // until the keystore answers again (the backend reconnects by itself)
  // or the line stops. Returns false when stopping.
  bool WaitForKeystore(Station& st, const Status& why, bool record = true) {
    const auto backend = options.keys.backend;
    std::unique_lock lock(mu);
    if (record) Fault(st, why, /*counts=*/false);
    if (!backend) return !stopping;
    st.keystore_wait = true;
    std::cerr << "line: station " << st.snap.name << " paused: " << why.code_name() << "\n";
    for (;;) {
      if (stopping) break;
      lock.unlock();
      const bool back =
          backend->Diversify(encoder::MasterKeyId::kMac, AsBytes("cardbureau-probe")).ok();
      lock.lock();
      if (back || stopping) break;
      cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; });
    }
    st.keystore_wait = false;
    if (!stopping) std::cerr << "line: station " << st.snap.name << " resumed: keystore back\n";
    return !stopping;
  }

  // ---- One card through a station: ProduceOne and its steps ----
  //
  // Each step either hands the card on to the next (kNext) or ends the
  // attempt with ProduceOne's answer: true = the job is finished
  // (completed, failed or cancelled), false = try again with a fresh card.
  using Step = std::optional<bool>;
  static constexpr Step kNext = std::nullopt;

  // What the steps learn about the card in hand.
  struct CardAttempt {
    std::string card_id;
    encoder::EncodeParams params;
    std::unique_ptr<devices::CardChannel> card;
    std::optional<encoder::EncodeOutcome> chip;  // once encoded
    std::string uid;                             // the chip's UID, hex
    std::optional<layout::RenderedCard> face;    // once composed with the QR
    std::string card_type;                       // once recorded
    std::string produced_at;
    std::optional<QaResult> qa;                     // once verified
    std::vector<server::HistoryEvent> finish_rows;  // go with the report
    Status outputs;                                 // the face copies' write
  };

  // Returns true when the job is finished (completed, failed or cancelled),
  // false to try again with a fresh card.
  bool ProduceOne(Station& st, PreparedJob& job) {
    if (job.cards_used >= options.max_tries) return OutOfTries(job);
    CardAttempt a;
    a.card_id = job.ctx.job_id + "." + std::to_string(job.cards_used + 1);
    // (`if (Step r = ...)` is true when the step ended the attempt.)
    // (CrashPointForTests: test-only kill points, inert unless the test
    // environment variable is set; see crash_point.h.)
    if (Step r = FeedCard(st, job, a)) return *r;
    CrashPointForTests("FeedCard");
    if (Step r = RecordAttempt(st, job, a)) return *r;
    CrashPointForTests("RecordAttempt");
    if (Step r = EncodeChip(st, job, a)) return *r;
    CrashPointForTests("EncodeChip");
    if (Step r = ComposeFace(st, job, a)) return *r;
    CrashPointForTests("ComposeFace");
    if (Step r = CheckFace(st, job, a)) return *r;
    CrashPointForTests("CheckFace");
    if (Step r = PrintFaces(st, job, a)) return *r;
    CrashPointForTests("PrintFaces");
    if (Step r = WriteProductionRecord(st, job, a)) return *r;
    CrashPointForTests("WriteProductionRecord");
    if (Step r = AdvanceEncodedAndPrinted(st, job, a)) return *r;
    CrashPointForTests("AdvanceEncodedAndPrinted");
    if (Step r = QaAfterPrinting(st, job, a)) return *r;
    CrashPointForTests("QaAfterPrinting");
    const bool finished = Finish(st, job, a);
    CrashPointForTests("Finish");
    return finished;
  }

  bool OutOfTries(PreparedJob& job) {
    sink.Failed(job.ctx.job_id,
                job.last_error.ok() ? Status(Code::kInternal, "no card tried") : job.last_error,
                true);
    CountFailed(job.ctx.job_id, job.ctx.job);
    return true;
  }

  // A blank card from the hopper to the reader; it counts against the job.
  Step FeedCard(Station& st, PreparedJob& job, CardAttempt& a) {
    job.uid.clear();
    job.transit_no.clear();
    Status s = st.setup.printer->Feed(a.card_id, job.ctx.job.card.card_type);
    if (!s.ok()) {
      {
        std::lock_guard lock(mu);
        Fault(st, s);
      }
      auto ev = WithStatus(Event(st, job, "fault", "feed"), s);
      ev.attempt = 0;  // no card consumed for the job
      if (Status r = sink.Record(job.ctx.job_id, {ev}); !r.ok()) return HistoryLost(job, r);
      return false;  // try again
    }
    job.cards_used++;
    {
      std::lock_guard lock(mu);
      BatchFor(job.ctx.job).snap.cards_used++;
    }
    auto channel = st.setup.source->WaitForCard(options.card_wait);
    if (!channel.ok() || !channel->has_value()) {
      return RetryWithNewCard(st, job,
                              channel.ok()
                                  ? Status(Code::kCardTimeout, "no card reached the reader")
                                  : channel.status(),
                              "feed");
    }
    a.card = std::move(**channel);
    return kNext;
  }

  // The attempt is in the history before the chip is touched (the first
  // one moves the job to `encoding`).
  Step RecordAttempt(Station& st, PreparedJob& job, CardAttempt& a) {
    auto attempt = Event(st, job, "attempt", "at-reader");
    attempt.message = "card " + a.card_id;
    if (!job.encoding_recorded) {
      Status s = sink.AdvanceWith(job.ctx.job_id, JobState::kEncoding, {attempt});
      if (!s.ok()) return Abandon(st, job, s);
      job.encoding_recorded = true;
    } else {
      Status s = sink.Record(job.ctx.job_id, {attempt});
      if (!s.ok()) return Abandon(st, job, s);
    }
    return kNext;
  }

  // Personalizes the chip, resuming on the same card after a transport
  // loss; a keystore outage leaves the card blank and waits for the keys.
  Step EncodeChip(Station& st, PreparedJob& job, CardAttempt& a) {
    const Job& j = job.ctx.job;
    const std::string& id = job.ctx.job_id;
    a.params = {clock().TodayBeijing(), IssueSequence(j)};
    // The stock check, as soon as the UID is read and before anything is
    // written: the card must be an unused card of an imported lot of the
    // job's card type (stock.h). Its lot gives the transit number.
    const encoder::UidCheck check_stock = [&](ByteView uid_bytes) -> Status {
      job.uid = ToHex(uid_bytes);
      auto info = sink.CheckStock(id, job.uid, j.card.card_type, options.stock_required);
      if (!info.ok()) return info.status();
      job.transit_no = info->transit_no;
      return Status::Ok();
    };
    auto outcome = personalizer->Encode(*a.card, j, a.params, check_stock);
    // The card slipped out of the field, or the transport lost it (vpcd and
    // some readers report a pulled card as a failed transaction): put it
    // back, reconnect and resume on the same card — the write order makes
    // that safe.
    for (int resume = 0; resume < 2 && !outcome.ok() && IsTransportLoss(outcome.status().code());
         ++resume) {
      {
        std::lock_guard lock(mu);
        Fault(st, outcome.status(), /*counts=*/false);
      }
      auto lost = WithStatus(Event(st, job, "fault", "encode"), outcome.status());
      lost.message += " (reseating the card to resume)";
      std::vector<server::HistoryEvent> rows{lost};
      a.card.reset();
      Status reseat = st.setup.printer->Reseat();
      if (!reseat.ok()) {
        // The printer cannot put the card back: resuming is impossible.
        rows.push_back(WithStatus(Event(st, job, "fault", "reseat"), reseat));
        if (Status r = sink.Record(id, std::move(rows)); !r.ok()) return HistoryLost(job, r);
        {
          std::lock_guard lock(mu);
          Fault(st, reseat);
        }
        break;
      }
      if (Status r = sink.Record(id, std::move(rows)); !r.ok()) return HistoryLost(job, r);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto again = st.setup.source->WaitForCard(options.card_wait);
      if (!again.ok() || !again->has_value()) break;
      a.card = std::move(**again);
      outcome = personalizer->Encode(*a.card, j, a.params, check_stock);
    }
    if (!outcome.ok() && outcome.status().code() == Code::kKeystoreUnavailable) {
      // The keys are derived before the first write: the card is still
      // blank (rejected and accounted as such). Not the job's fault: the
      // card does not count against its tries.
      if (Status r = RejectCard(st, job, outcome.status(), "encode"); !r.ok()) {
        return HistoryLost(job, r);
      }
      job.cards_used--;
      (void)WaitForKeystore(st, outcome.status(), /*record=*/false);
      return false;
    }
    if (!outcome.ok() && IsStockFault(outcome.status().code())) {
      // Nothing was written: the card goes to the reject hopper with the
      // code (the lot records it spoiled when it is a card of a lot) and
      // the job takes a fresh card.
      return RetryWithNewCard(st, job, outcome.status(), "stock");
    }
    if (!outcome.ok()) {
      if (IsJobFault(outcome.status().code())) {
        auto rows = EjectToReject(st, job, outcome.status(), "encode");
        sink.FailedWith(id, outcome.status(), false, std::move(rows));
        CountFailed(id, j);
        return true;
      }
      return RetryWithNewCard(st, job, outcome.status(), "encode");
    }
    a.chip = std::move(*outcome);
    a.uid = ToHex(a.chip->uid);
    job.uid = a.uid;
    return kNext;
  }

  // The face gets its signed QR naming the chip's UID. The chip is
  // encoded: a keystore that went away before the QR was signed is waited
  // for with the card in the station.
  Step ComposeFace(Station& st, PreparedJob& job, CardAttempt& a) {
    auto rendered =
        renderers[0]->ComposeQr(job.card, a.uid, a.params.issue_sequence, *signer, job.transit_no);
    while (!rendered.ok() && rendered.status().code() == Code::kKeystoreUnavailable &&
           WaitForKeystore(st, rendered.status())) {
      rendered = renderers[0]->ComposeQr(job.card, a.uid, a.params.issue_sequence, *signer,
                                         job.transit_no);
    }
    if (!rendered.ok()) {
      auto rows = EjectToReject(st, job, rendered.status(), "compose");
      sink.FailedWith(job.ctx.job_id, rendered.status(), false, std::move(rows));
      CountFailed(job.ctx.job_id, job.ctx.job);
      return true;
    }
    a.face = std::move(*rendered);
    return kNext;
  }

  // The face is checked against the chip before anything is printed.
  Step CheckFace(Station& st, PreparedJob& job, CardAttempt& a) {
    auto payload = layout::DecodeQrFromImage(QrRegion(a.face->images.front, job.card.qr_box));
    Status s = payload.ok() ? CheckFaceAgainstChip(*payload, *verifier, a.chip->record, a.chip->uid)
                            : payload.status();
    if (!s.ok()) return RetryWithNewCard(st, job, s, "face-check");
    return kNext;
  }

  Step PrintFaces(Station& st, PreparedJob& job, CardAttempt& a) {
    printers::PrintData data;
    data.job_id = job.ctx.job_id;
    data.card_id = a.card_id;
    for (auto [mat, out] : {std::pair{&a.face->images.front, &data.front_png},
                            std::pair{&a.face->images.back, &data.back_png},
                            std::pair{&a.face->images.front_k, &data.front_k_png},
                            std::pair{&a.face->images.back_k, &data.back_k_png}}) {
      auto png = layout::EncodePng(*mat);
      if (!png.ok()) return RetryWithNewCard(st, job, png.status(), "print");
      *out = std::move(*png);
    }
    Status s = st.setup.printer->Print(data);
    if (!s.ok()) return RetryWithNewCard(st, job, s, "print");  // the encoded card is voided
    return kNext;
  }

  // The card exists: record it before the state says so.
  Step WriteProductionRecord(Station& st, PreparedJob& job, CardAttempt& a) {
    a.produced_at = clock().NowIsoBeijing();
    a.card_type =
        a.chip->size == devices::CardSize::k4K ? "mifare-classic-4k" : "mifare-classic-1k";
    nlohmann::json prod = {
        {"job_id", job.ctx.job_id},    {"card_id", a.card_id},    {"uid", a.uid},
        {"card_type", a.card_type},    {"station", st.snap.name}, {"produced_at", a.produced_at},
        {"cards_used", job.cards_used}};
    Status s =
        WriteFileAtomic(job.ctx.cards_dir / "production.json", AsBytes(prod.dump(2)), kRecordFile);
    if (!s.ok()) {
      // Without its production record a card cannot be proven: the job is
      // held with the code (failed, retryable) instead of being reported.
      const Status why(s.code(), "production record not written: " + s.message());
      auto rows = EjectToReject(st, job, why, "record");
      sink.FailedWith(job.ctx.job_id, why, true, std::move(rows));
      CountFailed(job.ctx.job_id, job.ctx.job);
      return true;
    }
    return kNext;
  }

  // The store learns the card: `encoded` binds its UID, then `printed`.
  Step AdvanceEncodedAndPrinted(Station& st, PreparedJob& job, CardAttempt& a) {
    auto encoded = Event(st, job, "card", "encoded");
    encoded.message = "chip " + std::string(encoder::ToString(a.chip->kind)) + ", " +
                      std::to_string(a.chip->apdus) + " APDUs, record verified; card " + a.card_id;
    Status s = sink.AdvanceWith(job.ctx.job_id, JobState::kEncoded, {encoded});
    // The store refuses a UID bound to another live card: this card goes to
    // the reject hopper and the job takes a fresh one.
    if (s.code() == Code::kDuplicateUid) return RetryWithNewCard(st, job, s, "bind");
    if (!s.ok()) return Abandon(st, job, s);
    s = sink.AdvanceWith(job.ctx.job_id, JobState::kPrinted, {Event(st, job, "card", "printed")});
    if (!s.ok()) return Abandon(st, job, s);
    return kNext;
  }

  // QA: the card as it leaves the printer.
  Step QaAfterPrinting(Station& st, PreparedJob& job, CardAttempt& a) {
    const Job& j = job.ctx.job;
    auto qa = VerifyCard(*a.card, QrRegion(a.face->images.front, job.card.qr_box), options.keys,
                         *verifier, &j);
    if (!qa.ok() || !qa->ok()) {
      Status why = !qa.ok() ? qa.status() : (!qa->chip.ok() ? qa->chip : qa->face);
      auto verdict = WithStatus(Event(st, job, "qa", "qa"), why);
      if (qa.ok()) verdict.message = "chip: " + qa->chip_text() + "; face: " + qa->face_text();
      std::vector<server::HistoryEvent> rows{verdict};
      for (auto& r : EjectToReject(st, job, why, "qa")) rows.push_back(std::move(r));
      sink.FailedWith(job.ctx.job_id,
                      Status(Code::kVerifyMismatch, "QA after printing: " + why.ToString()), true,
                      std::move(rows));
      CountFailed(job.ctx.job_id, j);
      return true;
    }
    auto verdict = Event(st, job, "qa", "qa");
    verdict.code = "OK";
    verdict.message = "chip: " + qa->chip_text() + "; face: " + qa->face_text();
    Status s = sink.AdvanceWith(job.ctx.job_id, JobState::kVerified, {verdict});
    if (!s.ok()) return Abandon(st, job, s);
    a.qa = std::move(*qa);
    return kNext;
  }

  // The bureau's copies of the faces, the card to the output hopper, the
  // completed report and the counts.
  bool Finish(Station& st, PreparedJob& job, CardAttempt& a) {
    const Job& j = job.ctx.job;
    const std::string& id = job.ctx.job_id;
    a.outputs = WriteOutputs(*a.face, job.ctx.cards_dir);
    if (!a.outputs.ok()) {
      // The card is good (its record is written); the bureau's copies of
      // the faces are not: a fault in the history and on the dashboard, and
      // the files are rewritten later.
      const Status& s = a.outputs;
      a.finish_rows.push_back(WithStatus(Event(st, job, "fault", "outputs"), s));
      a.finish_rows.back().message = "face copies not written (will be rewritten): " + s.message();
      std::lock_guard lock(mu);
      Fault(st, s, /*counts=*/false);
      if (pending_outputs.size() < kMaxPendingOutputs) {
        pending_outputs.push_back(PendingOutputs{id, job.ctx.cards_dir, *a.face});
      }
    }
    a.card.reset();
    Status ej = st.setup.printer->Eject(printers::Hopper::kOutput);
    st.setup.source->WaitUntilEmpty(std::chrono::seconds(2));
    if (!ej.ok()) a.finish_rows.push_back(WithStatus(Event(st, job, "fault", "eject"), ej));

    server::CardOutcome out;
    out.card.uid = a.uid;
    out.card.card_no = j.card.card_no;
    out.card.card_type = a.card_type;
    out.qa.chip = a.qa->chip_text();
    out.qa.face = a.qa->face_text();
    out.station = st.snap.name;
    out.produced_at = a.produced_at;
    out.history = std::move(a.finish_rows);
    sink.Completed(id, out);
    if (a.outputs.ok()) RetryPendingOutputs();  // the disk takes writes again

    {
      std::lock_guard lock(mu);
      if (!ej.ok()) Fault(st, ej);
      st.snap.produced++;
      st.snap.consecutive_failures = 0;
      stats.produced++;
      Batch& b = BatchFor(j);
      b.snap.produced++;
      if (job.cards_used > 1) b.snap.reprinted++;
      ProducedCard pc;
      pc.meta.summary = a.face->summary;
      pc.meta.texts = a.face->texts;
      pc.meta.qr_payload = a.face->qr_payload;
      pc.meta.profile = a.face->profile;
      pc.dir = job.ctx.cards_dir;
      b.cards.push_back(std::move(pc));
    }
    OutcomeChanged(id, j.school.code, /*manifest=*/false);
    return true;
  }

  // The server refused a transition (cancelled meanwhile, or a store error):
  // the card goes to the reject hopper and the job is dropped here.
  bool Abandon(Station& st, PreparedJob& job, const Status& s) {
    auto rows = EjectToReject(st, job, s, "abandon");
    if (s.code() != Code::kCancelled) {
      sink.FailedWith(job.ctx.job_id, s, true, std::move(rows));
    } else if (Status r = sink.Record(job.ctx.job_id, std::move(rows)); !r.ok()) {
      std::lock_guard lock(mu);
      Fault(st, r, /*counts=*/false);  // the job is already terminal; the station shows it
    }
    CountCancelled(job.ctx.job_id, job.ctx.job, s);
    return true;
  }
};

Line::Line(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Line::~Line() { Stop(); }

Result<std::unique_ptr<Line>> Line::Create(server::ProductionSink& sink, LineOptions options,
                                           std::vector<StationSetup> stations) {
  if (stations.empty())
    return Status(Code::kInvalidConfig, "a line needs at least one station", "stations");
  if (options.max_tries < 1) return Status(Code::kInvalidConfig, "must be at least 1", "max_tries");
  auto impl = std::make_unique<Impl>(sink, std::move(options));
  CB_ASSIGN_OR_RETURN(impl->tmpl, layout::LoadTemplate(impl->options.template_name));
  CB_ASSIGN_OR_RETURN(impl->profile, layout::FindProfile(impl->options.profile));
  if (const auto backend = impl->options.keys.backend) {
    // The signing key stays on the token (pkcs11 keystore): sign there.
    impl->signer.emplace(layout::QrSigner::FromSignFunction(
        [backend](ByteView m) { return backend->SignEd25519(m); }));
    CB_ASSIGN_OR_RETURN(std::string pub, backend->PublicKeyPem());
    CB_ASSIGN_OR_RETURN(auto verifier, layout::QrVerifier::FromPem(pub));
    impl->verifier.emplace(std::move(verifier));
  } else {
    if (impl->options.keys.sign_key_path.empty()) {
      return Status(Code::kInvalidConfig, "the keystore names no sign_key", "sign_key");
    }
    CB_ASSIGN_OR_RETURN(auto signer,
                        layout::QrSigner::FromPemFile(impl->options.keys.sign_key_path));
    impl->signer.emplace(std::move(signer));
    CB_ASSIGN_OR_RETURN(auto verifier,
                        layout::QrVerifier::FromPemFile(impl->options.keys.sign_key_path));
    impl->verifier.emplace(std::move(verifier));
  }
  impl->personalizer = std::make_unique<encoder::Personalizer>(impl->options.keys);
  const int threads = std::max(1, impl->options.render_threads);
  for (int i = 0; i < threads; ++i) {
    CB_ASSIGN_OR_RETURN(
        auto r, layout::CardRenderer::Create(impl->tmpl, impl->profile, impl->options.photo));
    impl->renderers.push_back(std::move(r));
  }
  std::set<std::string> names;
  for (auto& setup : stations) {
    if (!setup.printer || !setup.source) {
      return Status(Code::kInvalidConfig, "station needs a printer and a reader",
                    "stations." + setup.name);
    }
    if (!names.insert(setup.name).second) {
      return Status(Code::kInvalidConfig, "duplicate station name " + setup.name, "stations");
    }
    auto st = std::make_unique<Impl::Station>();
    st->snap.name = setup.name;
    st->snap.printer_kind = std::string(setup.printer->kind());
    st->snap.reader = setup.source->Describe();
    st->snap.supplies = setup.printer->supplies();
    st->setup = std::move(setup);
    impl->stations.push_back(std::move(st));
  }
  Impl* raw = impl.get();
  for (int i = 0; i < threads; ++i) {
    raw->render_threads.emplace_back([raw, i] { raw->RenderLoop(static_cast<size_t>(i)); });
  }
  for (auto& st : raw->stations) {
    Impl::Station* s = st.get();
    st->thread = std::thread([raw, s] { raw->StationLoop(*s); });
  }
  return std::unique_ptr<Line>(new Line(std::move(impl)));
}

void Line::Start(server::JobContext job) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stats.jobs_started++;
    impl_->BatchFor(job.job).snap.jobs++;
    impl_->to_render.push_back(std::move(job));
  }
  impl_->cv.notify_all();
}

void Line::Stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping && impl_->render_threads.empty()) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->render_threads) t.join();
  impl_->render_threads.clear();
  for (auto& st : impl_->stations) {
    if (st->thread.joinable()) st->thread.join();
  }
  impl_->RetryPendingOutputs();
  Status s = WriteBatchReports();
  std::lock_guard lock(impl_->mu);
  if (!s.ok()) {
    // Not only printed: the line's stats (dashboard, demo summary) carry it.
    std::cerr << "line: batch reports: " << s << "\n";
    impl_->stats.failures_by_code[std::string(s.code_name())]++;
    impl_->stats.batch_report_error = s.ToString();
  } else {
    impl_->stats.batch_report_error.clear();
  }
}

std::vector<StationSnapshot> Line::Stations() const {
  std::lock_guard lock(impl_->mu);
  std::vector<StationSnapshot> out;
  for (const auto& st : impl_->stations) {
    StationSnapshot s = st->snap;
    // An operator's pause shows over a keystore outage (the Resume button
    // stays right); the outage's KEYSTORE_UNAVAILABLE is in the faults.
    s.state = st->out_of_rotation      ? "out-of-rotation"
              : st->paused             ? "paused"
              : st->keystore_wait      ? "keystore"
              : !s.current_job.empty() ? "busy"
                                       : "idle";
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<BatchSnapshot> Line::Batches() const {
  std::lock_guard lock(impl_->mu);
  std::vector<BatchSnapshot> out;
  for (const auto& [id, b] : impl_->batches) out.push_back(b.snap);
  return out;
}

std::filesystem::path Line::batches_dir() const { return impl_->options.batches_dir; }

LineStats Line::Stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

size_t Line::QueueDepth() const {
  std::lock_guard lock(impl_->mu);
  return impl_->to_render.size() + impl_->ready.size() + static_cast<size_t>(impl_->rendering);
}

Status Line::PauseStation(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  for (auto& st : impl_->stations) {
    if (st->snap.name == name) {
      st->paused = true;
      return Status::Ok();
    }
  }
  return Status(Code::kNotFound, "no station " + name);
}

Status Line::ResumeStation(const std::string& name) {
  {
    std::lock_guard lock(impl_->mu);
    auto it = std::find_if(impl_->stations.begin(), impl_->stations.end(),
                           [&](const auto& st) { return st->snap.name == name; });
    if (it == impl_->stations.end()) return Status(Code::kNotFound, "no station " + name);
    (*it)->paused = false;
    (*it)->out_of_rotation = false;
    (*it)->snap.consecutive_failures = 0;
  }
  impl_->cv.notify_all();
  return Status::Ok();
}

Status Line::Purge(const std::vector<server::JobStore::PurgedJob>& jobs) {
  // The printers' Purge touches only the files of long-finished cards, no
  // printer state, so it is safe beside a station's thread.
  for (const auto& st : impl_->stations) {
    for (const auto& j : jobs) CB_RETURN_IF_ERROR(st->setup.printer->Purge(j.job_id));
  }
  std::set<std::string> schools;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& j : jobs) {
      if (j.school_code.empty()) continue;
      schools.insert(j.school_code);
      Batch& b = impl_->batches[j.school_code];  // after a restart: known from the store only
      b.snap.batch_id = j.school_code;
      std::erase_if(b.cards,
                    [&](const ProducedCard& c) { return c.meta.summary.job_id == j.job_id; });
    }
  }
  if (const auto& cache = impl_->options.photo.cache; cache) {
    for (const auto& j : jobs) cache->EvictPhoto(j.photo_sha256);
  }
  for (const auto& school : schools) {
    std::error_code ec;
    const bool had_manifest = fs::exists(impl_->options.batches_dir / school / "manifest.pdf", ec);
    CB_RETURN_IF_ERROR(impl_->WriteBatchFiles(school, had_manifest));
  }
  return Status::Ok();
}

void Line::OutcomeChanged(const std::string& job_id, const std::string& school_code,
                          bool manifest) {
  if (!impl_->KnowBatch(school_code)) return;  // no files of it to keep true
  impl_->OutcomeChanged(job_id, school_code, manifest);
}

Status Line::WriteBatchReports() {
  if (impl_->options.batches_dir.empty()) return Status::Ok();
  std::vector<std::string> ids;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [id, b] : impl_->batches) ids.push_back(id);
  }
  for (const auto& id : ids) CB_RETURN_IF_ERROR(impl_->WriteBatchFiles(id, /*manifest=*/true));
  return Status::Ok();
}

}  // namespace cardbureau::line
