// MoeLayer::Forward: the argument checks, then the prefill path (tokens grouped by expert,
// gathered, run and summed per token) or the decode path (every chosen expert over all tokens).

#include "moe/moe.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/activation_rows.h"
#include "kernels/gemm.h"
#include "moe/elementwise.h"
#include "moe/parallel.h"
#include "moe/slice_count.h"
#include "quant/bf16.h"
#include "quant/validate.h"

namespace fp4moe::moe {
namespace {

// Tokens a thread claims at once in the prefill's per-token phases.
constexpr int kTokenChunk = 16;

absl::Status CheckFinite(MoeLayer::Input input, int64_t qlen, int64_t hidden, int threads) {
  bool finite = true;
  // Prefill inputs are large enough (up to ~100 MB) for the scan to be worth a team.
#pragma omp parallel for schedule(static) num_threads(threads) if (qlen > kDecodeMaxTokens) \
    reduction(&& : finite)
  for (int64_t t = 0; t < qlen; ++t) {
    finite = finite && (input.f32 != nullptr ? AllFinite(input.f32 + t * hidden, hidden)
                                             : AllFiniteBf16(input.bf16 + t * hidden, hidden));
  }
  if (finite) return absl::OkStatus();
  // Find the first offender for the message.
  for (int64_t i = 0; i < qlen * hidden; ++i) {
    const float v = input.f32 != nullptr ? input.f32[i] : Bf16ToFloat(input.bf16[i]);
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "Forward: input[token %d, column %d] = %g is not finite", i / hidden, i % hidden, v));
    }
  }
  return absl::OkStatus();
}

// Columns of an output row one decode reduction item sums.
constexpr int64_t kReduceColumns = 4 * kernels::kSliceColumns;

}  // namespace

absl::Status MoeLayer::Forward(int64_t qlen, int k, const int64_t* expert_ids,
                               const float* routing_weights, const float* input, float* output) {
  return ForwardAlone(qlen, k, expert_ids, routing_weights, {input, nullptr}, output);
}

absl::Status MoeLayer::Forward(int64_t qlen, int k, const int64_t* expert_ids,
                               const float* routing_weights, const uint16_t* input,
                               float* output) {
  return ForwardAlone(qlen, k, expert_ids, routing_weights, {nullptr, input}, output);
}

absl::Status MoeLayer::ForwardAlone(int64_t qlen, int k, const int64_t* expert_ids,
                                    const float* routing_weights, Input input, float* output) {
  if (in_use_.exchange(true, std::memory_order_acquire)) {
    return absl::FailedPreconditionError(
        "MoeLayer::Forward: another Forward call is running on this layer (its workspace "
        "serves one call at a time; use one layer per concurrent caller)");
  }
  absl::Status s = ForwardChecked(qlen, k, expert_ids, routing_weights, input, output);
  in_use_.store(false, std::memory_order_release);
  return s;
}

absl::Status MoeLayer::ForwardChecked(int64_t qlen, int k, const int64_t* expert_ids,
                                      const float* routing_weights, Input input,
                                      float* output) {
  const struct {
    const void* pointer;
    const char* name;
  } pointers[] = {{expert_ids, "expert_ids"},
                  {routing_weights, "routing_weights"},
                  {input.f32 != nullptr ? static_cast<const void*>(input.f32) : input.bf16,
                   "input"},
                  {output, "output"}};
  for (const auto& p : pointers) {
    if (p.pointer == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("Forward: %s is null", p.name));
    }
  }
  if (qlen <= 0 || qlen > config_.max_len) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Forward: qlen = %d is outside [1, max_len = %d]", qlen, config_.max_len));
  }
  if (k <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("Forward: k = %d must be positive", k));
  }
  if (k > config_.expert_num) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Forward: k = %d exceeds expert_num = %d", k, config_.expert_num));
  }
  if (k > config_.num_experts_per_tok) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Forward: k = %d exceeds the configured num_experts_per_tok = %d (the workspace is "
        "sized for it)",
        k, config_.num_experts_per_tok));
  }
  if (absl::Status s =
          ValidateRouting(qlen, k, config_.expert_num, expert_ids, routing_weights);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Forward: ", s.message()));
  }
  if (absl::Status s = CheckFinite(input, qlen, config_.hidden_size, config_.num_threads);
      !s.ok()) {
    return s;
  }
  last_kernels_used_ = {};
  return qlen <= kDecodeMaxTokens
             ? Decode(qlen, k, expert_ids, routing_weights, input, output)
             : Prefill(qlen, k, expert_ids, routing_weights, input, output);
}

