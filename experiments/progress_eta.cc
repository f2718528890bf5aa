#include "experiments/progress_eta.h"

#include "absl/strings/str_format.h"

namespace fp4moe::experiments {

EtaEstimator::EtaEstimator(const std::vector<std::string>& kinds) : kinds_(kinds) {
  for (const std::string& kind : kinds_) ++by_kind_[kind].remaining;
}

void EtaEstimator::Finished(double seconds) {
  if (next_ >= kinds_.size()) return;
  Kind& kind = by_kind_[kinds_[next_++]];
  --kind.remaining;
  ++kind.finished;
  kind.seconds += seconds;
}

double EtaEstimator::KnownSeconds() const {
  double seconds = 0;
  for (const auto& [name, kind] : by_kind_) {
    if (kind.finished > 0) seconds += kind.remaining * kind.seconds / kind.finished;
  }
  return seconds;
}

int64_t EtaEstimator::UnknownCases() const {
  int64_t cases = 0;
  for (const auto& [name, kind] : by_kind_) {
    if (kind.finished == 0) cases += kind.remaining;
  }
  return cases;
}

std::string EtaEstimator::Text() const {
  const int64_t unknown = UnknownCases();
  if (unknown == 0) return absl::StrFormat("ETA %s", Duration(KnownSeconds()));
  return absl::StrFormat("ETA over %s (+%d case%s of kinds not run yet)", Duration(KnownSeconds()),
                         unknown, unknown == 1 ? "" : "s");
}

std::string Duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  return s >= 60 ? absl::StrFormat("%dm%02ds", s / 60, s % 60) : absl::StrFormat("%ds", s);
}

}  // namespace fp4moe::experiments
