#ifndef FP4MOE_IO_QUANTIZE_MODEL_H_
#define FP4MOE_IO_QUANTIZE_MODEL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "quant/format.h"

namespace fp4moe::io {

struct QuantizeModelOptions {
  std::string model;   // the model folder read (io/model_folder.h)
  std::string output;  // the folder written; must not exist, nor be in or equal to `model`
  WeightFormat format = WeightFormat::kNvfp4;
  int64_t group_size = 32;  // INT4 K2 only
  // ECMAScript regexes matched against whole tensor names, empty for none: `include` adds
  // 2-D `*.weight` tensors to the routed experts' projections quantized by default, `exclude`
  // takes tensors away from that set.
  std::string include, exclude;
  int threads = 0;  // tensors quantized at once; 0: all cores
};

// What can be checked without reading `model`: a format with a checkpoint naming (not
// fp4_float_scale), INT4 K2's group size (positive, even), valid regexes, threads >= 0.
// QuantizeModel runs it first, so that bad arguments are refused before any work.
absl::Status CheckQuantizeModelOptions(const QuantizeModelOptions& options);

// Quantizes a model folder: each shard of `model` becomes the shard of the same file name in
// `output`, its selected weights (float, or FP8 with block scales, dequantized first) stored
// quantized under the naming of io/checkpoint.h (gpt-oss's fused float experts as
// io/gpt_oss_weights.h says) and every other tensor copied byte for byte; `output` gets its own
// index (where `model` has one), config.json with the format's quantization_config (and for
// NVFP4 Model Optimizer's hf_quant_config.json), and a copy of every other file of `model`. A
// line per shard on stderr tells the progress. Written into a temporary directory renamed into
// place at the end: on any error `output` does not exist. A checkpoint already quantized
// (gpt-oss's MXFP4 release included) is refused. //io:quantize --model and the Python module's
// quantize_model both run it.
absl::Status QuantizeModel(const QuantizeModelOptions& options);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_QUANTIZE_MODEL_H_
