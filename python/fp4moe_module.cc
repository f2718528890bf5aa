// The Python module fp4moe: a MoE layer of a Hugging Face model folder, loaded once and run on
// numpy arrays (io/model_forward.h's ModelMoeLayer, which //io:forward --model runs too), and
// a model folder quantized into a new one (io/quantize_model.h, as //io:quantize --model).
//   layer = fp4moe.MoeLayer.from_model("DIR", 3)
//   output, topk_ids, topk_weights = layer.forward(hidden_states)
//   fp4moe.quantize_model("DIR", "OUTDIR", format="nvfp4")
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "io/model_forward.h"
#include "io/quantize_model.h"
#include "io/safetensors.h"
#include "kernels/microkernel_table.h"
#include "quant/format.h"

namespace py = pybind11;

namespace fp4moe::python {
namespace {

// ValueError for bad arguments, MemoryError where memory ran out, RuntimeError otherwise; the
// message is the status's.
[[noreturn]] void Raise(const absl::Status& status) {
  PyObject* type = PyExc_RuntimeError;
  if (status.code() == absl::StatusCode::kInvalidArgument) type = PyExc_ValueError;
  if (status.code() == absl::StatusCode::kResourceExhausted) type = PyExc_MemoryError;
  PyErr_SetString(type, std::string(status.message()).c_str());
  throw py::error_already_set();
}

[[noreturn]] void RaiseValue(const std::string& message) {
  Raise(absl::InvalidArgumentError(message));
}

std::string ShapeOf(const py::array& a) {
  std::string shape = "[";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    shape += absl::StrFormat("%s%d", d ? ", " : "", a.shape(d));
  }
  return shape + "]";
}

// Dtypes are asked through Python attributes: Debian's pybind11 2.10 reads numpy's descriptor
// struct as numpy 1 laid it out (itemsize(), nbytes() and kind() are wrong under numpy 2).
// array_t<T> takes its item size from sizeof(T), and conversions go through numpy's C API, so
// with these the module runs under numpy 1 and 2 alike (fp4moe_test.py passes with 1.26 and
// 2.4): never ask a py::array or py::dtype for its item size.
std::string NameOf(const py::dtype& dtype) { return dtype.attr("name").cast<std::string>(); }
char KindOf(const py::dtype& dtype) { return dtype.attr("kind").cast<std::string>()[0]; }
bool IsNative(const py::dtype& dtype) {
  return dtype.attr("isnative").cast<bool>();
}

// hidden_states as a TensorView over the array's own memory: float32 or bfloat16 [T, H],
// C-contiguous (a copy, kept in `held`, only where it is not).
io::TensorView HiddenView(const py::array& hidden, int64_t hidden_size, py::array& held) {
  // ml_dtypes.bfloat16 is a numpy dtype that numpy itself does not name.
  const std::string name = NameOf(hidden.dtype());
  const bool f32 = name == "float32";
  if ((!f32 && name != "bfloat16") || !IsNative(hidden.dtype())) {
    RaiseValue(absl::StrFormat(
        "forward(): hidden_states has dtype %s, expected float32 or ml_dtypes.bfloat16",
        NameOf(hidden.dtype())));
  }
  if (hidden.ndim() != 2 || hidden.shape(0) < 1 || hidden.shape(1) != hidden_size) {
    RaiseValue(absl::StrFormat(
        "forward(): hidden_states has shape %s, expected [T >= 1, %d] (the model's hidden_size)",
        ShapeOf(hidden), hidden_size));
  }
  held = hidden;
  if (!(hidden.flags() & py::array::c_style)) {
    held = py::module_::import("numpy").attr("ascontiguousarray")(hidden);
  }
  io::TensorView view;
  view.name = "hidden_states";
  view.dtype = f32 ? io::Dtype::kF32 : io::Dtype::kBf16;
  view.shape = {hidden.shape(0), hidden.shape(1)};
  view.bytes = absl::MakeConstSpan(static_cast<const uint8_t*>(held.data()),
                                   held.size() * (f32 ? sizeof(float) : sizeof(uint16_t)));
  return view;
}

// topk_ids (any integer dtype) and topk_weights (float32), both [T, k]: copied, being small.
io::TokenRouting GivenRouting(const py::array& ids, const py::array& weights, int64_t tokens) {
  if (KindOf(ids.dtype()) != 'i' && KindOf(ids.dtype()) != 'u') {
    RaiseValue(absl::StrFormat("forward(): topk_ids has dtype %s, expected an integer dtype",
                               NameOf(ids.dtype())));
  }
  if (NameOf(weights.dtype()) != "float32") {
    RaiseValue(absl::StrFormat("forward(): topk_weights has dtype %s, expected float32",
                               NameOf(weights.dtype())));
  }
  if (ids.ndim() != 2 || ids.shape(0) != tokens || ids.shape(1) < 1 || weights.ndim() != 2 ||
      weights.shape(0) != ids.shape(0) || weights.shape(1) != ids.shape(1)) {
    RaiseValue(absl::StrFormat(
        "forward(): topk_ids has shape %s and topk_weights %s, expected both [T = %d, k >= 1]",
        ShapeOf(ids), ShapeOf(weights), tokens));
  }
  io::TokenRouting routing;
  routing.k = static_cast<int>(ids.shape(1));
  const py::array_t<int64_t, py::array::c_style | py::array::forcecast> ids64(ids);
  const py::array_t<float, py::array::c_style> w(weights);
  routing.ids.assign(ids64.data(), ids64.data() + ids64.size());
  routing.weights.assign(w.data(), w.data() + w.size());
  return routing;
}

// A numpy array that owns `values` (moved, not copied), of shape [rows, cols].
template <typename T>
py::array_t<T> ToNumpy(std::vector<T>&& values, int64_t rows, int64_t cols) {
  auto* owned = new std::vector<T>(std::move(values));
  py::capsule free(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({rows, cols}, owned->data(), free);
}

class MoeLayer {
 public:
  static std::unique_ptr<MoeLayer> FromModel(const std::string& dir, int64_t layer,
                                             std::optional<std::string> format,
                                             const std::string& path, int threads) {
    io::LayerRunOptions options;
    if (format) {
      absl::StatusOr<WeightFormat> parsed = ParseWeightFormat(*format);
      if (!parsed.ok()) Raise(parsed.status());
      options.format = *parsed;
    }
    if (path != "auto") {
      absl::StatusOr<kernels::GemmPath> parsed = kernels::ParsePath(path);
      if (!parsed.ok()) Raise(parsed.status());
      options.path = *parsed;
    }
    if (threads < 0) RaiseValue(absl::StrFormat("from_model(): threads = %d < 0", threads));
    options.threads = io::ThreadsOrAllCores(threads);
    absl::StatusOr<std::unique_ptr<io::ModelMoeLayer>> opened;
    absl::Status loaded;
    {
      py::gil_scoped_release release;
      opened = io::ModelMoeLayer::Open(dir, layer, options);
      if (opened.ok()) loaded = (*opened)->Load();
    }
    if (!opened.ok()) Raise(opened.status());
    if (!loaded.ok()) Raise(loaded);
    auto wrapped = std::make_unique<MoeLayer>();
    wrapped->layer_ = *std::move(opened);
    return wrapped;
  }

  py::tuple Forward(const py::array& hidden, std::optional<py::array> topk_ids,
                    std::optional<py::array> topk_weights) {
    if (topk_ids.has_value() != topk_weights.has_value()) {
      RaiseValue("forward(): give topk_ids and topk_weights together, or neither (the layer's "
                 "router then routes)");
    }
    py::array held;
    const io::TensorView view = HiddenView(hidden, layer_->config().hidden_size, held);
    std::optional<io::TokenRouting> routing;
    if (topk_ids) routing = GivenRouting(*topk_ids, *topk_weights, view.shape[0]);
    absl::StatusOr<io::LayerForward> result;
    {
      py::gil_scoped_release release;
      // The layer's workspace serves one call at a time; the lock is taken without the GIL, so
      // that a thread waiting here does not hold up the one running.
      const std::lock_guard<std::mutex> lock(forward_mutex_);
      result = layer_->Forward(view, std::move(routing), "forward()", "forward(): output");
    }
    if (!result.ok()) Raise(result.status());
    const int64_t tokens = view.shape[0];
    const int k = result->routing.k;
    return py::make_tuple(ToNumpy(std::move(result->output), tokens, view.shape[1]),
                          ToNumpy(std::move(result->routing.ids), tokens, k),
                          ToNumpy(std::move(result->routing.weights), tokens, k));
  }

  std::string Repr() const {
    const io::ModelLayer& l = layer_->layer();
    return absl::StrFormat("<fp4moe.MoeLayer %s layer %d: %d experts (+%d shared slices) as %s, "
                           "H = %d, I = %d, top-%d>",
                           layer_->folder().dir(), l.layer, l.routed_experts, l.shared_slots,
                           TraitsOf(l.format).name, l.hidden_size, l.intermediate_size,
                           layer_->config().top_k);
  }

  const io::ModelMoeLayer& layer() const { return *layer_; }

 private:
  std::unique_ptr<io::ModelMoeLayer> layer_;
  std::mutex forward_mutex_;
};

void QuantizeModel(const std::string& model_dir, const std::string& output_dir,
                   const std::string& format, std::optional<int64_t> group_size,
                   std::optional<std::string> include, std::optional<std::string> exclude,
                   int threads) {
  io::QuantizeModelOptions options;
  options.model = model_dir;
  options.output = output_dir;
  absl::StatusOr<WeightFormat> parsed = ParseWeightFormat(format);
  if (!parsed.ok()) Raise(parsed.status());
  options.format = *parsed;
  if (group_size) options.group_size = *group_size;
  options.include = include.value_or("");
  options.exclude = exclude.value_or("");
  options.threads = threads;
  if (absl::Status s = io::CheckQuantizeModelOptions(options); !s.ok()) Raise(s);
  absl::Status quantized;
  {
    py::gil_scoped_release release;
    quantized = io::QuantizeModel(options);
  }
  if (!quantized.ok()) Raise(quantized);
}

}  // namespace
}  // namespace fp4moe::python

