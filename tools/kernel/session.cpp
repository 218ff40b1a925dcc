// clang::Interpreter behind nibble::repl::Session (see session.h).
#include "tools/kernel/session.h"

#include <cctype>
#include <exception>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include <clang/AST/ASTContext.h>
#include <clang/AST/Decl.h>
#include <clang/AST/Mangle.h>
#include <clang/Basic/SourceManager.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <clang/Interpreter/Interpreter.h>
#include <llvm/Demangle/Demangle.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include "core/error.h"

namespace nibble::repl {

SessionOptions default_options() {
  SessionOptions o;
  o.include_dirs = {NIBBLE_REPL_SOURCE_DIR};
  o.resource_dir = NIBBLE_REPL_CLANG_RESOURCE_DIR;
  return o;
}

struct Session::Impl {
  std::vector<std::string> args;  // clang keeps pointers into these
  std::string diag_text;
  llvm::raw_string_ostream diag_stream{diag_text};
  std::unique_ptr<clang::Interpreter> interp;
  std::set<std::string> words;                // for complete()
  std::vector<std::string> header_lines;      // for inspect(): the library's headers, line by line
  std::string source_dir;
  std::string damaged;  // why the session cannot go on ("" while it can)
  int results = 0;      // trailing expressions shown so far (names their variables)
  int executed = 0;     // cells handed to the JIT
  bool show_included = false;  // tools/kernel/show.h, for trailing expressions

  std::string take_diagnostics() {
    diag_stream.flush();
    std::string s;
    s.swap(diag_text);
    return s;
  }

  void learn_words(const std::string& text) {
    static const std::regex ident("[A-Za-z_][A-Za-z0-9_]{2,}");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), ident); it != std::sregex_iterator(); ++it)
      words.insert(it->str());
  }

  void read_headers() {
    // The umbrella header names every public header: read each once for names and comments.
    const std::string umbrella = source_dir + "/nibble.h";
    std::ifstream in(umbrella);
    std::string line;
    static const std::regex inc("#include \"([^\"]+)\"");
    std::vector<std::string> files;
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_search(line, m, inc)) files.push_back(source_dir + "/" + m[1].str());
    }
    for (const std::string& f : files) {
      std::ifstream h(f);
      const std::string text((std::istreambuf_iterator<char>(h)), std::istreambuf_iterator<char>());
      learn_words(text);
      std::istringstream lines(text);
      while (std::getline(lines, line)) header_lines.push_back(line);
    }
  }
};