absl::Status MoeLayer::Prefill(int64_t qlen, int k, const int64_t* expert_ids,
                               const float* routing_weights, Input input, float* output) {
  grouping_.Group(qlen, k, expert_ids);
  const absl::Span<const int64_t> active = grouping_.active_experts();
  const int64_t hidden = config_.hidden_size;
  // Every active expert at once, each on its own rows of the arenas: the GEMV kernel's jobs
  // first (the second activation buffers hold only theirs), then the tile kernel's.
  const int64_t count = static_cast<int64_t>(active.size());
  const int64_t wide_columns = config_.prefill_slice_columns;
  const bool wide_slices =
      count * (2 * SliceCount(config_.part_intermediate_size(), wide_columns) +
               SliceCount(config_.hidden_size, wide_columns)) >=
      kMinSliceItemsPerThread * config_.num_threads;
  // The downs' bands: the wide slices, or tiles where the call takes none.
  down_bands_.Reset(hidden,
                    SliceCount(hidden, wide_slices ? wide_columns : kernels::kSliceColumns));
  int64_t gemv_row = 0, tile_row = 0;
  bool any_bf16_job = false;
  for (int64_t e : active) {
    if (RunsGemv(grouping_.rows(e))) tile_row += grouping_.rows(e);
    any_bf16_job = any_bf16_job || kernels::TakesBf16Activations(KernelFor(grouping_.rows(e)).path);
  }
  for (int64_t j = 0; j < count; ++j) {
    const int64_t e = active[j];
    const int64_t rows = grouping_.rows(e);
    int64_t& row0 = RunsGemv(rows) ? gemv_row : tile_row;
    AssignJob(j, {e,
                  {row0, rows},
                  &prefill_input_->quantized.For(KernelFor(rows).path),
                  wide_slices && rows >= kWideSliceRows ? wide_columns : kernels::kSliceColumns});
    row0 += rows;
  }
  // tile_row now ends the call's rows. Each band's sums are chunks of kTokenChunk tokens.
  for (Part& part : parts_) part.prefill_down.Layout(tile_row, down_bands_);
  const int64_t chunks = SliceCount(qlen, kTokenChunk);
  band_sums_.Reset(down_bands_.bands(), chunks, parts_[0].prefill_down.slots());
  for (int b = 0; b < down_bands_.bands(); ++b) {
    band_sums_.SetDowns(b, config_.tp_parts * down_bands_.BandItems(b));
  }
  const DownOfJob down_of = [](Part& part, int64_t, int band) {
    return part.prefill_down.Band(band);
  };
  // One token at a time: each output row has one writer.
  const auto sum = [&](int band, int64_t chunk) {
    const auto [c0, c1] = down_bands_.Columns(band);
    for (int64_t t = chunk * kTokenChunk; t < std::min(qlen, (chunk + 1) * kTokenChunk); ++t) {
      SumDownRows(t, k, expert_ids, routing_weights, down_of, band, grouping_.row_of_slot(), c0,
                  c1, output + t * hidden + c0);
    }
  };
  // Float input for BF16 activations is rounded once per token, and the jobs gather their
  // rows from that: each token is routed to top-k experts, and reading its float row once
  // instead of top-k times halves the gather's traffic (same bits: the same rounding).
  const bool round_tokens = input.f32 != nullptr && any_bf16_job;
  auto* rounded_tokens = reinterpret_cast<uint16_t*>(prefill_input_->rounded_tokens.data());
  const uint16_t* bf16_source = input.bf16 != nullptr ? input.bf16 : rounded_tokens;
  ResetJobStates(count);
  FirstError errors;
  // One parallel region: rounding, gather, and the experts with the output's sums are its
  // phases.
  scheduler_->Parallel(ExpertItems(count), [&] {
    // Token phases are claimed in chunks of kTokenChunk, not split evenly: on shared hosts one
    // vCPU may run at half the others' speed, and an even split would wait for it.
    if (round_tokens) {
#pragma omp for schedule(dynamic, kTokenChunk)
      for (int64_t t = 0; t < qlen; ++t) {
        errors.Record(kernels::RoundRowsToBf16Checked(
            "Forward: input", {input.f32 + t * hidden, 1, hidden, hidden},
            rounded_tokens + t * hidden, /*first_row=*/t));
      }
    }
    // Gather each expert's token rows into its rows of the input arena, converted or
    // quantized where they lie, once for all parts.
#pragma omp for schedule(dynamic)
    for (int64_t j = 0; j < count; ++j) {
      const Job& job = jobs_[j];
      const auto tokens = absl::MakeConstSpan(grouping_.tokens(job.expert), job.rows.count);
      if (input.bf16 != nullptr ||
          (round_tokens && kernels::TakesBf16Activations(job.input->path()))) {
        // Forward checked the input (and the rounding its rounded rows): no second check.
        errors.Record(job.input->SetBf16Rows("moe input", bf16_source, tokens, job.rows.begin,
                                             kernels::BufferA::Check::kCheckedByCaller));
      } else {
        errors.Record(job.input->SetRows("moe input", input.f32, tokens, job.rows.begin));
      }
    }
    RunExperts(
        /*phase=*/0, count, [](Part& part, int64_t) -> ExpertBuffers& { return *part.prefill; },
        down_of, &band_sums_, sum, errors);
  });
  for (int64_t j = 0; j < count; ++j) job_of_expert_[jobs_[j].expert] = -1;
  return errors.status();
}

