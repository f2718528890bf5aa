#ifndef FP4MOE_EXPERIMENTS_PROGRESS_ETA_H_
#define FP4MOE_EXPERIMENTS_PROGRESS_ETA_H_

// The time a sweep has left, for its progress line.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fp4moe::experiments {

// Estimates the time left from what finished cases of the same kind cost. Kinds differ by
// orders of magnitude (a small GEMM against a MoE layer that is built, run and checked), so
// one average over all finished cases misleads until every kind has run; a kind not run yet is
// counted, not guessed.
class EtaEstimator {
 public:
  // The kind of every case to run, in run order.
  explicit EtaEstimator(const std::vector<std::string>& kinds);

  // The next case in run order finished after `seconds`.
  void Finished(double seconds);

  // Seconds the remaining cases of kinds already run should take.
  double KnownSeconds() const;
  // Remaining cases of kinds no finished case has.
  int64_t UnknownCases() const;
  // "ETA 1m50s", or "ETA over 6s (+11 cases of kinds not run yet)".
  std::string Text() const;

 private:
  struct Kind {
    int64_t remaining = 0;
    int64_t finished = 0;
    double seconds = 0;  // of the finished ones
  };
  std::vector<std::string> kinds_;
  size_t next_ = 0;
  std::map<std::string, Kind> by_kind_;
};

// "45s", "2m05s"
std::string Duration(double seconds);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_PROGRESS_ETA_H_