namespace {

// The names a cell's module uses but that are nowhere to be found (" `f(int)`, `x`"), "" when all are.
std::string undefined_names(clang::Interpreter& interp, const llvm::Module& module) {
  std::string missing;
  for (const llvm::GlobalValue& gv : module.global_values()) {
    if (!gv.isDeclaration() || gv.hasExternalWeakLinkage() || gv.getName().startswith("llvm.")) continue;
    auto address = interp.getSymbolAddress(gv.getName());
    if (address) continue;
    llvm::consumeError(address.takeError());
    missing += std::string(missing.empty() ? " `" : ", `") + llvm::demangle(gv.getName().str()) + "`";
  }
  return missing;
}

// clang 16 emits a cell's namespace-scope `const`/`constexpr`/`static` definitions with internal
// linkage into that cell's module only, so a later cell that uses one fails to link -- and a link
// failure poisons the JIT (see Session::run_code). Each cell is its own module but the session is one
// translation unit, so the kernel gives those definitions external linkage in the cell's module
// before it runs: their names (mangled with the internal marker, `_ZL8greeting`) are unique in the
// session, since C++ forbids redefining them in the same scope. Returns the names it could not find
// in the module (for the warning: then a later cell may still fail to link).
std::vector<std::string> export_internal_definitions(const clang::PartialTranslationUnit& ptu,
                                                     const clang::SourceManager& sm, clang::ASTContext& ast) {
  std::vector<std::string> missed;
  if (ptu.TUPart == nullptr || !ptu.TheModule) return missed;
  std::unique_ptr<clang::MangleContext> mangle(ast.createMangleContext());
  std::vector<const clang::DeclContext*> todo{ptu.TUPart};  // the cell's namespaces, without recursion
  while (!todo.empty()) {
    const clang::DeclContext* dc = todo.back();
    todo.pop_back();
    for (const clang::Decl* d : dc->decls()) {
      if (const auto* ns = llvm::dyn_cast<clang::NamespaceDecl>(d)) {
        if (!ns->isAnonymousNamespace()) todo.push_back(ns);
        continue;
      }
      const auto* nd = llvm::dyn_cast<clang::NamedDecl>(d);
      if (nd == nullptr || !(llvm::isa<clang::VarDecl>(nd) || llvm::isa<clang::FunctionDecl>(nd))) continue;
      if (nd->getFormalLinkage() != clang::InternalLinkage) continue;
      if (!sm.getBufferName(sm.getSpellingLoc(nd->getLocation())).startswith("input_line_")) continue;  // a header
      if (llvm::isa<clang::FunctionDecl>(nd) && llvm::cast<clang::FunctionDecl>(nd)->isTemplated()) continue;
      std::string name;
      llvm::raw_string_ostream out(name);
      const clang::GlobalDecl gd = llvm::isa<clang::VarDecl>(nd) ? clang::GlobalDecl(llvm::cast<clang::VarDecl>(nd))
                                                                 : clang::GlobalDecl(llvm::cast<clang::FunctionDecl>(nd));
      if (mangle->shouldMangleDeclName(nd))
        mangle->mangleName(gd, out);
      else
        out << nd->getName();
      out.flush();
      llvm::GlobalValue* gv = ptu.TheModule->getNamedValue(name);
      if (gv == nullptr) {
        // Not emitted here (an unused constant): a later cell that uses it emits its own copy.
        continue;
      }
      if (gv->isDeclaration() || !gv->hasLocalLinkage()) continue;
      gv->setLinkage(llvm::GlobalValue::ExternalLinkage);
      gv->setVisibility(llvm::GlobalValue::DefaultVisibility);
    }
  }
  return missed;
}

}  // namespace

Session::Session(const SessionOptions& options) : impl_(std::make_unique<Impl>()) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  Impl& s = *impl_;
  s.source_dir = options.include_dirs.empty() ? std::string(".") : options.include_dirs.front();
  s.args = {"-xc++", "-std=c++17", "-fno-color-diagnostics"};
  if (!options.resource_dir.empty()) {
    s.args.push_back("-resource-dir");
    s.args.push_back(options.resource_dir);
  }
  for (const std::string& d : options.include_dirs) s.args.push_back("-I" + d);
  for (const std::string& a : options.extra_args) s.args.push_back(a);
  std::vector<const char*> argv;
  for (const std::string& a : s.args) argv.push_back(a.c_str());

  auto ci = clang::IncrementalCompilerBuilder::create(argv);
  if (!ci) fail("nibble::repl::Session", "clang could not be set up: " + llvm::toString(ci.takeError()),
                "check the compiler flags in SessionOptions");
  // The diagnostics of each cell go to a string: an error reply carries the compiler's message.
  (*ci)->getDiagnostics().setClient(new clang::TextDiagnosticPrinter(s.diag_stream, &(*ci)->getDiagnosticOpts()),
                                    /*ShouldOwnClient=*/true);
  auto interp = clang::Interpreter::create(std::move(*ci));
  if (!interp) fail("nibble::repl::Session", "clang's interpreter failed to start: " + llvm::toString(interp.takeError()),
                    "is the clang 16 resource dir right? (" + options.resource_dir + ")");
  s.interp = std::move(*interp);
  // The JIT starts with the first executed input; undefined_names looks names up in it from cell 1 on.
  if (llvm::Error err = s.interp->ParseAndExecute("void __nibble_session_started() {}"))
    fail("nibble::repl::Session", "clang's JIT failed to start: " + llvm::toString(std::move(err)),
         "is libLLVM-16 complete? (llvm-16-dev)");
  s.take_diagnostics();
  s.read_headers();
}

Session::~Session() = default;

