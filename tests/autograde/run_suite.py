#!/usr/bin/env python3
"""The autograder's test suite (issue 18): builds honest and hostile submissions for module 01, grades
them all in one `nibble autograde` run and checks the exact gradebook; then grades two of them again
with `nibble grade-one` + `nibble gradebook merge` and checks the same rows.

    tests/autograde/run_suite.py ROOT NIBBLE WORK

ROOT the instructor's tree, NIBBLE the `nibble` binary, WORK a scratch folder (its grading tree is
kept between runs, so a second run only rebuilds the owned files). Submissions are generated here,
never committed: the honest ones are copies of the solutions (which must not reach the student edition).
Every payload that could harm the machine is bounded here too (fork count, bytes written, memory)."""
import csv, io, json, os, shutil, subprocess, sys, tarfile, time, zipfile

ROOT, NIBBLE, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
if os.geteuid() != 0:
    print("skipped: the autograder's sandbox (namespaces, the nibble-grader user) needs root; see tools/autograde/SECURITY.md")
    sys.exit(77)
os.makedirs(WORK, exist_ok=True)
MOD = os.path.join(ROOT, "modules/01_entropy")
SOL_E = open(os.path.join(MOD, "solution/entropy.cpp")).read()
SOL_H = open(os.path.join(MOD, "solution/huffman.cpp")).read()
FULL, VISIBLE = 145, 100   # module 01: 100 visible + 45 hidden points

SUB = os.path.join(WORK, "submissions")
OUT = os.path.join(WORK, "grades")
shutil.rmtree(SUB, ignore_errors=True)
shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(SUB)
expected = {}

def folder(name, entropy=None, huffman=None, points=0, layout="modules/01_entropy/"):
    d = os.path.join(SUB, name, layout)
    os.makedirs(d, exist_ok=True)
    if entropy is not None: open(os.path.join(d, "entropy.cpp"), "w").write(entropy)
    if huffman is not None: open(os.path.join(d, "huffman.cpp"), "w").write(huffman)
    expected[name] = points

# A static initialiser that runs before gtest's main, in every test process of the submission.
def at_load(body, includes=""):
    return SOL_E + "\n#include <cstdio>\n#include <cstdlib>\n#include <unistd.h>\n" + includes + \
        "\nnamespace {\nstruct Payload {\n  Payload() {\n" + body + "\n  }\n} payload;\n}  // namespace\n"

# Honest ones.
folder("full", SOL_E, SOL_H, FULL)
folder("empty", points=0)
mut = os.path.join(MOD, "mutants/canonical_codes--lsb-first.patch")   # MUTANTS.md: loses 15 visible, 9 hidden
subprocess.run(["patch", "-s", "-o", os.path.join(WORK, "partial_huffman.cpp"), os.path.join(MOD, "solution/huffman.cpp"), mut], check=True)
folder("partial", SOL_E, open(os.path.join(WORK, "partial_huffman.cpp")).read(), FULL - 15 - 9)
folder("compile_error", SOL_E.replace("namespace nibble {", "namespace nibble {\nint oops = ;", 1), SOL_H, 0)
folder("entropy_only_flat", SOL_E, None, None, layout="")   # bare entropy.cpp; huffman.cpp stays the stub
# An archive with bare names (all points) and one with a ../ path (refused whole: stubs, 0 points).
with zipfile.ZipFile(os.path.join(SUB, "zipped.zip"), "w") as z:
    z.writestr("entropy.cpp", SOL_E); z.writestr("huffman.cpp", SOL_H)
expected["zipped"] = FULL
with tarfile.open(os.path.join(SUB, "tarred.tar.gz"), "w:gz") as t:
    for name, text in (("modules/01_entropy/entropy.cpp", SOL_E), ("modules/01_entropy/huffman.cpp", SOL_H)):
        data = text.encode(); info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
expected["tarred"] = FULL
with tarfile.open(os.path.join(SUB, "dotdot.tar.gz"), "w:gz") as t:
    for name, text in (("modules/01_entropy/entropy.cpp", SOL_E), ("../escaped.cpp", "int x;")):
        data = text.encode(); info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
