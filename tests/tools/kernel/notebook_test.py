#!/usr/bin/env python3
"""A milestone notebook, checked and run:  notebook_test.py NOTEBOOK.ipynb [--lint-only]

Lint: nbformat 4 and valid, the nibble kernelspec, no stored outputs or execution counts, no
kernel-specific magics (lines starting with % or !), so that xeus-cling users can run it too; and
definitions in their own cells: a cell defining a function or a type has no top-level statement
(a line at column 0 ending in ';' other than '};' or a using-declaration), so re-running a definition
cell never re-runs work, and a cell that runs work can be re-run without redefining anything.
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


DEFINES = re.compile(r"^(struct|class)\s+\w+|^[A-Za-z_][\w:<>,\s\*&]*\s[\w:]+\(.*\)\s*(const\s*)?\{\s*$", re.M)


def mixed_definitions(source):
    """The top-level statements of a cell that also defines functions or types ([] when fine)."""
    if not DEFINES.search(source):
        return []
    return [line for line in source.splitlines()
            if line and not line[0].isspace() and line.rstrip().endswith(";")
            and line.strip() != "};" and not line.startswith(("using ", "//", "#"))]


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
        for line in mixed_definitions(cell.source):
            problems.append(f"cell {i} defines functions or types and also runs {line.strip()!r}: "
                            "put definitions in their own cell")
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


def self_test():
    """The lint rule catches a mixed cell and passes clean ones (run with --self-test)."""
    mixed = "double twice(double x) {\n  return 2 * x;\n}\ndouble y = twice(3);"
    assert mixed_definitions(mixed) == ["double y = twice(3);"], mixed_definitions(mixed)
    assert mixed_definitions("struct P {\n  int x;\n};\nusing Q = P;") == []
    assert mixed_definitions("double y = twice(3);\nfmt::print(\"{}\\n\", y);") == []  # no definition
    print("lint self-test ok")


if __name__ == "__main__":
    if sys.argv[1] == "--self-test":
        self_test()
        sys.exit(0)
    path = sys.argv[1]
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    if not lint(path, nb):
        sys.exit(1)
    print(f"{path}: lint ok")
    if "--lint-only" in sys.argv:
        sys.exit(0)
    sys.exit(run(path, nb))
