// `cardbureau validate`: check a job file (and optionally its photo) against
// the protocol field rules.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cardbureau/core/cli.h"
#include "cardbureau/core/command.h"
#include "cardbureau/core/file.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/validate_command.h"
#include "cardbureau/core/validation.h"

namespace cardbureau::core {
namespace {

namespace po = boost::program_options;  // option values (cli.h)

int RunValidate(const IntakeCheck& check, int argc, char** argv) {
  cli::Cli cli(
      "validate", "JOB.json [--photo FILE] [--json] [--today YYYY-MM-DD]",
      std::string("Checks a protocol v1 job against every field rule (protocol.md) and, with\n") +
          (check ? "--photo, every check `serve` runs before accepting a job: the font chain's\n"
                   "glyph coverage (UNRENDERABLE_GLYPH), the photo frame's size, sha256 and\n"
                   "format, and the photo pipeline (decode, one face, size, light, blur).\n"
                 : "--photo, the photo frame's size, sha256 and format.\n") +
          "Prints OK or 'CODE field: message'. Exit 0 when valid, 1 when refused, 2 on\n"
          "usage error, 3 when a file cannot be read.");
  std::string job_path, photo_path, today;
  cli.Options()("photo", po::value(&photo_path), "photo file sent as frame 1 (JPEG or PNG)")(
      "json", "print the outcome as one JSON object")(
      "today", po::value(&today), "evaluate date rules as of this Beijing date (testing)")(
      "job", po::value(&job_path), "job JSON file (or the first argument)");
  cli.Positional("job", "JOB.json");
  cli.Example("cardbureau validate fixtures/jobs/valid-junior-reissue.json");
  cli.Example("cardbureau validate job.json --photo photo.jpg --json");
  if (auto rc = cli.Parse(argc, argv)) return *rc;
  if (auto rc = cli.Require({"job"})) return *rc;
  std::optional<ManualClock> fixed;
  if (!today.empty()) {
    auto d = ParseIsoDate(today);
    if (!d) return cli.Usage("--today must be YYYY-MM-DD, not '" + today + "'");
    fixed.emplace(ManualClock::AtBeijingDate(*d).Now());
  }
  const bool as_json = cli.Has("json");

  Status status;
  std::string job_id;
  auto text = cli::ReadInputFile(job_path, kMaxJobJsonBytes, "job");
  if (!text.ok()) {
    status = text.status();
  } else {
    auto job = ParseJob(*text);
    if (!job.ok()) {
      status = job.status();
    } else {
      job_id = job->job_id;
      ValidationOptions vo;
      if (fixed) vo.clock = &*fixed;
      if (check && !photo_path.empty()) {
        // The bureau's intake check, exactly as serve runs it.
        auto photo = cli::ReadInputFile(photo_path, kMaxPhotoBytes, "photo");
        const Clock& clock = fixed ? static_cast<const Clock&>(*fixed) : SystemClock::Instance();
        status = photo.ok() ? check(*job, AsBytes(*photo), clock)
                            : Status(Code::kPhotoUnreadable, photo.status().message(), "photo");
      } else {
        status = ValidateJob(*job, vo);
        if (status.ok() && !photo_path.empty()) {
          auto photo = cli::ReadInputFile(photo_path, kMaxPhotoBytes, "photo");
          status = photo.ok() ? ValidatePhotoBytes(*job, AsBytes(*photo))
                              : Status(Code::kPhotoUnreadable, photo.status().message(), "photo");
        }
      }
    }
  }
  if (as_json) {
    nlohmann::json out = {{"ok", status.ok()}, {"code", status.code_name()}};
    if (!job_id.empty()) out["job_id"] = job_id;
    if (!status.ok()) {
      out["field"] = status.field();
      out["message"] = status.message();
    }
    std::cout << out.dump() << "\n";
  } else {
    std::cout << status.ToString() << "\n";
    // The verdict is the output; a file that could not be read is also said
    // on stderr, in the commands' voice.
    if (status.code() == Code::kIoError) cli.Note(status.ToString());
  }
  return cli::ExitCodeFor(status);
}

}  // namespace

Command MakeValidateCommand(IntakeCheck check) {
  return {
      "validate", "check a job file (and photo) as the bureau's intake does",
      [check = std::move(check)](int argc, char** argv) { return RunValidate(check, argc, argv); }};
}

std::vector<Command> Commands() { return {MakeValidateCommand(nullptr)}; }

}  // namespace cardbureau::core
