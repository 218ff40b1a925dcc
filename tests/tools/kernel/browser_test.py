#!/usr/bin/env python3
"""The real-browser test: Debian's Jupyter Notebook on 127.0.0.1 (a random port, a token), headless
Debian Chromium driven by chromedriver through python3-selenium, a small notebook on nibble-kernel:
Run All, then the page must show the chart (the SVG vega drew: Notebook 6 has no Vega-Lite renderer,
so the kernel sends image/svg+xml beside the spec), the tensor's HTML table, a cell's result (Out[n])
and no error output.

    browser_test.py ARTIFACT_DIR VEGA_DIR   (CTest passes <build>/browser, where the screenshot is kept,
                                             and the npm prefix holding vl2svg, as core/viz.cpp finds it)

Bounded: the whole run stops after DEADLINE seconds. Only localhost is contacted. Exit 77 = skipped
(a package is missing, or the chart renderer is not installed; the reason is printed)."""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
DEADLINE = 110  # seconds for everything (CI budget: < 2 min)
START = time.monotonic()

CELLS = [
    "#include <nibble.h>",
    "std::vector<double> steps{0, 1, 2, 3, 4};\nstd::vector<double> loss{4.1, 3.2, 2.6, 2.3, 2.2};",
    'nibble::display(nibble::viz::line(steps, loss, "train").title("browser check").x_label("step").y_label("loss"));',
    "nibble::display(nibble::Tensor::from_vector({1.5f, 2.5f, 3.5f, 4.5f}, {2, 2}));",
    # a last line without its semicolon: the cell's result (Out[n]), here a heatmap chart
    'nibble::viz::heatmap(nibble::Tensor::from_vector({0, 1, 2, 3}, {2, 2})).title("result heatmap")',
    'fmt::print("cells done\\n");',
]


def skip(reason):
    print(f"SKIPPED: {reason}")
    sys.exit(SKIP)


