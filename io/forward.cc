// Runs one MoE layer on experts and inputs read from safetensors files:
//   bazel run -c opt //io:forward -- --weights=W.safetensors --prefix=P
//       --input=X.safetensors --output=Y.safetensors [--path=w4a8 --threads=N --format=nvfp4]
// or on layer N of a Hugging Face model folder (io/model_forward.h), routed by the layer's
// router where X has no topk_ids / topk_weights:
//   bazel run -c opt //io:forward -- --model=DIR --layer=N --input=X.safetensors
//       --output=Y.safetensors [--path=... --threads=N --format=...]
// Experts are P.<e>.{gate,up,down}_proj, pre-quantized (io/checkpoint.h naming) or float
// (quantized to --format on load). X holds hidden_states [T, H] (F32 or BF16), topk_ids [T, k]
// (I32 or I64) and topk_weights [T, k] (F32); Y gets output [T, H] F32. An output that is W or X
// (any spelling or link) or not a regular file is refused before anything is read. Relative
// paths under `bazel run` are relative to where bazel was run.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "files/interrupt_cleanup.h"
#include "files/out_of_memory.h"
#include "files/output_paths.h"
#include "files/user_paths.h"
#include "io/model_forward.h"
#include "io/moe_checkpoint.h"
#include "kernels/microkernel_table.h"
#include "quant/format.h"

ABSL_FLAG(std::string, weights, "", "safetensors file with the experts");
ABSL_FLAG(std::string, prefix, "", "expert name prefix P, as in P.<e>.gate_proj.weight");
ABSL_FLAG(std::string, model, "",
          "model folder (config.json and model.safetensors or an index with its shards)");
ABSL_FLAG(int64_t, layer, -1, "with --model: the MoE layer to run");
ABSL_FLAG(std::string, input, "", "safetensors file with hidden_states, topk_ids, topk_weights");
ABSL_FLAG(std::string, output, "", "safetensors file to write `output` to");
ABSL_FLAG(std::string, path, "",
          "GEMM path: w4a4, w4a8, w4a16 or int4_w4a8 (default: the best for the format)");
ABSL_FLAG(int, threads, 0, "threads (0: all cores)");
ABSL_FLAG(std::string, format, "",
          "format float experts are quantized to (default nvfp4); must match quantized ones");
ABSL_FLAG(int64_t, group_size, 32, "INT4 K2 group size for float experts");

namespace fp4moe::io {
namespace {

absl::Status Run() {
  ForwardOptions options;
  options.weights = files::UserPath(absl::GetFlag(FLAGS_weights));
  options.prefix = absl::GetFlag(FLAGS_prefix);
  options.model = files::UserPath(absl::GetFlag(FLAGS_model));
  options.layer = absl::GetFlag(FLAGS_layer);
  options.input = files::UserPath(absl::GetFlag(FLAGS_input));
  options.output = files::UserPath(absl::GetFlag(FLAGS_output));
  const bool model = !options.model.empty();
  if (model ? (options.layer < 0 || !options.weights.empty() || !options.prefix.empty())
            : (options.weights.empty() || options.prefix.empty() || options.layer >= 0)) {
    return absl::InvalidArgumentError(
        "give either --model and --layer, or --weights and --prefix (with --input and --output)");
  }
  if (options.input.empty() || options.output.empty()) {
    return absl::InvalidArgumentError("--input and --output are required");
  }
  // Every file of a model folder counts as an input: the output must not replace a shard.
  std::vector<files::NamedPath> inputs = {{"--input", options.input}};
  if (model) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(options.model, error)) {
      inputs.push_back({"model file", entry.path().string()});
    }
  } else {
    inputs.push_back({"--weights", options.weights});
  }
  if (absl::Status s = files::CheckOutputPaths(inputs, {{"--output", options.output}}); !s.ok()) {
    return s;
  }
  if (!absl::GetFlag(FLAGS_path).empty()) {
    absl::StatusOr<kernels::GemmPath> path = kernels::ParsePath(absl::GetFlag(FLAGS_path));
    if (!path.ok()) return path.status();
    options.path = *path;
  }
  if (!absl::GetFlag(FLAGS_format).empty()) {
    absl::StatusOr<WeightFormat> format = ParseWeightFormat(absl::GetFlag(FLAGS_format));
    if (!format.ok()) return format.status();
    options.format = *format;
  }
  options.threads = ThreadsOrAllCores(absl::GetFlag(FLAGS_threads));
  options.group_size = absl::GetFlag(FLAGS_group_size);
  if (!model) return RunForward(options);
  absl::StatusOr<std::string> summary = RunModelForward(options);
  if (!summary.ok()) return summary.status();
  std::fprintf(stderr, "forward: %s\n", summary->c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace fp4moe::io

int main(int argc, char** argv) {
  fp4moe::files::RemoveTemporariesOnInterrupt("forward");
  absl::SetProgramUsageMessage(
      "--weights=W.safetensors --prefix=P | --model=DIR --layer=N, then --input=X.safetensors "
      "--output=Y.safetensors [--path=... --threads=N --format=... --group_size=N]");
  absl::ParseCommandLine(argc, argv);
  return fp4moe::files::ExitCodeCatchingOutOfMemory("forward", [] {
    const absl::Status status = fp4moe::io::Run();
    if (status.ok()) return 0;
    std::fprintf(stderr, "forward: %s\n", status.ToString().c_str());
    return 1;
  });
}
