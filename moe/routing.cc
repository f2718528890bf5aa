#include "moe/routing.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace fp4moe::moe {
namespace {

// Whether slot j of this token repeats the expert of an earlier slot; if so, that slot.
int EarlierSlotOfSameExpert(const int64_t* token_ids, int j) {
  for (int i = 0; i < j; ++i) {
    if (token_ids[i] == token_ids[j]) return i;
  }
  return -1;
}

}  // namespace

absl::Status ValidateRouting(int64_t qlen, int k, int64_t expert_num, const int64_t* expert_ids,
                             const float* routing_weights) {
  for (int64_t t = 0; t < qlen; ++t) {
    for (int j = 0; j < k; ++j) {
      const int64_t id = expert_ids[t * k + j];
      if (id < 0 || id >= expert_num) {
        return absl::InvalidArgumentError(
            absl::StrFormat("expert_ids[token %d, slot %d] = %d is outside [0, %d)", t, j, id,
                            expert_num));
      }
      if (!std::isfinite(routing_weights[t * k + j])) {
        return absl::InvalidArgumentError(
            absl::StrFormat("routing_weights[token %d, slot %d] = %g is not finite", t, j,
                            routing_weights[t * k + j]));
      }
    }
  }
  return absl::OkStatus();
}

ExpertGrouping::ExpertGrouping(int64_t expert_num, int64_t max_len, int max_k)
    : offset_(expert_num + 1),
      cursor_(expert_num),
      token_of_row_(max_len * max_k),
      row_of_slot_(max_len * max_k),
      active_(expert_num) {}

void ExpertGrouping::Group(int64_t qlen, int k, const int64_t* expert_ids) {
  std::fill(cursor_.begin(), cursor_.end(), 0);
  for (int64_t t = 0; t < qlen; ++t) {
    for (int j = 0; j < k; ++j) {
      if (EarlierSlotOfSameExpert(expert_ids + t * k, j) < 0) ++cursor_[expert_ids[t * k + j]];
    }
  }
  active_count_ = 0;
  offset_[0] = 0;
  for (size_t e = 0; e < cursor_.size(); ++e) {
    if (cursor_[e] > 0) active_[active_count_++] = e;
    offset_[e + 1] = offset_[e] + cursor_[e];
    cursor_[e] = 0;
  }
  for (int64_t t = 0; t < qlen; ++t) {
    for (int j = 0; j < k; ++j) {
      const int64_t e = expert_ids[t * k + j];
      const int earlier = EarlierSlotOfSameExpert(expert_ids + t * k, j);
      if (earlier >= 0) {
        row_of_slot_[t * k + j] = row_of_slot_[t * k + earlier];
        continue;
      }
      const int64_t row = cursor_[e]++;
      token_of_row_[offset_[e] + row] = t;
      row_of_slot_[t * k + j] = row;
    }
  }
}

}  // namespace fp4moe::moe