def left():
    return DEADLINE - (time.monotonic() - START)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    artifacts = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "browser-artifacts")
    try:
        import nbformat
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        skip(f"{e.name} is not installed (Debian: python3-selenium python3-nbformat)")
    notebook_cmd = shutil.which("jupyter-notebook")
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    for name, path, package in [("jupyter-notebook", notebook_cmd, "jupyter-notebook"),
                                ("chromium", chromium, "chromium"), ("chromedriver", driver_path, "chromium-driver")]:
        if not path:
            skip(f"{name} is not installed (Debian: {package}; `tools/dev test` installs it)")
    vega_dir = sys.argv[2] if len(sys.argv) > 2 else ""
    vl2svg = os.environ.get("NIBBLE_VL2SVG") or os.path.join(vega_dir, "node_modules", ".bin", "vl2svg")
    if not (os.access(vl2svg, os.X_OK) or shutil.which("vl2svg")) or not shutil.which("rsvg-convert"):
        skip("the chart renderer (vl2svg, rsvg-convert) is not installed: `tools/dev kernel` installs it")

    os.makedirs(artifacts, exist_ok=True)
    work = tempfile.mkdtemp(prefix="nibble-browser-")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "nibble-cpp17", "display_name": "C++17 (nibble)", "language": "C++17"}
    nbformat.write(nb, os.path.join(work, "browser_check.ipynb"))

    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=os.path.join(work, "config"),
               JUPYTER_RUNTIME_DIR=os.path.join(work, "runtime"), JUPYTER_DATA_DIR=os.path.join(work, "data"),
               OMP_WAIT_POLICY="passive")
    server_log = open(os.path.join(artifacts, "notebook-server.log"), "w")
    server = subprocess.Popen([notebook_cmd, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                               "--port-retries=0", f"--NotebookApp.token={token}", f"--notebook-dir={work}",
                               "--allow-root"], env=env, stdout=server_log, stderr=subprocess.STDOUT)
    driver = None
    try:
        # The server answers once it listens.
        while left() > 0:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    print(f"jupyter-notebook exited ({server.returncode}); see {server_log.name}")
                    return 1
                time.sleep(0.3)

        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1200,1400", "--no-proxy-server", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={os.path.join(work, 'chromium')}"]:
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        driver.set_page_load_timeout(max(5, left()))
        driver.get(f"http://127.0.0.1:{port}/notebooks/browser_check.ipynb?token={token}")

        def wait_for(script, what):
            while left() > 0:
                try:
                    value = driver.execute_script(script)
                except Exception:  # the page is still loading its scripts
                    value = None
                if value:
                    return value
                time.sleep(0.3)
            raise TimeoutError(f"gave up after {DEADLINE} s waiting for {what}")

        wait_for("return window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && "
                 "Jupyter.notebook.kernel.is_connected() && Jupyter.notebook.kernel.name == 'nibble-cpp17'", "the nibble kernel to connect")
        driver.execute_script("Jupyter.notebook.execute_all_cells();")
        # Done when the last cell printed its line (cells run in order).
        wait_for("var cells = Jupyter.notebook.get_cells(); var last = cells[cells.length - 1];"
                 "return last.output_area.outputs.some(o => (o.text || '').indexOf('cells done') >= 0) "
                 "|| document.querySelectorAll('.output_error').length > 0", "the cells to run")
        time.sleep(0.5)  # let the last outputs paint
        shot = os.path.join(artifacts, "browser_check.png")
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1200, min(max(1400, height + 200), 4000))
        driver.save_screenshot(shot)
        print(f"screenshot: {shot}")

        found = driver.execute_script("""
            const svgs = document.querySelectorAll('.output_area svg.marks');
            const svg = svgs.length ? svgs[0] : null;
            const result = Array.from(document.querySelectorAll('.output_area')).filter(
                a => /Out\[\d+\]/.test(a.querySelector('.prompt') ? a.querySelector('.prompt').textContent : ''));
            const result_svg = result.length ? result[0].querySelector('svg.marks') : null;
            const marks = svg ? svg.querySelectorAll('path, line, circle, rect').length : 0;
            const texts = svg ? Array.from(svg.querySelectorAll('text')).map(t => t.textContent) : [];
            const table = document.querySelector('.output_area .nibble-tensor table');
            return {svg: !!svg, marks: marks, texts: texts,
                    result_texts: result_svg ? Array.from(result_svg.querySelectorAll('text')).map(t => t.textContent) : [],
                    width: svg ? svg.getBoundingClientRect().width : 0,
                    cells: table ? Array.from(table.querySelectorAll('td')).map(td => td.textContent) : [],
                    errors: Array.from(document.querySelectorAll('.output_error')).map(e => e.textContent)};""")
        problems = []
        if found["errors"]:
            problems.append(f"error outputs on the page: {found['errors']}")
        if not found["svg"]:
            problems.append("no rendered chart (svg.marks) in an output area")
        elif found["marks"] < 5 or found["width"] < 100:
            problems.append(f"the chart looks empty: {found['marks']} marks, {found['width']} px wide")
        elif "browser check" not in found["texts"] or "step" not in found["texts"]:
            problems.append(f"the chart lacks its title or axis label: texts {found['texts'][:20]}")
        if "result heatmap" not in found["result_texts"]:
            problems.append("the last cell's result (Out[n], a heatmap chart) is not on the page")
        if found["cells"] != ["1.5", "2.5", "3.5", "4.5"]:
            problems.append(f"the tensor table shows {found['cells']}, expected 1.5 2.5 3.5 4.5")
        for p in problems:
            print(f"FAIL: {p}")
        if not problems:
            print(f"browser test ok in {time.monotonic() - START:.1f} s: chart with {found['marks']} marks, "
                  f"tensor table {found['cells']}")
        return 1 if problems else 0
    except TimeoutError as e:
        if driver is not None:
            driver.save_screenshot(os.path.join(artifacts, "browser_check_timeout.png"))
        print(f"FAIL: {e}")
        return 1
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        server_log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
