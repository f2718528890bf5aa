#ifndef FP4MOE_IO_GPT_OSS_LAYER_H_
#define FP4MOE_IO_GPT_OSS_LAYER_H_

// gpt-oss's fused experts, as Hugging Face's GptOssExperts holds them. Layer N's tensors
// model.layers.N.mlp.experts.X, E experts, hidden size H, intermediate size I:
// - released MXFP4: gate_up_proj_blocks U8 [E, 2I, H / 32, 16] (E2M1 codes, element 2j in the
//   low nibble) with gate_up_proj_scales U8 [E, 2I, H / 32] (E8M0, 2^(code - 127) per 32
//   elements of a row), down_proj_blocks [E, H, I / 32, 16] with down_proj_scales
//   [E, H, I / 32]: exactly moe's Mxfp4Tensor rows, [2I, H] and [H, I] per expert;
// - dequantized float (F32, BF16 or F16): gate_up_proj [E, H, 2I] and down_proj [E, I, H], the
//   transposes of the operator's [2I, H] and [H, I];
// - either way gate_up_proj_bias [E, 2I] and down_proj_bias [E, H] (F32, BF16 or F16).
// Gate and up interleave along 2I: gate is the even rows (columns of the float tensor), up the
// odd ones.

#include <cstdint>

#include "absl/status/status.h"
#include "io/model_folder.h"
#include "io/model_layer.h"

namespace fp4moe::io {

// Reads layer `loaded.layer`'s experts and biases into `loaded`: MXFP4 as stored unless
// options.format asks for another format (then dequantized and quantized to it), float ones
// quantized to options.format (NVFP4 by default). Errors name the file and the tensor.
absl::Status LoadGptOssExperts(ModelFolder& folder, const LayerLoadOptions& options,
                               ModelLayer& loaded);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_GPT_OSS_LAYER_H_
