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

// Spins until ready() holds, running help() (other work, which tells whether there was any)
// meanwhile; where there is none, pause (the sibling hyperthread gets the core), and after a
// while yield, in case the thread that will make it ready is waiting for this core.
template <typename Ready, typename Help>
void WaitUntil(const Ready& ready, const Help& help) {
  for (int spins = 0; !ready(); ++spins) {
    if (help()) {
      spins = 0;
    } else if (spins < 4096) {
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
      gate_up_begin_[j] + 2 * SliceCount(config_.part_intermediate_size(), job.slice_columns);
  down_bands_.AddJob(SliceCount(config_.hidden_size, job.slice_columns));
  last_kernels_used_.Add(&KernelFor(job.rows.count));
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
  return gate_up_begin_[job_count] + down_bands_.items();
}

void MoeLayer::RunExperts(int phase, int64_t job_count, BuffersOfJob buffers_of,
                          DownOfJob down_of, BandSums* sums,
                          absl::FunctionRef<void(int band, int64_t chunk)> sum,
                          FirstError& errors) {
  const int64_t inter = config_.part_intermediate_size(), hidden = config_.hidden_size;
  // Work items are (part, expert, slice of gate, of up, or of down), gate and up
  // apart so that the last items of the phase are short: an expert with many tokens is spread
  // over many threads instead of stalling one. All gate and up items come first, in job
  // order; the thread that finishes a job's last one computes its SiLU and intermediate, and
  // a down item waits for its job's intermediate. So there is no barrier between the GEMMs:
  // the first jobs' downs run while the last jobs' gate and up finish. The downs come in bands
  // (DownBands), and a prefill's down item also waits for its band's ring slot. (A waiting
  // thread only ever waits for items claimed before its own, and runs ready sum chunks, which
  // never wait, meanwhile: with one part, every item it waits for is claimed by a thread that
  // makes progress. With several, the ring holds every band and no down item waits for one.)
  const int64_t gate_up_items = gate_up_begin_[job_count];
  const auto help = [&] { return sums != nullptr && sums->RunOne(sum); };
  scheduler_->ForEach(phase, ExpertItems(job_count), [&](int part, int64_t item) {
    const bool gate_up = item < gate_up_items;
    const DownBands::Item down =
        gate_up ? DownBands::Item{} : down_bands_.At(item - gate_up_items);
    const int64_t j = gate_up ? std::upper_bound(gate_up_begin_.begin() + 1,
                                                 gate_up_begin_.begin() + job_count + 1, item) -
                                    (gate_up_begin_.begin() + 1)
                              : down.job;
    const Job& job = jobs_[j];
    const ExpertPart& w = parts_[part].experts[job.expert];
    ExpertBuffers& buffers = buffers_of(parts_[part], j);
    JobState& state = job_states_[part * jobs_.size() + j];
    const kernels::Microkernel& kernel = KernelFor(job.rows.count);
    if (gate_up) {
      const int gate_up_slices = SliceCount(inter, job.slice_columns);
      const int64_t r = item - gate_up_begin_[j];
      const bool up = r % 2 == 1;
      errors.Record(kernels::Gemm(kernel, job.rows, inter, hidden, kernel_block_, *job.input,
                                  up ? w.up : w.gate, up ? buffers.up : buffers.gate,
                                  static_cast<int>(r / 2), gate_up_slices));
      if (state.done.fetch_add(1, std::memory_order_acq_rel) + 1 == 2 * gate_up_slices) {
        float* gate = buffers.gate.data() + job.rows.begin * inter;
        float* up = buffers.up.data() + job.rows.begin * inter;
        if (!w.gate_bias.empty()) {
          AddRowBias(w.gate_bias.data(), job.rows.count, inter, inter, gate);
          AddRowBias(w.up_bias.data(), job.rows.count, inter, inter, up);
        }
        if (config_.activation == ExpertActivation::kSiluMul) {
          SiluMul(gate, up, gate, job.rows.count * inter);
        } else {
          ClampedSwiglu(gate, up, config_.swiglu_limit, gate, job.rows.count * inter);
        }
        errors.Record(buffers.intermediate.For(kernel.path)
                          .Set("moe intermediate",
                               Eigen::Map<const RowMatrixXf>(gate, job.rows.count, inter),
                               job.rows.begin));
        state.ready.store(true, std::memory_order_release);
      }
      return;
    }
    WaitUntil([&] { return state.ready.load(std::memory_order_acquire); }, help);
    if (sums != nullptr) WaitUntil([&] { return sums->SlotFree(down.band); }, help);
    const kernels::OutputWindow out = down_of(parts_[part], j, down.band);
    errors.Record(kernels::Gemm(kernel, job.rows, hidden, inter, kernel_block_,
                                buffers.intermediate.For(kernel.path), w.down, out, down.slice,
                                down.slices));
    if (!w.down_bias.empty()) {
      const auto [c0, c1] = kernels::ThreadSlice(hidden, down.slice, down.slices);
      AddRowBias(w.down_bias.data() + c0, job.rows.count, c1 - c0, out.ld,
                 out.origin + job.rows.begin * out.ld + c0);
    }
    if (sums != nullptr) {
      sums->DownDone(down.band);
      while (help()) {
      }
    }
  });
  if (sums == nullptr) return;
  WaitUntil([&] { return sums->AllClaimed(); }, help);
}

}  // namespace fp4moe::moe
