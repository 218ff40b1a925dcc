// The autograder's recording mode of the graded assertions (included by modules/graded.h when the
// module test programs are built with -DNIBBLE_GRADE_RECORD, i.e. in `nibble autograde`'s grading tree).
//
// In that mode every EXPECT_* / ASSERT_* of a graded test still runs exactly as in gtest (the local
// verdict and the friendly message, shown to the student as feedback), but first writes one record of
// what it compared on the grader's report descriptor:
//
//   A <seq> <line> <kind> <operand> [<operand> [<operand>]]
//
// kinds: near eq ne lt le gt ge deq feq (two values; near also its tolerance), true false throw (one
// boolean). Operands: b0/b1 (bool), i<decimal>/u<decimal> (integers), f<16 hex digits> (the bits of the
// value as a double), s<hex bytes> (anything else, as gtest prints it). The grader's comparator
// (tools/course/grade_compare.h) decides each assertion from these values and the same assertion's
// values recorded from the instructor's solution, in a process that loads no student code; the
// student process's own verdict is never counted as a pass. Threat model: tools/autograde/SECURITY.md.
//
// Numbers are encoded and written by hand with a raw system call: no libc or libstdc++ function (which
// a student's libnibble.so could interpose) sees the two operands of a numeric assertion before the
// record is on its way.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#if !defined(__x86_64__) && !defined(__aarch64__)
#include <unistd.h>
#endif

