// io::write_atomically: the one helper every saver uses (checkpoints, images, IDX, course results,
// releases). A failure leaves the previous file and no temporary; concurrent savers never expose a
// partial file; temporaries of killed processes are cleaned up; permissions are those of a normal
// file.
#include "core/io/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/error.h"
#include "core/io/temp_dir.h"

namespace nibble::io {
namespace {

using nibble::testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void touch(const std::string& path) { std::ofstream(path) << "stale"; }

// A pid that certainly ran and has certainly exited (and been reaped).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(AtomicFile, WritesTheWholeFileAndLeavesNoTemporary) {
  TempDir dir;
  write_file_atomically(dir.file("a.txt"), "test", "first");
  write_file_atomically(dir.file("a.txt"), "test", "second, longer");
  EXPECT_EQ(slurp(dir.file("a.txt")), "second, longer");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFile, AFailureMidWriteKeepsThePreviousFileAndRemovesTheTemporary) {
  TempDir dir;
  write_file_atomically(dir.file("a.ckpt"), "test", "the previous checkpoint");
  EXPECT_THROW(write_atomically(dir.file("a.ckpt"), "test",
                                [](std::ostream& out) {
                                  out << std::string(100000, 'x');  // half of a new file is written
                                  throw std::runtime_error("the writer failed half-way");
                                }),
               std::runtime_error);
  EXPECT_EQ(slurp(dir.file("a.ckpt")), "the previous checkpoint");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"a.ckpt"});

  // A nibble::Error from the writer propagates unchanged too.
  EXPECT_THROW(write_atomically(dir.file("a.ckpt"), "test",
                                [](std::ostream&) { fail("writer", "bad tensor"); }),
               Error);
  EXPECT_EQ(slurp(dir.file("a.ckpt")), "the previous checkpoint");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"a.ckpt"});
}

TEST(AtomicFile, AFailedRenameRemovesTheTemporary) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("taken"));
  try {
    write_file_atomically(dir.file("taken"), "save_thing", "x");
    FAIL() << "renaming a file onto a folder must fail";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("save_thing"), std::string::npos) << what;
    EXPECT_NE(what.find("cannot rename"), std::string::npos) << what;
    EXPECT_NE(what.find("is a folder"), std::string::npos) << what;
  }
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"taken"});
}

TEST(AtomicFile, TemporariesOfKilledProcessesAreRemovedOthersKept) {
  TempDir dir;
  const std::string dead = std::to_string(dead_pid());
  const std::string alive = std::to_string(::getppid());  // our parent runs as long as we do
  touch(dir.file("m.ckpt.tmp"));                          // the fixed name older versions used
  touch(dir.file("m.ckpt.tmp." + dead + ".Ab12Cd"));      // killed during a save
  touch(dir.file("m.ckpt.tmp." + dead));               // the course tools' old "<path>.tmp.<pid>"
  touch(dir.file("m.ckpt.tmp." + alive + ".Zz99Yy"));  // another process saving right now
  touch(dir.file("other.ckpt.tmp." + dead + ".Ab12Cd"));  // another file's: not ours to judge now
  touch(dir.file("m.ckpt.tmpfile"));                      // not a temporary at all
  write_file_atomically(dir.file("m.ckpt"), "test", "new");
  std::vector<std::string> names = dir.listing();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"m.ckpt", "m.ckpt.tmp." + alive + ".Zz99Yy", "m.ckpt.tmpfile",
                                      "other.ckpt.tmp." + dead + ".Ab12Cd"}));
}

