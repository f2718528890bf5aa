#include "files/deferred_interrupts.h"

#include <signal.h>

#include <atomic>

namespace fp4moe::files {
namespace {

constexpr int kDeferred[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction previous[sizeof(kDeferred) / sizeof(kDeferred[0])];
std::atomic<int> recorded{0};

void Record(int signal) { recorded = signal; }

}  // namespace

DeferredInterrupts::DeferredInterrupts() {
  recorded = 0;
  struct sigaction record = {};
  record.sa_handler = Record;
  sigemptyset(&record.sa_mask);
  for (size_t i = 0; i < sizeof(kDeferred) / sizeof(kDeferred[0]); ++i) {
    sigaction(kDeferred[i], &record, &previous[i]);
  }
}

DeferredInterrupts::~DeferredInterrupts() {
  for (size_t i = 0; i < sizeof(kDeferred) / sizeof(kDeferred[0]); ++i) {
    sigaction(kDeferred[i], &previous[i], nullptr);
  }
  if (const int signal = recorded.exchange(0); signal != 0) raise(signal);
}

}  // namespace fp4moe::files