absl::Status MoeLayer::Decode(int64_t qlen, int k, const int64_t* expert_ids,
                              const float* routing_weights, Input input, float* output) {
  // Every chosen expert runs once over all qlen tokens (rows of tokens that did not choose
  // it are computed and dropped): with few tokens the cost is streaming the weights, which
  // this does once per expert, with no grouping or gathering.
  const int64_t hidden = config_.hidden_size;
  down_bands_.Reset(hidden, 1);
  int64_t count = 0;
  for (int64_t i = 0; i < qlen * k; ++i) {
    const int64_t e = expert_ids[i];
    if (job_of_expert_[e] >= 0) continue;
    AssignJob(count++, {e, {0, qlen}, decode_input_.get()});
  }
  absl::Status status =
      input.f32 != nullptr
          ? decode_input_->Set("moe input", Eigen::Map<const RowMatrixXf>(input.f32, qlen, hidden))
          : decode_input_->SetBf16("moe input", input.bf16, qlen);
  if (status.ok()) {
    ResetJobStates(count);
    FirstError errors;
    const int64_t chunks = (hidden + kReduceColumns - 1) / kReduceColumns;
    const DownOfJob down_of = [](Part& part, int64_t job, int) {
      return part.decode[job].down.Window();
    };
    scheduler_->Parallel(ExpertItems(count), [&] {
      RunExperts(
          /*phase=*/0, count,
          [](Part& part, int64_t job) -> ExpertBuffers& { return part.decode[job].buffers; },
          down_of, /*sums=*/nullptr, [](int, int64_t) {}, errors);
#pragma omp barrier
      // By column chunks, so that every thread takes part.
#pragma omp for schedule(static)
      for (int64_t item = 0; item < qlen * chunks; ++item) {
        const int64_t t = item / chunks;
        const int64_t c0 = item % chunks * kReduceColumns;
        SumDownRows(t, k, expert_ids, routing_weights, down_of, /*band=*/0,
                    /*row_of_slot=*/nullptr, c0, std::min(hidden, c0 + kReduceColumns),
                    output + t * hidden + c0);
      }
    });
    status = errors.status();
  }
  for (int64_t j = 0; j < count; ++j) job_of_expert_[jobs_[j].expert] = -1;
  return status;
}

void MoeLayer::SumDownRows(int64_t t, int k, const int64_t* expert_ids,
                            const float* routing_weights, DownOfJob down_of, int band,
                            const int64_t* row_of_slot, int64_t c0, int64_t c1, float* out) {
  // In batches of rows held here (top-k x parts is not bounded), one sum in slot then part
  // order all the same.
  constexpr int kBatch = 16;
  const float* rows[kBatch];
  float weights[kBatch];
  int count = 0;
  bool accumulate = false;
  for (int j = 0; j < k; ++j) {
    const int64_t job = job_of_expert_[expert_ids[t * k + j]];
    const int64_t row =
        row_of_slot == nullptr ? t : jobs_[job].rows.begin + row_of_slot[t * k + j];
    for (Part& part : parts_) {
      const kernels::OutputWindow down = down_of(part, job, band);
      rows[count] = down.origin + row * down.ld + c0;
      weights[count] = routing_weights[t * k + j];
      if (++count == kBatch) {
        WeightedRowSum(rows, weights, count, c1 - c0, accumulate, out);
        count = 0;
        accumulate = true;
      }
    }
  }
  if (count > 0) WeightedRowSum(rows, weights, count, c1 - c0, accumulate, out);
}

}  // namespace fp4moe::moe
