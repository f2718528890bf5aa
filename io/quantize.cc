// Quantizes the `*.weight` matrices of a safetensors checkpoint to NVFP4, MXFP4 or INT4 K2,
// stored under the names of io/checkpoint.h:
//   bazel run -c opt //io:quantize -- --input=IN.safetensors --output=OUT.safetensors
//       --format=nvfp4|mxfp4|int4_k2 [--group_size=32]
// or the routed experts of a model folder (io/quantize_model.h) into a new folder:
//   bazel run -c opt //io:quantize -- --model=DIR --output=OUTDIR --format=...
//       [--group_size=32 --include=REGEX --exclude=REGEX --threads=N]
// Exit code 1 with a message on any error; the output is then not written. An output that is
// the input (any spelling or link) or not a regular file is refused before anything is read.
// Relative paths under `bazel run` are relative to where bazel was run.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "files/interrupt_cleanup.h"
#include "files/out_of_memory.h"
#include "files/output_paths.h"
#include "files/user_paths.h"
#include "io/quantize_checkpoint.h"
#include "io/quantize_model.h"
#include "quant/format.h"

ABSL_FLAG(std::string, input, "", "safetensors file to read");
ABSL_FLAG(std::string, model, "", "model folder to read (instead of --input)");
ABSL_FLAG(std::string, output, "", "safetensors file to write (with --model: a new folder)");
ABSL_FLAG(std::string, format, "", "nvfp4, mxfp4 or int4_k2");
ABSL_FLAG(int64_t, group_size, 32, "INT4 K2 group size along K");
ABSL_FLAG(std::string, include, "",
          "with --model: regex of more 2-D *.weight tensors to quantize (whole names)");
ABSL_FLAG(std::string, exclude, "", "with --model: regex of tensors not to quantize");
ABSL_FLAG(int, threads, 0, "with --model: tensors quantized at once (0: all cores)");

namespace fp4moe::io {
namespace {

absl::Status RunModel() {
  QuantizeModelOptions options;
  options.model = files::UserPath(absl::GetFlag(FLAGS_model));
  options.output = files::UserPath(absl::GetFlag(FLAGS_output));
  if (!absl::GetFlag(FLAGS_input).empty() || options.output.empty()) {
    return absl::InvalidArgumentError(
        "give either --input and --output (a file) or --model and --output (a folder)");
  }
  absl::StatusOr<WeightFormat> format = ParseWeightFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) return format.status();
  options.format = *format;
  options.group_size = absl::GetFlag(FLAGS_group_size);
  options.include = absl::GetFlag(FLAGS_include);
  options.exclude = absl::GetFlag(FLAGS_exclude);
  options.threads = absl::GetFlag(FLAGS_threads);
  return QuantizeModel(options);
}

absl::Status Run() {
  if (!absl::GetFlag(FLAGS_model).empty()) return RunModel();
  if (!absl::GetFlag(FLAGS_include).empty() || !absl::GetFlag(FLAGS_exclude).empty()) {
    return absl::InvalidArgumentError("--include and --exclude go with --model");
  }
  const std::string input = files::UserPath(absl::GetFlag(FLAGS_input));
  const std::string output = files::UserPath(absl::GetFlag(FLAGS_output));
  if (input.empty() || output.empty()) {
    return absl::InvalidArgumentError("--input and --output are required");
  }
  if (absl::Status s = files::CheckOutputPaths({{"--input", input}}, {{"--output", output}});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<WeightFormat> format = ParseWeightFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) return format.status();
  return QuantizeCheckpoint(input, output, *format, absl::GetFlag(FLAGS_group_size));
}

}  // namespace
}  // namespace fp4moe::io

int main(int argc, char** argv) {
  fp4moe::files::RemoveTemporariesOnInterrupt("quantize");
  absl::SetProgramUsageMessage(
      "--input=IN.safetensors --output=OUT.safetensors --format=nvfp4|mxfp4|int4_k2 "
      "[--group_size=N]\n  or --model=DIR --output=OUTDIR --format=... [--group_size=N "
      "--include=REGEX --exclude=REGEX --threads=N]");
  absl::ParseCommandLine(argc, argv);
  return fp4moe::files::ExitCodeCatchingOutOfMemory("quantize", [] {
    const absl::Status status = fp4moe::io::Run();
    if (status.ok()) return 0;
    std::fprintf(stderr, "quantize: %s\n", status.ToString().c_str());
    return 1;
  });
}