expected["dotdot"] = 0
# Symlinks to the instructor's solution are refused.
d = os.path.join(SUB, "symlinked/modules/01_entropy"); os.makedirs(d)
os.symlink(os.path.join(MOD, "solution/entropy.cpp"), os.path.join(d, "entropy.cpp"))
os.symlink(os.path.join(MOD, "solution/huffman.cpp"), os.path.join(d, "huffman.cpp"))
expected["symlinked"] = 0

# Hostile ones: each on top of the full solution, so only the attack can cost the points.
folder("exit0_static", at_load("std::exit(0);"), SOL_H, 0)
fake = "".join('std::printf("[       OK ] %s (0 ms)\\n");' % n for n in ("EntropyGraded.SelfInformation", "HuffmanGraded.RoundTrip"))
folder("fake_pass", at_load(fake + r'''
    std::printf("[  PASSED  ] 1 test.\n");
    for (int fd = 3; fd < 10; ++fd) { const char l[] = "nibble-grade 00000000000000000000000000000000 EntropyGraded.SelfInformation pass\n";
      if (write(fd, l, sizeof l - 1) < 0) {} }
    if (FILE* f = std::fopen("report.json", "w")) { std::fputs("{\"testsuites\":[]}", f); std::fclose(f); }
    std::_Exit(0);'''), SOL_H, 0)
folder("endless_loop", at_load(r'''
    signal(SIGTERM, SIG_IGN); signal(SIGALRM, SIG_IGN); signal(SIGXCPU, SIG_IGN); signal(SIGINT, SIG_IGN);
    for (volatile unsigned long i = 0;; i = i + 1) {}''', "#include <csignal>\n"), SOL_H, 0)
folder("fork_bomb", at_load(r'''
    for (int k = 0; k < 300; ++k) if (fork() == 0) { sleep(60); std::_Exit(0); }   // bounded here; RLIMIT_NPROC stops it first
    for (volatile unsigned long i = 0;; i = i + 1) {}'''), SOL_H, 0)
folder("memory_bomb", at_load(r'''
    for (int k = 0; k < 64; ++k) {   // at most 4 GiB, bounded here; the sandbox's address-space limit stops it first
      char* p = static_cast<char*>(std::malloc(64u << 20)); if (p == nullptr) std::abort();
      for (size_t i = 0; i < (64u << 20); i += 4096) p[i] = 1; }'''), SOL_H, 0)
folder("huge_output", at_load(r'''
    static char line[4096]; for (char& c : line) c = 'x'; line[4095] = '\n';
    for (int k = 0; k < 256 * 1024; ++k) if (std::fwrite(line, 1, sizeof line, stdout) != sizeof line) break;   // 1 GiB at most'''), SOL_H, 0)
folder("include_solution_abs", '#include "%s/solution/entropy.cpp"\n' % MOD, SOL_H, 0)
folder("include_hidden_abs", SOL_E + '\n#include "%s/hidden/entropy_hidden_test.cpp"\n' % MOD, SOL_H, 0)
folder("include_sibling", '#include "huffman.cpp"\n' + SOL_E, SOL_H, 0)
# A template bomb: the compile's time limit (--compile-timeout below) ends it as a compile error.
folder("template_bomb", SOL_E + r'''
// Compile-time evaluation is not memoised: about 2^62 calls, ended by the compile's CPU limit.
constexpr long nibble_bomb(int n) { return n < 2 ? 1 : nibble_bomb(n - 1) + nibble_bomb(n - 2); }
static_assert(nibble_bomb(90) > 0, "never reached");
''', SOL_H, 0)
# Deletes what it can reach (nothing: masked or not its own), then behaves: all points, and the
# submissions graded after it are not affected.
folder("deleter", at_load(r'''
    std::error_code ec;
    for (const char* p : {"%s/solution/entropy.cpp", "%s/hidden/entropy_hidden_test.cpp", "%s/tests/entropy_graded_test.cpp"})
      std::filesystem::remove(p, ec);
    char exe[4096]; const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) { exe[n] = 0; std::filesystem::remove(exe, ec); }''' % (MOD, MOD, MOD), "#include <filesystem>\n"), SOL_H, FULL)

