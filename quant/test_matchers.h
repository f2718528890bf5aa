#ifndef FP4MOE_QUANT_TEST_MATCHERS_H_
#define FP4MOE_QUANT_TEST_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"

namespace fp4moe {

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// EXPECT_THAT(f(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("w1")));
MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& s = StatusOf(arg);
  *result_listener << "status " << s;
  return s.code() == code &&
         testing::ExplainMatchResult(message_matcher, std::string(s.message()),
                                     result_listener);
}

// Distance from x to the nearest point of the symmetric grid {+-m * scale : m in magnitudes}.
// A quantizer that rounds to nearest (saturating) lands exactly that far from x.
double DistanceToGrid(double x, absl::Span<const float> magnitudes, double scale);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_TEST_MATCHERS_H_