PYBIND11_MODULE(fp4moe, m) {
  using fp4moe::python::MoeLayer;
  m.doc() = "fp4moe: 4-bit MoE layers of Hugging Face model folders, run on CPUs.";
  py::class_<MoeLayer>(m, "MoeLayer")
      .def_static("from_model", &MoeLayer::FromModel, py::arg("dir"), py::arg("layer"),
                  py::arg("format") = py::none(), py::arg("path") = "auto",
                  py::arg("threads") = 0,
                  "Loads MoE layer `layer` of the model folder `dir` (config.json and "
                  "model.safetensors or an index with its shards). format: None for the "
                  "checkpoint's own quantized format (NVFP4 for float and FP8 checkpoints), or "
                  "'nvfp4', 'mxfp4', 'int4_k2'. path: 'auto' or a GEMM path such as 'w4a8'. "
                  "threads: 0 for all cores.")
      .def("forward", &MoeLayer::Forward, py::arg("hidden_states"),
           py::arg("topk_ids") = py::none(), py::arg("topk_weights") = py::none(),
           "Runs the layer on hidden_states [T, H] (numpy float32 or ml_dtypes.bfloat16), "
           "routed by topk_ids / topk_weights [T, k] where given, else by the layer's router. "
           "Returns (output float32 [T, H], topk_ids int64 [T, k], topk_weights float32 "
           "[T, k]): the routing used. A DeepSeek shared expert runs for every token with "
           "weight 1 and is not listed in topk_ids. The GIL is released while it runs.")
      .def_property_readonly("hidden_size",
                             [](const MoeLayer& l) { return l.layer().config().hidden_size; })
      .def_property_readonly("top_k", [](const MoeLayer& l) { return l.layer().config().top_k; })
      .def_property_readonly("format", [](const MoeLayer& l) {
        return std::string(fp4moe::TraitsOf(l.layer().layer().format).name);
      })
      .def("__repr__", &MoeLayer::Repr);
  m.def("quantize_model", &fp4moe::python::QuantizeModel, py::arg("model_dir"),
        py::arg("output_dir"), py::arg("format") = "nvfp4", py::arg("group_size") = py::none(),
        py::arg("include") = py::none(), py::arg("exclude") = py::none(),
        py::arg("threads") = 0,
        "Quantizes the model folder model_dir into the new folder output_dir, as "
        "`quantize --model` does: the routed experts' projections (more 2-D weights with the "
        "regex include, fewer with exclude, both matched against whole tensor names) to "
        "format 'nvfp4', 'mxfp4' or 'int4_k2' (group_size: INT4 K2's, 32 when None), every "
        "other tensor and file copied. threads: 0 for all cores. On any error output_dir "
        "does not exist. The GIL is released while it runs.");
}