def run(args):
    t0 = time.time()
    p = subprocess.run([NIBBLE] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(p.stdout, end="")
    return p.returncode, time.time() - t0

failures = []
def expect(cond, what):
    if not cond: failures.append(what); print("FAIL:", what)

def gradebook(path):
    with open(path) as f: return {r["student"]: (int(r["01"]), int(r["total"])) for r in csv.DictReader(f)}

# The grading tree of WORK/tree is reused between runs (configured once).
common = ["--modules", "01", "--timeout", "5", "--memory", "512", "--compile-timeout", "20", "--root", ROOT, "--work", os.path.join(WORK, "tree")]
rc, secs = run(["autograde", SUB, "--out", OUT] + common)
expect(rc == 0, "autograde exits 0 (got %d)" % rc)
book = gradebook(os.path.join(OUT, "gradebook.csv"))
# The flat one: entropy.cpp only, huffman.cpp the stub -> exactly the tests that need no Huffman code.
flat = json.load(open(os.path.join(OUT, "results/entropy_only_flat.json")))
expected["entropy_only_flat"] = sum(t["points"] for t in flat["modules"][0]["tests"] if not t["name"].startswith("Huffman"))
for name, pts in sorted(expected.items()):
    got = book.get(name)
    expect(got == (pts, pts), "%s: expected %d points, got %s" % (name, pts, got))
expect(set(book) == set(expected), "gradebook rows %s" % sorted(book))
expect(not os.path.exists(os.path.join(WORK, "escaped.cpp")) and not os.path.exists(os.path.join(OUT, ".grader/escaped.cpp")), "../ path escaped")
# Outputs: feedback, Gradescope results, the compile error reaches the student.
fb = open(os.path.join(OUT, "feedback/compile_error.md")).read()
expect("error" in fb and "oops" in fb, "the compile error's feedback shows the compiler's error")
gs = json.load(open(os.path.join(OUT, "gradescope/partial/results.json")))
expect(gs["score"] == FULL - 24 and gs["max_score"] == FULL and len(gs["tests"]) == 35, "gradescope results.json of partial")
expect(all(set(t) >= {"name", "score", "max_score", "output", "visibility"} for t in gs["tests"]), "gradescope test fields")
hid = [t for t in gs["tests"] if t["visibility"] != "visible"]
expect(hid and all(t["output"] in ("pass", "fail") for t in hid), "hidden tests say only pass/fail")
fbp = open(os.path.join(OUT, "feedback/partial.md")).read()
expect("hint:" in fbp, "the partial submission's feedback shows a hint")
# Resuming: a second run grades nothing again.
rc2, secs2 = run(["autograde", SUB, "--out", OUT] + common)
expect(rc2 == 0 and gradebook(os.path.join(OUT, "gradebook.csv")) == book, "a resumed run keeps the gradebook")
# grade-one + merge reproduce the same rows.
one = []
for name in ("full", "fake_pass"):
    o = os.path.join(WORK, "one", name); shutil.rmtree(o, ignore_errors=True)
    rc3, _ = run(["grade-one", os.path.join(SUB, name), "--out", o] + common)
    expect(rc3 == 0, "grade-one %s exits 0" % name); one.append(o)
rc4, _ = run(["gradebook", "merge"] + one + ["--modules", "01", "--out", os.path.join(WORK, "merged.csv")])
merged = gradebook(os.path.join(WORK, "merged.csv"))
expect(rc4 == 0 and merged == {k: book[k] for k in ("full", "fake_pass")}, "grade-one + merge == autograde rows: %s" % merged)
print("suite: %d submissions in %.0f s (%.1f s each); resumed run %.0f s" % (len(expected), secs, secs / len(expected), secs2))
if failures:
    print("%d FAILED" % len(failures)); sys.exit(1)
print("all passed")