namespace nibble::grading::record {

struct State {
  int fd = -1;        // the report descriptor; -1: not recording (a test program run by hand)
  long seq = 0;       // assertions recorded in the current test
};

inline State& state() {
  static State s;
  return s;
}

// write(2) as a raw system call.
inline long raw_write(int fd, const char* data, unsigned long n) {
#if defined(__x86_64__)
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(1L), "D"(static_cast<long>(fd)), "S"(data), "d"(n)
                   : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = 64;
  register long x0 __asm__("x0") = fd;
  register long x1 __asm__("x1") = reinterpret_cast<long>(data);
  register long x2 __asm__("x2") = static_cast<long>(n);
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
#else
  return ::write(fd, data, n);
#endif
}

// A fixed buffer, no allocation, for the numeric records.
struct Line {
  char buf[256];
  unsigned long n = 0;
  void put(char c) {
    if (n < sizeof buf) buf[n++] = c;
  }
  void put(const char* s) {
    while (*s != '\0') put(*s++);
  }
  void put_u(unsigned long long v) {
    char d[24];
    int k = 0;
    do {
      d[k++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (k > 0) put(d[--k]);
  }
  void put_hex64(std::uint64_t v) {
    static const char* kHex = "0123456789abcdef";
    for (int s = 60; s >= 0; s -= 4) put(kHex[(v >> s) & 15u]);
  }
};

inline void emit(const char* data, unsigned long n) {
  const int fd = state().fd;
  while (n > 0) {
    const long w = raw_write(fd, data, n);
    if (w <= 0) return;
    data += w;
    n -= static_cast<unsigned long>(w);
  }
}

template <typename T>
constexpr bool is_number_v = std::is_arithmetic_v<std::decay_t<T>> || std::is_enum_v<std::decay_t<T>>;

// One number, appended as " <code>", without any library call.
template <typename T>
void put_number(Line& l, const T& v) {
  using U = std::decay_t<T>;
  l.put(' ');
  if constexpr (std::is_same_v<U, bool>) {
    l.put(v ? "b1" : "b0");
  } else if constexpr (std::is_floating_point_v<U>) {
    const double d = static_cast<double>(v);
#if defined(__GNUC__) || defined(__clang__)
    const auto bits = __builtin_bit_cast(std::uint64_t, d);  // never a call, even at -O0
#else
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
#endif
    l.put('f');
    l.put_hex64(bits);
  } else if constexpr (std::is_enum_v<U> || std::is_signed_v<U>) {
    const long long x = static_cast<long long>(v);
    l.put('i');
    if (x < 0) l.put('-');
    l.put_u(x < 0 ? 0ull - static_cast<unsigned long long>(x) : static_cast<unsigned long long>(x));
  } else {
    l.put('u');
    l.put_u(static_cast<unsigned long long>(v));
  }
}

// Any operand, appended to a string: numbers as above; anything else (shapes, strings) as gtest
// prints it (a std::string as its bytes), hex-encoded.
template <typename T>
void put_any(std::string& out, const T& v) {
  if constexpr (is_number_v<T>) {
    Line l;
    put_number(l, v);
    out.append(l.buf, l.n);
  } else {
    std::string text;
    if constexpr (std::is_convertible_v<const T&, std::string>) {
      text = std::string(v);
    } else {
      text = ::testing::PrintToString(v);
    }
    static const char* kHex = "0123456789abcdef";
    out += " s";
    for (const unsigned char c : text) {
      out += kHex[c >> 4];
      out += kHex[c & 15u];
    }
  }
}

template <typename... T>
void record(int line, const char* kind, const T&... values) {
  State& s = state();
  if (s.fd < 0) return;
  Line l;
  l.put("A ");
  l.put_u(static_cast<unsigned long long>(++s.seq));
  l.put(' ');
  l.put_u(static_cast<unsigned long long>(line));
  l.put(' ');
  l.put(kind);
  if constexpr ((is_number_v<T> && ...)) {
    (put_number(l, values), ...);
    l.put('\n');
    emit(l.buf, l.n);
  } else {
    std::string out(l.buf, l.n);
    (put_any(out, values), ...);
    out += '\n';
    emit(out.data(), out.size());
  }
}

// The predicate formatters: record, then gtest's own check (the local verdict and message).
inline ::testing::AssertionResult Near(const char* e1, const char* e2, const char* e3, double a, double b,
                                       double tol, int line) {
  record(line, "near", a, b, tol);
  return ::testing::internal::DoubleNearPredFormat(e1, e2, e3, a, b, tol);
}

#define NIBBLE_RECORD_CMP_(Name, kind, helper)                                                      \
  template <typename A, typename B>                                                               \
  ::testing::AssertionResult Name(const char* e1, const char* e2, const A& a, const B& b, int line) { \
    record(line, kind, a, b);                                                                     \
    return helper(e1, e2, a, b);                                                                  \
  }
NIBBLE_RECORD_CMP_(Eq, "eq", ::testing::internal::EqHelper::Compare)
NIBBLE_RECORD_CMP_(Ne, "ne", ::testing::internal::CmpHelperNE)
NIBBLE_RECORD_CMP_(Lt, "lt", ::testing::internal::CmpHelperLT)
NIBBLE_RECORD_CMP_(Le, "le", ::testing::internal::CmpHelperLE)
NIBBLE_RECORD_CMP_(Gt, "gt", ::testing::internal::CmpHelperGT)
NIBBLE_RECORD_CMP_(Ge, "ge", ::testing::internal::CmpHelperGE)
NIBBLE_RECORD_CMP_(DoubleEq, "deq", ::testing::internal::CmpHelperFloatingPointEQ<double>)
NIBBLE_RECORD_CMP_(FloatEq, "feq", ::testing::internal::CmpHelperFloatingPointEQ<float>)
#undef NIBBLE_RECORD_CMP_

// EXPECT_TRUE / EXPECT_FALSE of a bool or of an AssertionResult (whose message is kept).
template <typename T>
::testing::AssertionResult Truth(const char* e, const T& v, bool want, int line) {
  const bool got = static_cast<bool>(v);
  record(line, want ? "true" : "false", got);
  if constexpr (std::is_same_v<std::decay_t<T>, ::testing::AssertionResult>) {
    if (want) return v;
  }
  if (got == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "Value of: " << e << "\n  Actual: " << (got ? "true" : "false")
                                       << "\nExpected: " << (want ? "true" : "false");
}

// EXPECT_THROW / EXPECT_ANY_THROW / EXPECT_NO_THROW: the outcome is one boolean.
inline ::testing::AssertionResult Outcome(const char*, const ::testing::AssertionResult& r, int line) {
  record(line, "throw", static_cast<bool>(r));
  return r;
}

template <typename E, typename Fn>
::testing::AssertionResult throws_as(Fn&& fn, const char* stmt, const char* type) {
  try {
    fn();
  } catch (const E&) {
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "Expected: " << stmt << " throws an exception of type " << type
                                         << ".\n  Actual: it throws a different type: " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "Expected: " << stmt << " throws an exception of type " << type
                                         << ".\n  Actual: it throws a different type.";
  }
  return ::testing::AssertionFailure() << "Expected: " << stmt << " throws an exception of type " << type
                                       << ".\n  Actual: it throws nothing.";
}

template <typename Fn>
::testing::AssertionResult throws_any(Fn&& fn, const char* stmt, bool want) {
  bool threw = false;
  try {
    fn();
  } catch (...) {
    threw = true;
  }
  if (threw == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "Expected: " << stmt << (want ? " throws an exception" : " throws nothing")
                                       << ".\n  Actual: " << (threw ? "it throws." : "it does not throw.");
}

}  // namespace nibble::grading::record

// The gtest assertions the module tests use, redefined to record first (same names, same streaming of
// messages, same local behaviour). __LINE__ is part of each record: the reference run of the same
// program has the same lines.
#define NIBBLE_REC_ ::nibble::grading::record
#define NIBBLE_REC_FMT_(on_failure, ...) GTEST_ASSERT_(__VA_ARGS__, on_failure)

#undef EXPECT_NEAR
#undef ASSERT_NEAR
#define EXPECT_NEAR(a, b, tol) \
  NIBBLE_REC_FMT_(GTEST_NONFATAL_FAILURE_, NIBBLE_REC_::Near(#a, #b, #tol, a, b, tol, __LINE__))
#define ASSERT_NEAR(a, b, tol) \
  NIBBLE_REC_FMT_(GTEST_FATAL_FAILURE_, NIBBLE_REC_::Near(#a, #b, #tol, a, b, tol, __LINE__))

#define NIBBLE_REC_CMP2_(fn, a, b, on_failure) NIBBLE_REC_FMT_(on_failure, NIBBLE_REC_::fn(#a, #b, a, b, __LINE__))
#undef EXPECT_EQ
#undef EXPECT_NE
#undef EXPECT_LT
#undef EXPECT_LE
#undef EXPECT_GT
#undef EXPECT_GE
#undef EXPECT_DOUBLE_EQ
#undef EXPECT_FLOAT_EQ
#undef ASSERT_EQ
#undef ASSERT_NE
#undef ASSERT_LT
#undef ASSERT_LE
#undef ASSERT_GT
#undef ASSERT_GE
#undef ASSERT_DOUBLE_EQ
#undef ASSERT_FLOAT_EQ
#define EXPECT_EQ(a, b) NIBBLE_REC_CMP2_(Eq, a, b, GTEST_NONFATAL_FAILURE_)
#define EXPECT_NE(a, b) NIBBLE_REC_CMP2_(Ne, a, b, GTEST_NONFATAL_FAILURE_)
#define EXPECT_LT(a, b) NIBBLE_REC_CMP2_(Lt, a, b, GTEST_NONFATAL_FAILURE_)
#define EXPECT_LE(a, b) NIBBLE_REC_CMP2_(Le, a, b, GTEST_NONFATAL_FAILURE_)
#define EXPECT_GT(a, b) NIBBLE_REC_CMP2_(Gt, a, b, GTEST_NONFATAL_FAILURE_)
#define EXPECT_GE(a, b) NIBBLE_REC_CMP2_(Ge, a, b, GTEST_NONFATAL_FAILURE_)
#define EXPECT_DOUBLE_EQ(a, b) NIBBLE_REC_CMP2_(DoubleEq, a, b, GTEST_NONFATAL_FAILURE_)
#define EXPECT_FLOAT_EQ(a, b) NIBBLE_REC_CMP2_(FloatEq, a, b, GTEST_NONFATAL_FAILURE_)
#define ASSERT_EQ(a, b) NIBBLE_REC_CMP2_(Eq, a, b, GTEST_FATAL_FAILURE_)
#define ASSERT_NE(a, b) NIBBLE_REC_CMP2_(Ne, a, b, GTEST_FATAL_FAILURE_)
#define ASSERT_LT(a, b) NIBBLE_REC_CMP2_(Lt, a, b, GTEST_FATAL_FAILURE_)
#define ASSERT_LE(a, b) NIBBLE_REC_CMP2_(Le, a, b, GTEST_FATAL_FAILURE_)
#define ASSERT_GT(a, b) NIBBLE_REC_CMP2_(Gt, a, b, GTEST_FATAL_FAILURE_)
#define ASSERT_GE(a, b) NIBBLE_REC_CMP2_(Ge, a, b, GTEST_FATAL_FAILURE_)
#define ASSERT_DOUBLE_EQ(a, b) NIBBLE_REC_CMP2_(DoubleEq, a, b, GTEST_FATAL_FAILURE_)
#define ASSERT_FLOAT_EQ(a, b) NIBBLE_REC_CMP2_(FloatEq, a, b, GTEST_FATAL_FAILURE_)

#undef EXPECT_TRUE
#undef EXPECT_FALSE
#undef ASSERT_TRUE
#undef ASSERT_FALSE
#define EXPECT_TRUE(c) NIBBLE_REC_FMT_(GTEST_NONFATAL_FAILURE_, NIBBLE_REC_::Truth(#c, c, true, __LINE__))
#define EXPECT_FALSE(c) NIBBLE_REC_FMT_(GTEST_NONFATAL_FAILURE_, NIBBLE_REC_::Truth(#c, c, false, __LINE__))
#define ASSERT_TRUE(c) NIBBLE_REC_FMT_(GTEST_FATAL_FAILURE_, NIBBLE_REC_::Truth(#c, c, true, __LINE__))
#define ASSERT_FALSE(c) NIBBLE_REC_FMT_(GTEST_FATAL_FAILURE_, NIBBLE_REC_::Truth(#c, c, false, __LINE__))

#undef EXPECT_THROW
#undef EXPECT_ANY_THROW
#undef EXPECT_NO_THROW
#undef ASSERT_THROW
#undef ASSERT_ANY_THROW
#undef ASSERT_NO_THROW
#define NIBBLE_REC_OUTCOME_(on_failure, r) \
  NIBBLE_REC_FMT_(on_failure, NIBBLE_REC_::Outcome("", r, __LINE__))
#define EXPECT_THROW(stmt, E) \
  NIBBLE_REC_OUTCOME_(GTEST_NONFATAL_FAILURE_, NIBBLE_REC_::throws_as<E>([&] { stmt; }, #stmt, #E))
#define ASSERT_THROW(stmt, E) \
  NIBBLE_REC_OUTCOME_(GTEST_FATAL_FAILURE_, NIBBLE_REC_::throws_as<E>([&] { stmt; }, #stmt, #E))
#define EXPECT_ANY_THROW(stmt) \
  NIBBLE_REC_OUTCOME_(GTEST_NONFATAL_FAILURE_, NIBBLE_REC_::throws_any([&] { stmt; }, #stmt, true))
#define ASSERT_ANY_THROW(stmt) \
  NIBBLE_REC_OUTCOME_(GTEST_FATAL_FAILURE_, NIBBLE_REC_::throws_any([&] { stmt; }, #stmt, true))
#define EXPECT_NO_THROW(stmt) \
  NIBBLE_REC_OUTCOME_(GTEST_NONFATAL_FAILURE_, NIBBLE_REC_::throws_any([&] { stmt; }, #stmt, false))
#define ASSERT_NO_THROW(stmt) \
  NIBBLE_REC_OUTCOME_(GTEST_FATAL_FAILURE_, NIBBLE_REC_::throws_any([&] { stmt; }, #stmt, false))
