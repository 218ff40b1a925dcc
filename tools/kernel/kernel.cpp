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

// Jupyter wants JSON mime types (application/json, application/vnd.vegalite.v5+json) as objects,
// not as the text the display hook carries.
bool json_mime(const std::string& mime) {
  return mime == "application/json" || (mime.size() > 5 && mime.compare(mime.size() - 5, 5, "+json") == 0);
}

class NibbleInterpreter : public xeus::xinterpreter {
 public:
  NibbleInterpreter() { xeus::register_interpreter(this); }

 private:
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

  nl::json execute_request_impl(int execution_counter, const std::string& code, bool /*silent*/,
                                bool /*store_history*/, nl::json /*user_expressions*/,
                                bool /*allow_stdin*/) override {
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
        while (!stop_cv.wait_for(wait, kStreamPeriod, [&] { return stop; })) {
          std::lock_guard<std::mutex> lock(publishing_);
          flush_streams();
        }
      });
      r = session_.run(code);
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
    (void)execution_counter;
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
  auto interpreter = std::make_unique<NibbleInterpreter>();
  xeus::xkernel kernel(config, xeus::get_user_name(), std::move(context), std::move(interpreter),
                       xeus::make_xserver_zmq);
  kernel.start();
  return 0;
}
