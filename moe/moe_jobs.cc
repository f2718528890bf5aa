// The experts in flight: their jobs, work items (slices of gate, up and down per part) and the
// run that claims them, with the activation (and any biases) between gate-up and down.

#include "moe/moe.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "kernels/gemm.h"
#include "moe/parallel.h"
#include "moe/elementwise.h"
#include "moe/slice_count.h"

namespace fp4moe::moe {
namespace {

// Spins until `flag` is set: pause (the sibling hyperthread gets the core), and after a
// while yield, in case the thread that will set it is waiting for this core.
void WaitFor(const std::atomic<bool>& flag) {
  for (int spins = 0; !flag.load(std::memory_order_acquire); ++spins) {
    if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace

void MoeLayer::AssignJob(int64_t j, const Job& job) {
  jobs_[j] = job;
  job_of_expert_[job.expert] = j;
  gate_up_begin_[j + 1] =
      gate_up_begin_[j] + SliceCount(config_.part_intermediate_size(), job.slice_columns);
  down_begin_[j + 1] = down_begin_[j] + SliceCount(config_.hidden_size, job.slice_columns);
  last_kernels_used_.Add(&KernelFor(job.rows.count));
}

bool MoeLayer::SetsIntermediateByColumns(kernels::GemmPath path) const {
  // Slices start at multiples of kSliceColumns: a window of the intermediate there must not
  // split a group of its int8 scales.
  static_assert(kernels::kSliceColumns % kernels::kColumnWindowK == 0);
  return path != kernels::GemmPath::kFp4W4A4Lut && kernels::kSliceColumns % kernel_block_ == 0;
}

void MoeLayer::ResetJobStates(int64_t job_count) {
  for (int p = 0; p < config_.tp_parts; ++p) {
    for (int64_t j = 0; j < job_count; ++j) {
      JobState& state = job_states_[p * jobs_.size() + j];
      state.done.store(0, std::memory_order_relaxed);
      state.ready.store(false, std::memory_order_relaxed);
    }
  }
}

int64_t MoeLayer::ExpertItems(int64_t job_count) const {
  return gate_up_begin_[job_count] + down_begin_[job_count];
}

void MoeLayer::RunExperts(int phase, int64_t job_count, BuffersOfJob buffers_of,
                          FirstError& errors) {
  const int64_t inter = config_.part_intermediate_size(), hidden = config_.hidden_size;
  // Work items are (part, expert, column slice of gate and up together, or of down). A gate-up
  // item computes both products of its slice, their activation and its window of the
  // intermediate (quantized for down), all while its float outputs are in cache, as kt-kernel
  // does; W4A4's intermediate, one tensor scale per row, is set whole by the item that finishes
  // the job's last slice. All gate-up items come first, in job order, and a down item waits for
  // its job's intermediate: there is no barrier between the GEMMs, so the first jobs' downs run
  // while the last jobs' gate and up finish. (A waiting thread only ever waits for items already
  // claimed by threads that do not wait.)
  const int64_t gate_up_items = gate_up_begin_[job_count];
  // The job whose items of one kind (begin: gate_up_begin_ or down_begin_) hold `item`.
  const auto job_of = [job_count](const std::vector<int64_t>& begin, int64_t item) {
    return std::upper_bound(begin.begin() + 1, begin.begin() + job_count + 1, item) -
           (begin.begin() + 1);
  };
  scheduler_->ForEach(phase, ExpertItems(job_count), [&](int part, int64_t item) {
    const bool gate_up = item < gate_up_items;
    const int64_t j =
        gate_up ? job_of(gate_up_begin_, item) : job_of(down_begin_, item - gate_up_items);
    const Job& job = jobs_[j];
    const ExpertPart& w = parts_[part].experts[job.expert];
    ExpertBuffers& buffers = buffers_of(parts_[part], j);
    JobState& state = job_states_[part * jobs_.size() + j];
    const kernels::Microkernel& kernel = KernelFor(job.rows.count);
    if (gate_up) {
      const int slices = SliceCount(inter, job.slice_columns);
      const int slice = static_cast<int>(item - gate_up_begin_[j]);
      errors.Record(kernels::Gemm(kernel, job.rows, inter, hidden, kernel_block_, *job.input,
                                  w.gate, buffers.gate, slice, slices));
      errors.Record(kernels::Gemm(kernel, job.rows, inter, hidden, kernel_block_, *job.input,
                                  w.up, buffers.up, slice, slices));
      const auto [c0, c1] = kernels::ThreadSlice(inter, slice, slices);
      float* gate = buffers.gate.data() + job.rows.begin * inter;
      float* up = buffers.up.data() + job.rows.begin * inter;
      if (!w.gate_bias.empty()) {
        AddRowBias(w.gate_bias.data() + c0, job.rows.count, c1 - c0, inter, gate + c0);
        AddRowBias(w.up_bias.data() + c0, job.rows.count, c1 - c0, inter, up + c0);
      }
      // The activation into gate's place.
      for (int64_t r = 0; r < job.rows.count; ++r) {
        float* g = gate + r * inter + c0;
        const float* u = up + r * inter + c0;
        if (config_.activation == ExpertActivation::kSiluMul) {
          SiluMul(g, u, g, c1 - c0);
        } else {
          ClampedSwiglu(g, u, config_.swiglu_limit, g, c1 - c0);
        }
      }
      kernels::BufferA& intermediate = buffers.intermediate.For(kernel.path);
      const bool by_columns = SetsIntermediateByColumns(kernel.path);
      if (by_columns) {
        errors.Record(intermediate.SetColumns(
            "moe intermediate",
            Eigen::Map<const RowMatrixXf, 0, Eigen::OuterStride<>>(
                gate + c0, job.rows.count, c1 - c0, Eigen::OuterStride<>(inter)),
            job.rows.begin, c0));
      }
      if (state.done.fetch_add(1, std::memory_order_acq_rel) + 1 == slices) {
        if (!by_columns) {
          errors.Record(intermediate.Set(
              "moe intermediate", Eigen::Map<const RowMatrixXf>(gate, job.rows.count, inter),
              job.rows.begin));
        }
        state.ready.store(true, std::memory_order_release);
      }
      return;
    }
    WaitFor(state.ready);
    const int slice = static_cast<int>(item - gate_up_items - down_begin_[j]);
    const int slices = SliceCount(hidden, job.slice_columns);
    errors.Record(kernels::Gemm(kernel, job.rows, hidden, inter, kernel_block_,
                                buffers.intermediate.For(kernel.path), w.down, buffers.down,
                                slice, slices));
    if (!w.down_bias.empty()) {
      const auto [c0, c1] = kernels::ThreadSlice(hidden, slice, slices);
      AddRowBias(w.down_bias.data() + c0, job.rows.count, c1 - c0, hidden,
                 buffers.down.data() + job.rows.begin * hidden + c0);
    }
  });
}

}  // namespace fp4moe::moe