namespace {
MimeBundle* current_result = nullptr;  // the running cell's CellResult::result
}  // namespace

bool split_trailing_expression(const std::string& code, std::string* before, std::string* expression) {
  int depth = 0;
  size_t end = 0;          // just after the last top-level ';' or '}'
  bool code_after = false;  // anything but blanks, comments and preprocessor lines after `end`
  bool line_start = true;
  for (size_t i = 0; i < code.size(); ++i) {
    const char c = code[i];
    if (c == '\n') {
      line_start = true;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (line_start && c == '#') {  // a preprocessor line (with its continuations)
      while (i < code.size() && !(code[i] == '\n' && code[i - 1] != '\\')) ++i;
      continue;
    }
    line_start = false;
    if (c == '/' && i + 1 < code.size() && code[i + 1] == '/') {
      while (i < code.size() && code[i] != '\n') ++i;
      line_start = true;
      continue;
    }
    if (c == '/' && i + 1 < code.size() && code[i + 1] == '*') {
      const size_t close = code.find("*/", i + 2);
      i = close == std::string::npos ? code.size() : close + 1;
      continue;
    }
    if (c == '"' || c == '\'') {  // a string or character literal (raw strings are not handled)
      for (++i; i < code.size() && code[i] != c; ++i)
        if (code[i] == '\\') ++i;
      code_after = true;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (depth == 0 && (c == ';' || c == '}')) {
      end = i + 1;
      code_after = false;
    } else {
      code_after = true;
    }
  }
  if (depth != 0 || !code_after) return false;
  *before = code.substr(0, end);
  *expression = code.substr(end);
  return true;
}

CellResult Session::run(const std::string& code) {
  std::string before, expression;
  if (impl_->damaged.empty() && split_trailing_expression(code, &before, &expression)) {
    // The value goes to show.h, as a copy (`t.title("x")` returns a reference into a temporary that
    // dies with the return statement), else by reference (a value that cannot be copied). A cell
    // that compiles neither way (the tail was no expression after all) runs as written, so its error
    // is the compiler's message about the user's code.
    // show.h is included by a cell of its own: clang 16 keeps a header's include guard after rolling
    // back a cell that failed to compile, so an #include in a failing cell would lose the header
    // (and every header it pulls in for the first time) for the rest of the session.
    if (!impl_->show_included) impl_->show_included = run_code("#include \"tools/kernel/show.h\"\n").ok;
    for (const char* returns : {"auto", "decltype(auto)"}) {
      if (!impl_->show_included) break;
      const std::string rewritten = before + "\nauto __nibble_result_" +
                                    std::to_string(++impl_->results) + " = nibble::repl_detail::show([]() -> " +
                                    returns + " { return\n" + expression + "\n; });\n";
      CellResult r = run_code(rewritten);
      if (r.ok || r.error_name != "CompileError") {
        impl_->learn_words(code);
        return r;
      }
    }
  }
  return run_code(code);
}

CellResult Session::run_code(const std::string& code) {
  Impl& s = *impl_;
  CellResult r;
  current_result = &r.result;
  if (!s.damaged.empty()) {
    r.ok = false;
    r.error_name = "SessionDamaged";
    r.error_value = s.damaged;
    return r;
  }
  s.take_diagnostics();
  try {
    // A cell that fails to parse is cleaned up by clang 16 itself (IncrementalParser drops the
    // partial translation unit), so no Undo there: Undo would remove the previous, good cell.
    auto ptu = s.interp->Parse(code);
    if (!ptu) {
      r.ok = false;
      r.error_name = "CompileError";
      r.error_value = s.take_diagnostics();
      const std::string msg = llvm::toString(ptu.takeError());
      if (r.error_value.empty()) r.error_value = msg;
      return r;
    }
    const clang::CompilerInstance& ci = *s.interp->getCompilerInstance();
    export_internal_definitions(*ptu, ci.getSourceManager(), const_cast<clang::ASTContext&>(ci.getASTContext()));
    if (ptu->TheModule) {
      // Every name the cell uses but does not define must exist (in an earlier cell, libnibble, the C++
      // runtime) before the cell goes to the JIT: a module that fails to link cannot be taken back
      // out of clang 16's JIT. One that is never handed to it can: Undo drops the cell (its
      // declarations too), and the session goes on as before it.
      const std::string missing = undefined_names(*s.interp, *ptu->TheModule);
      if (!missing.empty()) {
        r.ok = false;
        r.error_name = "LinkError";
        r.error_value = "the cell uses" + missing +
                        ", declared but defined nowhere (not in an earlier cell, libnibble or the C++ library); the cell "
                        "did not run and was taken back: define it, or fix the name, and run the cell again";
        if (llvm::Error undo = s.interp->Undo(1)) {
          s.damaged = "an earlier cell could not be taken back after a link error (" + llvm::toString(std::move(undo)) +
                      "): restart the kernel (Kernel > Restart) and run the cells again";
          r.error_value += "\n" + s.damaged;
        }
        return r;
      }
      ++s.executed;
      ptu->TheModule->setModuleIdentifier("nibble_cell_" + std::to_string(s.executed));
      if (llvm::Error err = s.interp->Execute(*ptu)) {
        // Handed to the JIT and failed to link all the same (undefined_names found every name, so
        // something rarer: a duplicate definition, a relocation). clang 16 cannot recover from this:
        // the failed module's initializer stays pending in the JIT (every later cell would re-fail on
        // it) and its template instances stay poisoned. So the session says so from now on instead of
        // failing in confusing ways.
        r.ok = false;
        r.error_name = "LinkError";
        r.error_value = s.take_diagnostics() + llvm::toString(std::move(err)) +
                        "\n  The session cannot go on after this link error: restart the kernel (Kernel > Restart) "
                        "and run the cells again.";
        s.damaged = "an earlier cell failed to link (see its error), which clang 16's interpreter cannot undo: "
                     "restart the kernel (Kernel > Restart) and run the cells again";
        return r;
      }
    }
  } catch (const nibble::Error& e) {
    r.ok = false;
    r.error_name = "nibble::Error";
    r.error_value = e.what();
  } catch (const std::exception& e) {
    r.ok = false;
    r.error_name = "std::exception";
    r.error_value = e.what();
  } catch (...) {
    r.ok = false;
    r.error_name = "unknown exception";
    r.error_value = "a cell threw something that is not a std::exception";
  }
  current_result = nullptr;
  r.diagnostics = s.take_diagnostics();
  s.learn_words(code);
  return r;
}

std::vector<std::string> Session::complete(const std::string& prefix) const {
  std::vector<std::string> out;
  if (prefix.empty()) return out;
  for (auto it = impl_->words.lower_bound(prefix); it != impl_->words.end() && it->rfind(prefix, 0) == 0; ++it)
    if (*it != prefix) out.push_back(*it);
  return out;
}

std::string Session::inspect(const std::string& word) const {
  // The first declaration line in the headers that names `word(`, with the comment lines above it.
  const std::string name = word.substr(word.rfind(':') == std::string::npos ? 0 : word.rfind(':') + 1);
  if (name.empty()) return "";
  const std::regex decl("\\b" + name + "\\s*\\(");
  const std::vector<std::string>& lines = impl_->header_lines;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.find("//") == 0 || !std::regex_search(l, decl)) continue;
    size_t first = i;
    while (first > 0 && lines[first - 1].find("//") == 0) --first;
    std::string doc;
    for (size_t j = first; j <= i; ++j) doc += lines[j] + "\n";
    return doc;
  }
  return "";
}

std::string word_at(const std::string& code, size_t cursor, size_t* start) {
  cursor = std::min(cursor, code.size());
  size_t b = cursor;
  auto part = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (b > 0 && part(code[b - 1])) --b;
  if (start) *start = b;
  return code.substr(b, cursor - b);
}

}  // namespace nibble::repl

namespace nibble::repl_detail {
// Called by show.h from a cell's code (the JIT finds it in this program: it exports its symbols).
void set_result(const MimeBundle& bundle) {
  if (repl::current_result != nullptr) *repl::current_result = bundle;
}
}  // namespace nibble::repl_detail