TEST(AtomicFile, NewFilesGetNormalPermissionsAndReplacedFilesKeepTheirs) {
  TempDir dir;
  const mode_t mask = ::umask(022);
  ::umask(mask);
  write_file_atomically(dir.file("new.txt"), "test", "x");
  struct stat st;
  ASSERT_EQ(::stat(dir.file("new.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask) << "mkstemp's 0600 would make released files private";

  ASSERT_EQ(::chmod(dir.file("new.txt").c_str(), 0640), 0);
  write_file_atomically(dir.file("new.txt"), "test", "y");
  ASSERT_EQ(::stat(dir.file("new.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

// Two processes save the same path over and over while this one reads it: every read must see one
// of the two complete contents (the old fixed "path.tmp" name let a reader see a 0-byte file).
TEST(AtomicFile, ConcurrentSaversNeverExposeAPartialFile) {
  TempDir dir;
  const std::string path = dir.file("shared.ckpt");
  const std::string a(200000, 'a'), b(300000, 'b');
  write_file_atomically(path, "test", a);
  constexpr int kSaves = 40;
  pid_t children[2];
  for (int c = 0; c < 2; ++c) {
    children[c] = ::fork();
    ASSERT_GE(children[c], 0);
    if (children[c] == 0) {
      int code = 0;
      try {
        for (int k = 0; k < kSaves; ++k) write_file_atomically(path, "child", c == 0 ? a : b);
      } catch (...) {
        code = 1;
      }
      ::_exit(code);
    }
  }
  int bad_reads = 0, reads = 0;
  bool done[2] = {false, false};
  int status[2] = {-1, -1};
  while (!done[0] || !done[1]) {
    const std::string got = slurp(path);
    ++reads;
    if (got != a && got != b) ++bad_reads;
    for (int c = 0; c < 2; ++c)
      if (!done[c]) done[c] = ::waitpid(children[c], &status[c], WNOHANG) == children[c];
  }
  for (int c = 0; c < 2; ++c)
    EXPECT_TRUE(WIFEXITED(status[c]) && WEXITSTATUS(status[c]) == 0) << "saver " << c << " failed";
  EXPECT_EQ(bad_reads, 0) << "of " << reads << " reads";
  const std::string last = slurp(path);
  EXPECT_TRUE(last == a || last == b);
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"shared.ckpt"});
}

// kill -9 in the middle of a save: the previous file is intact, the half-written temporary is left
// (a killed process cannot clean up), and the next save of that path removes it.
TEST(AtomicFile, KillDuringSaveKeepsThePreviousFileAndTheNextSaveCleansUp) {
  TempDir dir;
  const std::string path = dir.file("model.ckpt");
  write_file_atomically(path, "test", "previous");
  int half_written[2];
  ASSERT_EQ(::pipe(half_written), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    write_atomically(path, "child", [&](std::ostream& out) {
      out << std::string(1 << 20, 'n');
      out.flush();
      const char ready = 1;
      (void)!::write(half_written[1], &ready, 1);
      ::pause();  // killed here, half-way through the save
    });
    ::_exit(0);
  }
  char ready = 0;
  ASSERT_EQ(::read(half_written[0], &ready, 1), 1);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(half_written[0]);
  ::close(half_written[1]);

  EXPECT_EQ(slurp(path), "previous");
  std::vector<std::string> names = dir.listing();
  ASSERT_EQ(names.size(), 2u);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names[1].rfind("model.ckpt.tmp." + std::to_string(child) + ".", 0), 0u) << names[1];

  write_file_atomically(path, "test", "next");
  EXPECT_EQ(slurp(path), "next");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"model.ckpt"});
}

TEST(AtomicFile, CheckWritableCatchesBadOutputPathsBeforeAnyWork) {
  TempDir dir;
  EXPECT_NO_THROW(check_writable(dir.file("model.ckpt"), "train"));
  auto message = [](const std::string& path) {
    try {
      check_writable(path, "nibble train");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(dir.path()).find("it is a folder"), std::string::npos);
  EXPECT_NE(message(dir.file("missing/model.ckpt")).find("does not exist"), std::string::npos);
  EXPECT_NE(message("").find("empty"), std::string::npos);
  EXPECT_TRUE(dir.listing().empty()) << "checking must not create anything";
}

}  // namespace
}  // namespace nibble::io
