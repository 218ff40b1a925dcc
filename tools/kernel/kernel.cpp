// nibble-kernel: a Jupyter kernel for C++ notebooks on nibble (xeus 2.4 for the protocol, the
// Session of session.h for the code), and the terminal notebook runner behind `nibble milestone run`.
//
//   nibble-kernel -f CONNECTION_FILE      started by Jupyter through kernel.json
//   nibble-kernel --run NOTEBOOK.ipynb [FIGURE_DIR]   runs the code cells in the terminal (figures saved
//                                         as PNG in FIGURE_DIR); exit 1 if a cell fails
//
// stdout/stderr of a cell (fd 1 and 2, so printf, fmt::print and std::cout alike) are redirected to
// temporary files while it runs (a file never blocks the writer, unlike a full pipe) and published as
// stream messages every kStreamPeriod, before each nibble::display (so text and displays keep their
// order) and when the cell ends. Publishing happens on the cell's thread or on a ticker thread, one
// at a time under a mutex; the ticker is joined before the reply, so xeus never sees two at once.
#include <dlfcn.h>
#include <fnmatch.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>
#include <xeus/xhistory_manager.hpp>
#include <xeus/xinterpreter.hpp>
#include <xeus/xkernel.hpp>
#include <xeus/xkernel_configuration.hpp>
#include <xeus/xserver_zmq.hpp>
#include <zmq.hpp>

#include "core/display.h"
#include "tools/kernel/notebook.h"
#include "tools/kernel/session.h"

namespace nl = nlohmann;

namespace {

constexpr std::chrono::milliseconds kStreamPeriod{250};

// Points fd 1 and 2 at temporary files for the duration of a cell; drain() returns what was
// written since the previous drain().
class OutputCapture {
 public:
  OutputCapture() {
    std::fflush(stdout);
    std::fflush(stderr);
    for (int i = 0; i < 2; ++i) {
      files_[i] = std::tmpfile();
      saved_[i] = dup(i + 1);
      dup2(fileno(files_[i]), i + 1);
    }
  }
  ~OutputCapture() {
    std::fflush(stdout);
    std::fflush(stderr);
    for (int i = 0; i < 2; ++i) {
      dup2(saved_[i], i + 1);
      close(saved_[i]);
      std::fclose(files_[i]);
    }
  }
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;

  // index 0: stdout, 1: stderr
  std::string drain(int i) {
    std::fflush(i == 0 ? stdout : stderr);
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = pread(fileno(files_[i]), buf, sizeof buf, static_cast<off_t>(read_[i]));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      read_[i] += static_cast<size_t>(n);
    }
    return out;
  }

 private:
  std::FILE* files_[2] = {nullptr, nullptr};
  int saved_[2] = {-1, -1};
  size_t read_[2] = {0, 0};
};

