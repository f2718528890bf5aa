#ifndef FP4MOE_MOE_ROUTING_H_
#define FP4MOE_MOE_ROUTING_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace fp4moe::moe {

// OK when every expert id of the [qlen, k] routing is in [0, expert_num) and every routing
// weight is finite; otherwise InvalidArgument naming the token and slot.
absl::Status ValidateRouting(int64_t qlen, int k, int64_t expert_num, const int64_t* expert_ids,
                             const float* routing_weights);

// Tokens grouped by expert with a counting sort, in storage sized once for up to max_len
// tokens of up to max_k experts (Group allocates nothing). Expert e's rows are its tokens in
// ascending order; a token that lists e in several slots has one row, shared by those slots.
class ExpertGrouping {
 public:
  ExpertGrouping(int64_t expert_num, int64_t max_len, int max_k);

  // expert_ids [qlen, k] must have passed ValidateRouting, qlen <= max_len, k <= max_k.
  void Group(int64_t qlen, int k, const int64_t* expert_ids);

  // Experts with at least one token, ascending.
  absl::Span<const int64_t> active_experts() const {
    return absl::MakeConstSpan(active_.data(), active_count_);
  }
  int64_t rows(int64_t expert) const { return offset_[expert + 1] - offset_[expert]; }
  // The token of each of the expert's rows.
  const int64_t* tokens(int64_t expert) const { return token_of_row_.data() + offset_[expert]; }
  // The row, within its expert, that slot j of token t reads: row_of_slot()[t * k + j].
  const int64_t* row_of_slot() const { return row_of_slot_.data(); }

 private:
  std::vector<int64_t> offset_;  // [expert_num + 1]
  std::vector<int64_t> cursor_;  // [expert_num]
  std::vector<int64_t> token_of_row_, row_of_slot_;
  std::vector<int64_t> active_;
  int64_t active_count_ = 0;
};

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_ROUTING_H_
