// `cardbureau validate`: check a job file (and optionally its photo) against
// the protocol field rules.
#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cardbureau/core/command.h"
#include "cardbureau/core/file.h"
#include "cardbureau/core/job.h"
#include "cardbureau/core/validate_command.h"
#include "cardbureau/core/validation.h"

namespace cardbureau::core {
namespace {

namespace po = boost::program_options;

int RunValidate(const IntakeCheck& check, int argc, char** argv) {
  const std::string usage =
      std::string(
          "Usage: cardbureau validate JOB.json [--photo FILE] [--json] [--today YYYY-MM-DD]\n\n"
          "Checks a protocol v1 job against every field rule (protocol.md) and, with\n") +
      (check ? "--photo, every check `serve` runs before accepting a job: the font chain's\n"
               "glyph coverage (UNRENDERABLE_GLYPH), the photo frame's size, sha256 and\n"
               "format, and the photo pipeline (decode, one face, size, light, blur).\n"
             : "--photo, the photo frame's size, sha256 and format.\n") +
      "Prints OK or 'CODE field: message'. Exit 0 when valid, 1 when refused, 2 on\n"
      "usage error, 3 when a file cannot be read.\n\nOptions";
  po::options_description opts(usage);
  std::string job_path, photo_path, today;
  opts.add_options()("help,h", "show this help")("photo", po::value(&photo_path),
                                                 "photo file sent as frame 1 (JPEG or PNG)")(
      "json", "print the outcome as one JSON object")(
      "today", po::value(&today), "evaluate date rules as of this Beijing date (testing)")(
      "job", po::value(&job_path), "job JSON file");
  po::positional_options_description pos;
  pos.add("job", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "cardbureau validate: " << e.what() << "\n\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (job_path.empty()) {
    std::cerr << "cardbureau validate: a job file is required\n\n" << opts << "\n";
    return 2;
  }
  std::optional<ManualClock> fixed;
  if (!today.empty()) {
    auto d = ParseIsoDate(today);
    if (!d) {
      std::cerr << "cardbureau validate: --today must be YYYY-MM-DD\n";
      return 2;
    }
    fixed.emplace(ManualClock::AtBeijingDate(*d).Now());
  }
  const bool as_json = vm.count("json") > 0;

  Status status;
  std::string job_id;
  auto text = ReadFileWithLimit(job_path, kMaxJobJsonBytes);
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
        auto photo = ReadFileWithLimit(photo_path, kMaxPhotoBytes);
        const Clock& clock = fixed ? static_cast<const Clock&>(*fixed) : SystemClock::Instance();
        status = photo.ok() ? check(*job, AsBytes(*photo), clock)
                            : Status(Code::kPhotoUnreadable, photo.status().message(), "photo");
      } else {
        status = ValidateJob(*job, vo);
        if (status.ok() && !photo_path.empty()) {
          auto photo = ReadFileWithLimit(photo_path, kMaxPhotoBytes);
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
  }
  if (status.ok()) return 0;
  return status.code() == Code::kIoError ? 3 : 1;
}

}  // namespace

Command MakeValidateCommand(IntakeCheck check) {
  return {
      "validate", "check a job file (and photo) as the bureau's intake does",
      [check = std::move(check)](int argc, char** argv) { return RunValidate(check, argc, argv); }};
}

std::vector<Command> Commands() { return {MakeValidateCommand(nullptr)}; }

}  // namespace cardbureau::core