// ---- interrupt (Kernel > Interrupt: Jupyter sends SIGINT) ----------------------------------------
// SIGINT is blocked in every thread (xeus' ZeroMQ threads must not see EINTR) and taken by a watcher
// thread with sigwait. While a cell runs, the watcher passes it on to the cell's thread as SIGUSR2,
// whose handler stops the cell by jumping (siglongjmp) back to where the kernel started it -- but
// only when the thread was interrupted in the cell's own JIT-compiled code. Jumping out of a library
// (malloc holding its lock, an OpenMP team mid-barrier, the display hook holding a mutex) would leave
// that library broken, so then the handler only notes the request and the ticker thread signals the
// cell's thread again every kRetryPeriod until it is caught in its own code. A cell stuck in one long
// library call stops when the call returns; a cell that ends first still reports the interrupt (so
// "Run all" stops there). The skipped frames' objects are not destroyed (leaked); the session goes on.
// Programs a cell starts (popen) inherit the blocked SIGINT and run to their end.
namespace interrupt {

constexpr std::chrono::milliseconds kRetryPeriod{1};  // while a stop is pending (else the ticker's 10 ms)
constexpr int kCellSignal = SIGUSR2;

sigjmp_buf jump;
volatile sig_atomic_t armed = 0;      // a cell is running on cell_thread
volatile sig_atomic_t pending = 0;    // asked to stop, not stopped yet
volatile sig_atomic_t requested = 0;  // asked to stop during this cell
pthread_t cell_thread;
std::mutex arming;  // the watcher signals the cell thread only while it is armed

// Executable segments of every loaded program and library, collected when a cell starts (the
// handler must not call the loader). JIT code lives in anonymous memory, outside all of them.
struct Range {
  uintptr_t begin, end;
};
constexpr int kMaxRanges = 4096;
Range ranges[kMaxRanges];
int range_count = 0;

int collect(dl_phdr_info* info, size_t, void*) {
  for (int i = 0; i < info->dlpi_phnum && range_count < kMaxRanges; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    const uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    ranges[range_count++] = Range{begin, begin + ph.p_memsz};
  }
  return 0;
}

bool in_a_library(uintptr_t pc) {
  for (int i = 0; i < range_count; ++i)
    if (pc >= ranges[i].begin && pc < ranges[i].end) return true;
  return false;
}

uintptr_t interrupted_pc(void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
  return static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<uintptr_t>(uc->uc_mcontext.pc);
#else
  (void)uc;
  return 0;  // unknown: treated as library code (the cell stops when it ends)
#endif
}

void on_cell_signal(int, siginfo_t*, void* context) {
  if (!armed) return;
  const uintptr_t pc = interrupted_pc(context);
  if (pc == 0 || in_a_library(pc)) {
    pending = 1;
    return;
  }
  armed = 0;
  pending = 0;
  siglongjmp(jump, 1);
}

void watch() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    std::lock_guard<std::mutex> lock(arming);
    if (!armed) continue;  // idle: nothing to stop
    requested = 1;
    pending = 1;
    pthread_kill(cell_thread, kCellSignal);
  }
}

// Before any thread starts: SIGINT blocked (inherited by every thread), the watcher, the handler.
void install() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  struct sigaction sa {};
  sa.sa_sigaction = on_cell_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(kCellSignal, &sa, nullptr);
  std::thread(watch).detach();
}

// Runs the cell; false when it was interrupted (then *r is untouched).
bool run(nibble::repl::Session& session, const std::string& code, nibble::repl::CellResult* r) {
  range_count = 0;
  dl_iterate_phdr(collect, nullptr);
  cell_thread = pthread_self();
  pending = 0;
  requested = 0;
  if (sigsetjmp(jump, 1) != 0) return false;
  {
    std::lock_guard<std::mutex> lock(arming);
    armed = 1;
  }
  *r = session.run(code);
  std::lock_guard<std::mutex> lock(arming);
  armed = 0;
  pending = 0;
  return true;
}

}  // namespace interrupt

// History with the execution counts as line numbers (xeus 2.4's in-memory history numbers every
// input 1): the interpreter records each stored input itself; entries are [session, line, input].
class History : public xeus::xhistory_manager {
 public:
  void add(int line, const std::string& input) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_back({line, input});
  }

 private:
  struct Entry {
    int line;
    std::string input;
  };
  static constexpr int kSession = 1;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;

  static nl::json row(const Entry& e, bool output) {
    if (output) return nl::json::array({kSession, e.line, nl::json::array({e.input, nullptr})});
    return nl::json::array({kSession, e.line, e.input});
  }
  static nl::json reply(nl::json rows) {
    return nl::json{{"status", "ok"}, {"history", std::move(rows)}};
  }

  void configure_impl() override {}
  void store_inputs_impl(int, int, const std::string&, const std::string&) override {}  // see add()

  nl::json get_tail_impl(int n, bool, bool output) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    nl::json rows = nl::json::array();
    const size_t first = n < 0 || static_cast<size_t>(n) >= entries_.size() ? 0 : entries_.size() - static_cast<size_t>(n);
    for (size_t i = first; i < entries_.size(); ++i) rows.push_back(row(entries_[i], output));
    return reply(rows);
  }
  nl::json get_range_impl(int, int start, int stop, bool, bool output) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    nl::json rows = nl::json::array();
    for (const Entry& e : entries_)
      if (e.line >= start && (stop <= 0 || e.line < stop)) rows.push_back(row(e, output));
    return reply(rows);
  }
  nl::json search_impl(const std::string& pattern, bool, bool output, int n, bool unique) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<const Entry*> hits;
    for (const Entry& e : entries_)
      if (fnmatch(pattern.c_str(), e.input.c_str(), 0) == 0) hits.push_back(&e);
    if (unique) {
      std::vector<const Entry*> kept;  // the last occurrence of each input
      for (size_t i = 0; i < hits.size(); ++i) {
        bool later = false;
        for (size_t j = i + 1; j < hits.size() && !later; ++j) later = hits[j]->input == hits[i]->input;
        if (!later) kept.push_back(hits[i]);
      }
      hits = kept;
    }
    const size_t first = n <= 0 || static_cast<size_t>(n) >= hits.size() ? 0 : hits.size() - static_cast<size_t>(n);
    nl::json rows = nl::json::array();
    for (size_t i = first; i < hits.size(); ++i) rows.push_back(row(*hits[i], output));
    return reply(rows);
  }
};

