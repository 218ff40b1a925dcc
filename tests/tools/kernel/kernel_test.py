#!/usr/bin/env python3
"""nibble-kernel through Jupyter's own client libraries (Debian python3-nbclient, python3-jupyter-client):
cells run in order with libnibble, stdout is streamed, a compile error and a nibble::Error become error
outputs and the kernel goes on, nibble::display publishes text/plain + text/html (tensors) and Vega-Lite
(charts), a last line without its semicolon is the cell's result, execution counts and history agree,
an interrupt stops a long cell and the kernel goes on, a cell that would not link is taken back and the
session goes on, complete and inspect answer. Then Debian's jupyter_kernel_test suite (python3-jupyter-kernel-test) when installed.

Run by CTest with JUPYTER_PATH pointing at the build tree's kernelspec. Exit code 77 = skipped (a
package is missing; the reason is printed)."""
import base64
import os
import sys
import threading
import time
import unittest

SKIP = 77
try:
    import nbformat
    from nbclient import NotebookClient
    from jupyter_client.manager import start_new_kernel
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIPPED: {e.name} is not installed (Debian: python3-nbclient python3-jupyter-client)")
    sys.exit(SKIP)

KERNEL = "nibble-cpp17"
TIMEOUT = 120


def run_cells(sources):
    """Executes the cells with nbclient (errors allowed) and returns the executed notebook's cells."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, kernel_name=KERNEL, timeout=TIMEOUT, allow_errors=True).execute()
    return nb.cells


def stdout_of(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def errors_of(cell):
    return [o for o in cell.outputs if o.output_type == "error"]


class NotebookCells(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cells = run_cells([
            "#include <nibble.h>\n#include <fmt/core.h>",
            # a tensor op, printed with fmt: sum of squares of 1..4 = 30
            "auto x = nibble::Tensor::from_vector({1, 2, 3, 4});\n"
            "fmt::print(\"sum of squares = {}\\n\", nibble::sum(x * x).item());",
            # backward: d/dw sum(w*w) = 2w
            "auto w = nibble::Tensor::from_vector({0.5f, -1.5f});\nw.requires_grad_();\n"
            "auto loss = nibble::sum(w * w);\nloss.backward();\n"
            "fmt::print(\"grad = {} {}\\n\", w.grad().at({0}), w.grad().at({1}));",
            "int broken = not_declared_anywhere + 1;",
            "fmt::print(\"after the compile error x has {} elements\\n\", x.numel());",
            "nibble::Tensor::zeros({2, 3}).reshape({4, 4});",
            "fmt::print(\"after the nibble::Error: {}\\n\", nibble::sum(x).item());",
            "nibble::display(nibble::Tensor::from_vector({1.5f, 2.5f, 3.5f, 4.5f}, {2, 2}));",
            "throw std::runtime_error(\"plain std exception\");",
            "fmt::print(\"still alive\\n\");",
            "nibble::display_heatmap(nibble::Tensor::from_vector({0, 1, 2, 3}, {2, 2}), 3);",
            # 11-15: a last line without its semicolon is the cell's result (execute_result)
            "int six = 6;\nsix * 7  // the answer",
            "nibble::Tensor::from_vector({0.25f, 0.5f}, {1, 2})",
            "nibble::viz::line({0, 1, 2}, {3, 1, 2}, \"loss\").title(\"curve\")",
            "struct NoSemicolon { int x; }",
            "nibble::display(nibble::viz::bar({\"gzip\", \"xz\"}, {2.5, 2.25}))",
            # 16-17: a namespace-scope const has internal linkage; the kernel exports it, so a later cell can use it
            "const std::string greeting = \"hi\";",
            "fmt::print(\"{}\\n\", greeting);",
            # 18-21: a cell that would not link is taken back before it runs, and the session goes on
            "int declared_only(int);\nint defined_here = 5;",
            "std::vector<long double> grown{1.0L};\nint linked = declared_only(2) + defined_here;",
            "std::vector<long double> again{2.0L, 3.0L};\nint linked = 7;\nfmt::print(\"{} {}\\n\", again.size(), linked);",
        ])

    def test_tensor_op_prints_through_fmt(self):
        self.assertEqual(errors_of(self.cells[1]), [])
        self.assertEqual(stdout_of(self.cells[1]), "sum of squares = 30\n")

    def test_backward_gives_the_gradient(self):
        self.assertEqual(errors_of(self.cells[2]), [])
        self.assertEqual(stdout_of(self.cells[2]), "grad = 1 -3\n")

    def test_compile_error_carries_the_compilers_message_and_the_kernel_goes_on(self):
        errs = errors_of(self.cells[3])
        self.assertEqual(len(errs), 1)
        self.assertEqual(errs[0].ename, "CompileError")
        self.assertIn("undeclared identifier 'not_declared_anywhere'", errs[0].evalue)
        self.assertEqual(stdout_of(self.cells[4]), "after the compile error x has 4 elements\n")

    def test_nibble_error_is_reported_and_the_kernel_goes_on(self):
        errs = errors_of(self.cells[5])
        self.assertEqual(len(errs), 1)
        self.assertEqual(errs[0].ename, "nibble::Error")
        self.assertIn("reshape", errs[0].evalue)
        self.assertEqual(stdout_of(self.cells[6]), "after the nibble::Error: 10\n")

    def test_display_publishes_plain_text_and_html(self):
        shown = [o for o in self.cells[7].outputs if o.output_type == "display_data"]
        self.assertEqual(len(shown), 1)
        data = shown[0].data
        self.assertIn("[2, 2]", data["text/plain"])
        self.assertIn("<table>", data["text/html"])
        self.assertIn("<td>3.5</td>", data["text/html"])

    def test_std_exception_is_reported_and_the_kernel_goes_on(self):
        errs = errors_of(self.cells[8])
        self.assertEqual([e.ename for e in errs], ["std::exception"])
        self.assertIn("plain std exception", errs[0].evalue)
        self.assertEqual(stdout_of(self.cells[9]), "still alive\n")


    def test_a_top_level_const_of_one_cell_is_usable_in_the_next(self):
        self.assertEqual(errors_of(self.cells[16]), [])
        self.assertEqual(errors_of(self.cells[17]), [])
        self.assertEqual(stdout_of(self.cells[17]), "hi\n")

    def test_a_cell_that_would_not_link_is_taken_back_and_the_session_goes_on(self):
        self.assertEqual(errors_of(self.cells[18]), [])
        errs = errors_of(self.cells[19])
        self.assertEqual([e.ename for e in errs], ["LinkError"])
        self.assertIn("`declared_only(int)`", errs[0].evalue)
        self.assertIn("taken back", errs[0].evalue)
        # `linked` was taken back with its cell (so it can be defined again), the vector's template
        # instances are not poisoned, and later cells link and run.
        self.assertEqual(errors_of(self.cells[20]), [])
        self.assertEqual(stdout_of(self.cells[20]), "2 7\n")

    def results_of(self, i):
        self.assertEqual(errors_of(self.cells[i]), [])
        return [o for o in self.cells[i].outputs if o.output_type == "execute_result"]

    def test_a_trailing_number_is_the_cells_result(self):
        results = self.results_of(11)
        self.assertEqual(len(results), 1)
        self.assertEqual(results[0].data["text/plain"], "42")
        self.assertEqual(results[0].execution_count, self.cells[11].execution_count)

    def test_a_trailing_tensor_is_shown_as_its_table(self):
        results = self.results_of(12)
        self.assertEqual(len(results), 1)
        self.assertIn("<td>0.25</td><td>0.5</td>", results[0].data["text/html"])

    def test_a_trailing_chart_is_a_vega_lite_object_with_its_rows(self):
        results = self.results_of(13)
        self.assertEqual(len(results), 1)
        spec = results[0].data["application/vnd.vegalite.v5+json"]
        self.assertIsInstance(spec, dict)  # JSON mime types go out as objects, not text
        self.assertEqual(spec["$schema"], "https://vega.github.io/schema/vega-lite/v5.json")
        self.assertEqual(spec["title"], "curve")
        self.assertEqual([(r["x"], r["y"]) for r in spec["data"]["values"]], [(0, 3), (1, 1), (2, 2)])
        self.assertIn("line chart", results[0].data["text/plain"])

    def test_a_tail_that_is_no_expression_gets_the_compilers_message_about_the_cell_as_written(self):
        errs = errors_of(self.cells[14])
        self.assertEqual([e.ename for e in errs], ["CompileError"])
        self.assertIn("expected ';' after struct", errs[0].evalue)
        self.assertNotIn("show", errs[0].evalue)

    def test_a_displayed_chart_is_display_data_not_a_result(self):
        self.assertEqual(self.results_of(15), [])
        shown = [o for o in self.cells[15].outputs if o.output_type == "display_data"]
        self.assertEqual(len(shown), 1)
        spec = shown[0].data["application/vnd.vegalite.v5+json"]
        self.assertEqual([(r["category"], r["value"]) for r in spec["data"]["values"]], [("gzip", 2.5), ("xz", 2.25)])

    def test_heatmap_publishes_a_png(self):
        shown = [o for o in self.cells[10].outputs if o.output_type == "display_data"]
        self.assertEqual(len(shown), 1)
        png = base64.b64decode(shown[0].data["image/png"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(png[16:24], (6).to_bytes(4, "big") + (6).to_bytes(4, "big"))  # 2x2 cells, 3 px each


class LiveKernel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name=KERNEL, startup_timeout=TIMEOUT)
        cls.kc.execute_interactive("#include <nibble.h>", timeout=TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def test_output_of_a_long_cell_streams_while_it_runs(self):
        # (A top-level call of a qualified function template, std::this_thread::sleep_for(...), is
        # mistaken for a declaration by clang 16: it goes in a function.)
        self.kc.execute_interactive("#include <chrono>\n#include <thread>\n#include <fmt/core.h>\n"
                                    "void pause_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }",
                                    timeout=TIMEOUT)
        arrivals = []  # (seconds since start, text) of each stdout stream message
        start = time.monotonic()

        def hook(msg):
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                arrivals.append((time.monotonic() - start, msg["content"]["text"]))

        reply = self.kc.execute_interactive(
            'fmt::print("tick\\n");\npause_ms(2000);\n'
            'fmt::print("tock\\n");', timeout=TIMEOUT, output_hook=hook)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual("".join(t for _, t in arrivals), "tick\ntock\n")
        tick = next(at for at, t in arrivals if "tick" in t)
        tock = next(at for at, t in arrivals if "tock" in t)
        self.assertGreater(tock - tick, 1.0, f"tick arrived at {tick:.2f} s, tock at {tock:.2f} s: not streamed")

    def execute(self, code, **kw):
        """Runs code; returns (reply content, iopub messages other than status)."""
        msgs = []
        reply = self.kc.execute_interactive(code, timeout=TIMEOUT, output_hook=msgs.append, **kw)
        return reply["content"], [m for m in msgs if m["msg_type"] != "status"]

    def test_execution_counts_step_by_one_and_the_history_numbers_inputs_by_them(self):
        first, msgs = self.execute("int counted = 1;")
        self.assertEqual([m["content"]["execution_count"] for m in msgs if m["msg_type"] == "execute_input"],
                         [first["execution_count"]])
        silent, _ = self.execute("counted = 2;", silent=True)
        self.assertEqual(silent["execution_count"], first["execution_count"])  # silent: not counted
        second, msgs = self.execute("counted + 40")
        self.assertEqual(second["execution_count"], first["execution_count"] + 1)
        result = [m["content"] for m in msgs if m["msg_type"] == "execute_result"]
        self.assertEqual([(r["execution_count"], r["data"]["text/plain"]) for r in result],
                         [(second["execution_count"], "42")])
        self.kc.history(hist_access_type="tail", n=2)
        history = self.kc.get_shell_msg(timeout=TIMEOUT)["content"]["history"]
        self.assertEqual([(line, code) for _, line, code in history],
                         [(first["execution_count"], "int counted = 1;"), (second["execution_count"], "counted + 40")])

    def interrupt_after(self, seconds, code):
        """Runs code, interrupting the kernel after `seconds`; returns (reply content, seconds it took)."""
        timer = threading.Timer(seconds, self.km.interrupt_kernel)
        start = time.monotonic()
        timer.start()
        try:
            reply, _ = self.execute(code)
        finally:
            timer.cancel()
        return reply, time.monotonic() - start

    def test_interrupt_stops_a_long_cell_and_the_kernel_goes_on(self):
        self.execute("long spin_jit(long n) { volatile long s = 0; for (long i = 0; i < n; ++i) s = s + i; return s; }")
        self.execute("double spin_library(long n) {\n  double t = 0;\n  for (long i = 0; i < n; ++i) "
                     "t += nibble::sum(nibble::Tensor::ones({64, 64})).item();\n  return t;\n}")
        # Hours of work each: a loop in the cell's own code, and one that spends its time in libnibble
        # (malloc, OpenMP), where the kernel must wait for the loop's own code to stop it safely.
        for code in ["spin_jit(1000000000000L);", "double never = spin_library(1000000000000L);"]:
            reply, took = self.interrupt_after(1.0, code)
            self.assertEqual(reply["status"], "error", code)
            self.assertEqual(reply["ename"], "KeyboardInterrupt")
            self.assertLess(took, 10.0, f"{code} took {took:.1f} s to stop")
        after, msgs = self.execute("spin_library(3) + 0.5")
        self.assertEqual(after["status"], "ok")
        self.assertEqual([m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"],
                         ["12288.5"])  # 3 x 64 x 64 + 0.5: tensors and malloc still work

    def test_interrupting_an_idle_kernel_does_nothing(self):
        self.km.interrupt_kernel()
        time.sleep(0.5)
        self.assertTrue(self.km.is_alive())
        reply, _ = self.execute("int still_here = 1;")
        self.assertEqual(reply["status"], "ok")

    def test_complete_finds_library_names(self):
        code = "nibble::char_entro"
        self.kc.complete(code, len(code))
        reply = self.kc.get_shell_msg(timeout=TIMEOUT)["content"]
        self.assertEqual(reply["status"], "ok")
        self.assertIn("char_entropy_bits", reply["matches"])
        self.assertEqual(reply["cursor_start"], len("nibble::"))

    def test_inspect_shows_the_declaration_and_its_comment(self):
        code = "nibble::entropy_bits"
        self.kc.inspect(code, len(code))
        reply = self.kc.get_shell_msg(timeout=TIMEOUT)["content"]
        self.assertTrue(reply["found"])
        self.assertIn("entropy_bits(", reply["data"]["text/plain"])


def kernel_test_suite():
    """Debian's jupyter_kernel_test (python3-jupyter-kernel-test), or None with the reason printed."""
    try:
        import jupyter_kernel_test
    except ImportError:
        print("SKIPPED jupyter_kernel_test suite: python3-jupyter-kernel-test is not installed")
        return None

    class NibbleKernelTests(jupyter_kernel_test.KernelTests):
        kernel_name = KERNEL
        language_name = "C++17"
        file_extension = ".cpp"
        code_hello_world = '#include <cstdio>\nstd::printf("hello, world\\n");'
        code_stderr = '#include <cstdio>\nstd::fprintf(stderr, "oops\\n");'
        completion_samples = [{"text": "nibble::char_entrop", "matches": {"char_entropy_bits"}}]
        code_generate_error = "int y = no_such_name;"
        complete_code_samples = ["int a = 1;", "struct S { int x; };"]
        incomplete_code_samples = ["struct S {", "void f() {"]
        code_display_data = [{
            "code": '#include <nibble.h>\nnibble::display(nibble::MimeBundle{{"text/plain", "shown"}});',
            "mime": "text/plain",
        }]
        code_inspect_sample = "nibble::perplexity"
        code_execute_result = [{"code": "6 * 7", "result": "42"}, {"code": "std::string(\"ab\") + \"c\"", "result": "\"abc\""}]
        code_history_pattern = "6 *"
        supported_history_operations = ("tail", "range", "search")

    return unittest.defaultTestLoader.loadTestsFromTestCase(NibbleKernelTests)


if __name__ == "__main__":
    if "JUPYTER_PATH" not in os.environ:
        print("note: JUPYTER_PATH is not set; the kernelspec must be installed for the user")
    suite = unittest.TestSuite()
    suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(NotebookCells))
    suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(LiveKernel))
    extra = kernel_test_suite()
    if extra is not None:
        suite.addTests(extra)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
