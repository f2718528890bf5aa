#include "files/interrupt_cleanup.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace fp4moe::files {
namespace {

namespace fs = std::filesystem;

struct Registry {
  std::recursive_mutex mutex;
  std::vector<std::pair<std::string, TemporaryKind>> temporaries;  // in recording order
};

// Never destroyed: the interrupt thread may use it while the process exits.
Registry& TheRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

void Remove(const std::string& path, TemporaryKind kind) {
  switch (kind) {
    case TemporaryKind::kFile:
      ::unlink(path.c_str());
      break;
    case TemporaryKind::kTree: {
      std::error_code ignored;
      fs::remove_all(path, ignored);
      break;
    }
    case TemporaryKind::kEmptyDirectory:
      ::rmdir(path.c_str());  // fails, keeping it, where something else is in it
      break;
  }
}

const char* SignalName(int signal_number) {
  switch (signal_number) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "SIGHUP";
  }
}

[[noreturn]] void CleanUpAndDie(const std::string& tool, int signal_number) {
  Registry& registry = TheRegistry();
  registry.mutex.lock();  // never unlocked: nothing is created or committed from here on
  for (auto t = registry.temporaries.rbegin(); t != registry.temporaries.rend(); ++t) {
    Remove(t->first, t->second);
  }
  std::fprintf(stderr, "%s: interrupted by %s%s\n", tool.c_str(), SignalName(signal_number),
               registry.temporaries.empty() ? "" : ": removed the unfinished outputs");
  ::signal(signal_number, SIG_DFL);
  sigset_t just_this;
  sigemptyset(&just_this);
  sigaddset(&just_this, signal_number);
  pthread_sigmask(SIG_UNBLOCK, &just_this, nullptr);
  ::raise(signal_number);
  std::_Exit(128 + signal_number);  // not reached: the default action ends the process
}

}  // namespace

void RemoveTemporariesOnInterrupt(std::string_view tool) {
  sigset_t taken;
  sigemptyset(&taken);
  bool any = false;
  for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction current;
    // An ignored signal (nohup, a shell's background job) stays ignored.
    if (sigaction(signal_number, nullptr, &current) == 0 && current.sa_handler != SIG_IGN) {
      sigaddset(&taken, signal_number);
      any = true;
    }
  }
  if (!any) return;
  pthread_sigmask(SIG_BLOCK, &taken, nullptr);
  std::thread([taken, tool = std::string(tool)] {
    int signal_number = 0;
    while (sigwait(&taken, &signal_number) != 0) {
    }
    CleanUpAndDie(tool, signal_number);
  }).detach();
}

std::unique_lock<std::recursive_mutex> HoldOffInterrupts() {
  return std::unique_lock<std::recursive_mutex>(TheRegistry().mutex);
}

void RecordTemporary(const std::string& path, TemporaryKind kind) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::recursive_mutex> lock(registry.mutex);
  registry.temporaries.emplace_back(path, kind);
}

void ForgetTemporary(const std::string& path) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::recursive_mutex> lock(registry.mutex);
  auto& all = registry.temporaries;
  all.erase(std::remove_if(all.begin(), all.end(), [&](const auto& t) { return t.first == path; }),
            all.end());
}

}  // namespace fp4moe::files
