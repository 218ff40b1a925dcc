#!/usr/bin/env python3
"""A milestone notebook, checked and run:  notebook_test.py NOTEBOOK.ipynb [--lint-only]

Lint: nbformat 4 and valid, the nibble kernelspec, no stored outputs or execution counts, no
kernel-specific magics (lines starting with % or !), so that xeus-cling users can run it too.
Run: every code cell through nibble-kernel with nbclient in quick mode (NIBBLE_QUICK=1); no cell may
fail and the last cell must print "milestone NN: PASS". Exit 77 = skipped (reason printed)."""
import os
import re
import sys

SKIP = 77
try:
    import nbformat
except ImportError:
    print("SKIPPED: nbformat is not installed (Debian: python3-nbformat)")
    sys.exit(SKIP)


def lint(path, nb):
    problems = []
    if nb.nbformat != 4:
        problems.append(f"nbformat {nb.nbformat}, expected 4")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as e:
        problems.append(f"not a valid notebook: {e.message}")
    spec = nb.metadata.get("kernelspec", {})
    if spec.get("name") != "nibble-cpp17":
        problems.append(f"kernelspec name {spec.get('name')!r}, expected 'nibble-cpp17'")
    for i, cell in enumerate(nb.cells, 1):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i} has stored outputs (clear them before committing)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has an execution count (clear outputs before committing)")
        for line in cell.source.splitlines():
            if re.match(r"\s*[%!]", line):
                problems.append(f"cell {i}: kernel-specific magic {line.strip()!r}")
    for p in problems:
        print(f"{path}: {p}")
    return not problems


def run(path, nb):
    try:
        from nbclient import NotebookClient
    except ImportError:
        print("SKIPPED run: nbclient is not installed (Debian: python3-nbclient)")
        return SKIP
    os.environ["NIBBLE_QUICK"] = "1"
    folder = os.path.dirname(os.path.abspath(path))
    NotebookClient(nb, kernel_name="nibble-cpp17", timeout=600, allow_errors=True,
                   resources={"metadata": {"path": folder}}).execute()
    text, failed = "", False
    for i, cell in enumerate(nb.cells, 1):
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                text += o.text
                sys.stdout.write(o.text)
            elif o.output_type == "error":
                failed = True
                print(f"cell {i} failed: {o.ename}: {o.evalue}")
    number = os.path.basename(folder)[:2]
    if f"milestone {number}: PASS" not in text:
        print(f"the notebook did not print 'milestone {number}: PASS'")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    path = sys.argv[1]
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    if not lint(path, nb):
        sys.exit(1)
    print(f"{path}: lint ok")
    if "--lint-only" in sys.argv:
        sys.exit(0)
    sys.exit(run(path, nb))
