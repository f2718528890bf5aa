#include "files/deferred_interrupts.h"

#include <signal.h>

#include <atomic>
#include <iterator>

namespace fp4moe::files {
namespace {

constexpr int kDeferred[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction previous[std::size(kDeferred)];
std::atomic<int> recorded{0};

void Record(int signal) { recorded = signal; }

}  // namespace

DeferredInterrupts::DeferredInterrupts() {
  recorded = 0;
  struct sigaction record = {};
  record.sa_handler = Record;
  sigemptyset(&record.sa_mask);
  for (size_t i = 0; i < std::size(kDeferred); ++i) {
    sigaction(kDeferred[i], &record, &previous[i]);
    if (previous[i].sa_handler == SIG_IGN) sigaction(kDeferred[i], &previous[i], nullptr);
  }
}

DeferredInterrupts::~DeferredInterrupts() {
  for (size_t i = 0; i < std::size(kDeferred); ++i) {
    sigaction(kDeferred[i], &previous[i], nullptr);
  }
  if (const int signal_number = recorded.exchange(0); signal_number != 0) {
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
  }
}

}  // namespace fp4moe::files