// Jupyter wants JSON mime types (application/json, application/vnd.vegalite.v5+json) as objects,
// not as the text the display hook carries.
bool json_mime(const std::string& mime) {
  return mime == "application/json" || (mime.size() > 5 && mime.compare(mime.size() - 5, 5, "+json") == 0);
}

class NibbleInterpreter : public xeus::xinterpreter {
 public:
  explicit NibbleInterpreter(History* history) : history_(history) { xeus::register_interpreter(this); }

 private:
  History* history_;  // owned by the xkernel
  nibble::repl::Session session_;
  std::mutex publishing_;             // held while publishing during a cell
  OutputCapture* capture_ = nullptr;  // set while a cell runs

  void configure_impl() override {
    nibble::set_display_hook([this](const nibble::MimeBundle& bundle) {
      std::lock_guard<std::mutex> lock(publishing_);
      flush_streams();
      nl::json data = nl::json::object();
      for (const auto& [mime, value] : bundle) data[mime] = json_mime(mime) ? nl::json::parse(value) : nl::json(value);
      display_data(std::move(data), nl::json::object(), nl::json::object());
    });
  }

  void flush_streams() {
    if (!capture_) return;
    const std::string out = capture_->drain(0), err = capture_->drain(1);
    if (!out.empty()) publish_stream("stdout", out);
    if (!err.empty()) publish_stream("stderr", err);
  }

  nl::json execute_request_impl(int execution_counter, const std::string& code, bool silent, bool store_history,
                                nl::json /*user_expressions*/, bool /*allow_stdin*/) override {
    if (store_history && !silent) history_->add(execution_counter, code);
    nibble::repl::CellResult r;
    {
      OutputCapture capture;
      capture_ = &capture;
      // The ticker publishes what the cell printed so far, so a long loop's progress shows up live.
      std::mutex stop_mutex;
      std::condition_variable stop_cv;
      bool stop = false;
      std::thread ticker([&] {
        std::unique_lock<std::mutex> wait(stop_mutex);
        auto last_flush = std::chrono::steady_clock::now();
        while (!stop_cv.wait_for(wait, interrupt::pending ? interrupt::kRetryPeriod : std::chrono::milliseconds(10),
                                 [&] { return stop; })) {
          if (interrupt::pending) pthread_kill(interrupt::cell_thread, interrupt::kCellSignal);  // try again
          if (std::chrono::steady_clock::now() - last_flush < kStreamPeriod) continue;
          last_flush = std::chrono::steady_clock::now();
          std::lock_guard<std::mutex> lock(publishing_);
          flush_streams();
        }
      });
      if (!interrupt::run(session_, code, &r) || interrupt::requested) {
        r = nibble::repl::CellResult{};
        r.ok = false;
        r.error_name = "KeyboardInterrupt";
        r.error_value = "the cell was interrupted (Kernel > Interrupt); what it was building may be half-made, "
                        "earlier cells' definitions are intact";
      }
      {
        std::lock_guard<std::mutex> lock(stop_mutex);
        stop = true;
      }
      stop_cv.notify_one();
      ticker.join();
      flush_streams();
      capture_ = nullptr;
    }
    if (!r.diagnostics.empty()) publish_stream("stderr", r.diagnostics);
    nl::json reply;
    if (!r.ok) {
      publish_execution_error(r.error_name, r.error_value, {r.error_name + ": " + r.error_value});
      reply["status"] = "error";
      reply["ename"] = r.error_name;
      reply["evalue"] = r.error_value;
      reply["traceback"] = nl::json::array({r.error_name + ": " + r.error_value});
      return reply;
    }
    if (!r.result.empty() && !silent) {
      nl::json data = nl::json::object();
      for (const auto& [mime, value] : r.result) data[mime] = json_mime(mime) ? nl::json::parse(value) : nl::json(value);
      publish_execution_result(execution_counter, std::move(data), nl::json::object());
    }
    reply["status"] = "ok";
    reply["payload"] = nl::json::array();
    reply["user_expressions"] = nl::json::object();
    return reply;
  }

