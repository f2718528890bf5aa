#include "files/interrupt_cleanup.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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
  std::vector<pid_t> children;
};

// Never destroyed: the interrupt thread may use it while the process exits.
Registry& TheRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

// StopAtFirstInterrupt's request; a mutex of its own, so that the notice is not held up by a
// step that holds interrupts off.
struct StopRequest {
  std::mutex mutex;
  std::atomic<bool>* stop = nullptr;
  std::string notice;
};

StopRequest& TheStopRequest() {
  static StopRequest* request = new StopRequest;
  return *request;
}

// True where `signal_number` only asks the run to stop (and was told so on stderr).
bool RequestStop(int signal_number) {
  if (signal_number != SIGINT) return false;
  StopRequest& request = TheStopRequest();
  std::lock_guard<std::mutex> lock(request.mutex);
  if (request.stop == nullptr || request.stop->load()) return false;
  std::fprintf(stderr, "%s", request.notice.c_str());  // before the run sees `stop`
  request.stop->store(true);
  return true;
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

// Every recorded child process killed and reaped, then every recorded temporary removed, in
// reverse order of recording; the caller holds the mutex. Returns whether there were any
// temporaries.
bool RemoveRecorded(Registry& registry) {
  while (!registry.children.empty()) KillChildProcess(registry.children.back());
  for (auto t = registry.temporaries.rbegin(); t != registry.temporaries.rend(); ++t) {
    Remove(t->first, t->second);
  }
  const bool any = !registry.temporaries.empty();
  registry.temporaries.clear();
  return any;
}

// Address space held back for RemoveRecordedAtExit: the exit() it cleans up after can come from
// a process memory limit with nothing left under it, and removing a tree needs a directory
// stream's buffer (32 KB; without this the removal failed under the limit and left the tree).
constexpr size_t kExitReserveBytes = size_t{1} << 20;
void* exit_reserve = nullptr;

// At exit nothing is recorded, unless something called exit() without unwinding the stack of
// the temporaries' owners: libgomp does when it cannot start a thread (a process memory limit).
void RemoveRecordedAtExit() {
  std::free(exit_reserve);
  exit_reserve = nullptr;
  Registry& registry = TheRegistry();
  // Where another thread holds it, exit() stopped it mid-step: better keep a temporary than hang.
  std::unique_lock<std::recursive_mutex> lock(registry.mutex, std::try_to_lock);
  if (lock.owns_lock()) RemoveRecorded(registry);
}

[[noreturn]] void CleanUpAndDie(const std::string& tool, int signal_number) {
  Registry& registry = TheRegistry();
  registry.mutex.lock();  // never unlocked: nothing is created or committed from here on
  const bool removed = RemoveRecorded(registry);
  std::fprintf(stderr, "%s: interrupted by %s%s\n", tool.c_str(), SignalName(signal_number),
               removed ? ": removed the unfinished outputs" : "");
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
  static const int at_exit = [] {  // once, however often called
    exit_reserve = std::malloc(kExitReserveBytes);
    return std::atexit(RemoveRecordedAtExit);
  }();
  (void)at_exit;
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
  try {
    std::thread([taken, tool = std::string(tool)] {
      int signal_number = 0;
      // Waits again after a failed wait and after a signal that only asked the run to stop.
      while (sigwait(&taken, &signal_number) != 0 || RequestStop(signal_number)) {
      }
      CleanUpAndDie(tool, signal_number);
    }).detach();
  } catch (const std::system_error&) {
    // No thread to take them (the process's memory is limited, ulimit -v): the signals keep
    // their default action rather than being held for nobody, and the run goes on.
    pthread_sigmask(SIG_UNBLOCK, &taken, nullptr);
  }
}

void StopAtFirstInterrupt(std::atomic<bool>& stop, std::string_view notice) {
  StopRequest& request = TheStopRequest();
  std::lock_guard<std::mutex> lock(request.mutex);
  request.stop = &stop;
  request.notice = std::string(notice);
}

std::unique_lock<std::recursive_mutex> HoldOffInterrupts() {
  return std::unique_lock<std::recursive_mutex>(TheRegistry().mutex);
}

void RecordTemporary(const std::string& path, TemporaryKind kind) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::recursive_mutex> lock(registry.mutex);
  registry.temporaries.emplace_back(path, kind);
}

void RecordChildProcess(pid_t pid) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::recursive_mutex> lock(registry.mutex);
  registry.children.push_back(pid);
}

void ForgetChildProcess(pid_t pid) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::recursive_mutex> lock(registry.mutex);
  auto& all = registry.children;
  all.erase(std::remove(all.begin(), all.end(), pid), all.end());
}

void KillChildProcess(pid_t pid) {
  const auto held = HoldOffInterrupts();
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  ForgetChildProcess(pid);
}

void ForgetTemporary(const std::string& path) {
  Registry& registry = TheRegistry();
  std::lock_guard<std::recursive_mutex> lock(registry.mutex);
  auto& all = registry.temporaries;
  all.erase(std::remove_if(all.begin(), all.end(), [&](const auto& t) { return t.first == path; }),
            all.end());
}

}  // namespace fp4moe::files