  nl::json complete_request_impl(const std::string& code, int cursor_pos) override {
    size_t start = 0;
    const std::string word = nibble::repl::word_at(code, static_cast<size_t>(cursor_pos), &start);
    nl::json reply;
    reply["status"] = "ok";
    reply["matches"] = session_.complete(word);
    reply["cursor_start"] = start;
    reply["cursor_end"] = cursor_pos;
    reply["metadata"] = nl::json::object();
    return reply;
  }

  nl::json inspect_request_impl(const std::string& code, int cursor_pos, int /*detail_level*/) override {
    const std::string word = nibble::repl::word_at(code, static_cast<size_t>(cursor_pos), nullptr);
    const std::string doc = session_.inspect(word);
    nl::json reply;
    reply["status"] = "ok";
    reply["found"] = !doc.empty();
    reply["data"] = nl::json::object();
    if (!doc.empty()) reply["data"]["text/plain"] = doc;
    reply["metadata"] = nl::json::object();
    return reply;
  }

  nl::json is_complete_request_impl(const std::string& code) override {
    int depth = 0;
    for (char c : code) depth += (c == '{' || c == '(' || c == '[') - (c == '}' || c == ')' || c == ']');
    nl::json reply;
    reply["status"] = depth > 0 ? "incomplete" : "complete";
    if (depth > 0) reply["indent"] = "    ";
    return reply;
  }

  nl::json kernel_info_request_impl() override {
    nl::json r;
    r["implementation"] = "nibble-kernel";
    r["implementation_version"] = "0.1.0";
    r["banner"] = "nibble C++17 kernel (xeus + clang 16 incremental interpreter); #include <nibble.h>";
    r["language_info"]["name"] = "C++17";
    r["language_info"]["version"] = "17";
    r["language_info"]["mimetype"] = "text/x-c++src";
    r["language_info"]["codemirror_mode"] = "text/x-c++src";
    r["language_info"]["file_extension"] = ".cpp";
    r["status"] = "ok";
    return r;
  }

  void shutdown_request_impl() override { nibble::set_display_hook({}); }
};

int usage() {
  std::fprintf(stderr,
               "usage: nibble-kernel -f CONNECTION_FILE     (Jupyter starts it through kernel.json)\n"
               "       nibble-kernel --run NOTEBOOK.ipynb [FIGURE_DIR]   (runs the code cells in the terminal)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if ((argc == 3 || argc == 4) && std::strcmp(argv[1], "--run") == 0) {
    try {
      const nibble::repl::NotebookRun run =
          nibble::repl::run_notebook(argv[2], /*echo_headers=*/true, argc == 4 ? argv[3] : "");
      std::printf("%s: %d code cells, %s\n", argv[2], run.cells,
                  run.failed_cell < 0 ? "all ran" : ("cell " + std::to_string(run.failed_cell) + " failed").c_str());
      return run.failed_cell < 0 ? 0 : 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
  }
  if (argc != 3 || std::strcmp(argv[1], "-f") != 0) return usage();
  const xeus::xconfiguration config = xeus::load_configuration(argv[2]);
  auto context = xeus::make_context<zmq::context_t>();
  interrupt::install();
  auto history = std::make_unique<History>();
  auto interpreter = std::make_unique<NibbleInterpreter>(history.get());
  xeus::xkernel kernel(config, xeus::get_user_name(), std::move(context), std::move(interpreter),
                       xeus::make_xserver_zmq, std::move(history));
  kernel.start();
  return 0;
}
