#!/usr/bin/env python3
"""Checks that the docs still match the tree (scripts/docs_check.sh runs it).

  1. every ```cpp / ```c++ block compiles against include/; a block with a main() is linked and run.
     A block without one is a fragment, compiled inside a function of its own:
         void run() { <block> }   in   namespace docs_snippet_N { using namespace tinydiff; }
     Marks in an HTML comment on the line just before a block change that:
         <!-- docs-check: declarations -->     the block is namespace-scope code (functions, types)
         <!-- docs-check: skip (reason) -->    not compiled (listed in the output with its reason)
         <!-- docs-check: declarations, from include/tinydiff/ops/unary.hpp -->
                                               ... and the block is that file's code, as it is now
                                               (compared without comments and whitespace)
  2. every relative link and image [text](path#anchor) resolves to a file, and the anchor to a heading;
  3. every `path/file.ext:LINE` names a file with at least LINE lines,
     and every path under the tree's top folders (include/..., scripts/..., ...) exists;
  4. every function or qualified name in `code` in the prose (`conv2d(x, w)`, `Tensor::backward`,
     `ddpm::diffusion_loss`) names identifiers that occur in the sources (include/, examples/,
     tests/, benchmarks/, fuzz/, scripts/, cmake/): a renamed or removed function is caught.
     std::, Eigen::, CLI:: and nlohmann:: names, and dotted ones (PyTorch's), are not checked.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CXX = os.environ.get("CXX", "g++")
FLAGS = ["-std=c++17", "-O0", "-fopenmp", "-I" + os.path.join(ROOT, "include"),
         "-isystem", "/usr/include/eigen3"]
TOP_DIRS = ("include", "examples", "scripts", "tests", "docs", "benchmarks", "fuzz", "cmake", ".ci")

errors = []


def error(path, line, message):
    errors.append(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def markdown_files():
    # The docs the check covers: README.md, docs/, every example's and the benchmarks' and fuzz's.
    patterns = ["README.md", "docs/*.md", "examples/*/README.md", "examples/*/*/README.md",
                "benchmarks/*.md", "fuzz/*.md"]
    files = sorted({f for p in patterns for f in glob.glob(p, root_dir=ROOT)})
    return [(f, open(os.path.join(ROOT, f), encoding="utf-8").read()) for f in files]


def fenced_blocks(text):
    """(language, first code line number, code, mark) for each ``` block; mark from the comment above."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```\s*([\w+-]*)", lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        above = lines[start - 1].strip() if start > 0 else ""
        mark = re.match(r"<!--\s*docs-check:\s*(.*?)\s*-->", above)
        yield m.group(2).lower(), start + 2, "\n".join(lines[start + 1:j]), mark.group(1) if mark else None
        i = j + 1


def prose(text):
    """The text with fenced blocks blanked out (line numbers kept)."""
    out, inside = [], False
    for line in text.split("\n"):
        if re.match(r"^\s*```", line):
            inside = not inside
            out.append("")
        else:
            out.append("" if inside else line)
    return "\n".join(out)


# ---- 1. C++ snippets -------------------------------------------------------------------------

def code_only(source):
    """C++ without its // comments and whitespace, for comparing a quote with its source."""
    return re.sub(r"\s+", "", re.sub(r"//[^\n]*", "", source))


def check_quote(path, line, code, source_path):
    # A block that quotes a header must still be in it (a renamed helper, a changed line: stale).
    full = os.path.join(ROOT, source_path)
    if not os.path.isfile(full):
        error(path, line, f"the block quotes {source_path}, which does not exist")
    elif code_only(code) not in code_only(open(full, encoding="utf-8").read()):
        error(path, line, f"the block is no longer in {source_path} (comments and spaces aside)")
    else:
        print(f"docs_check: {path}:{line} is {source_path}'s code as it is now")


def check_snippets(docs, work):
    fragments, programs, skipped = [], [], []
    for path, text in docs:
        for n, (lang, line, code, mark) in enumerate(fenced_blocks(text)):
            if lang not in ("cpp", "c++"):
                continue
            where = f"{path}:{line - 1}"
            if mark and mark.startswith("skip"):
                skipped.append(f"{where} {mark}")
            elif re.search(r"\bint\s+main\s*\(", code):
                programs.append((where, path, line, code))
            else:
                fragments.append((where, path, line, code, bool(mark) and mark.startswith("declarations")))
                quoted = re.search(r"\bfrom\s+(\S+)", mark or "")
                if quoted:
                    check_quote(path, line - 1, code, quoted.group(1))
    for s in skipped:
        print(f"docs_check: skipped {s}")

    # All fragments in one translation unit (the umbrella header costs seconds a TU), each in its
    # own namespace; #line makes a compiler error point at the markdown.
    if fragments:
        tu = ["#include <tinydiff/tinydiff.hpp>"]
        for k, (where, path, line, code, declarations) in enumerate(fragments):
            tu.append(f"namespace docs_snippet_{k} {{\nusing namespace tinydiff;")
            if not declarations:
                tu.append("[[maybe_unused]] void run() {")
            tu.append(f'#line {line} "{path}"\n{code}')
            tu.append("}" if declarations else "}\n}")
        source = os.path.join(work, "fragments.cpp")
        with open(source, "w") as f:
            f.write("\n".join(tu) + "\n")
        result = subprocess.run([CXX, *FLAGS, "-fsyntax-only", source], capture_output=True, text=True)
        where = ", ".join(w for w, *_ in fragments)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            error(where, 0, "a C++ fragment among these does not compile (the compiler output above names it)")
        else:
            print(f"docs_check: {len(fragments)} C++ fragment(s) compile: {where}")

    # A block with a main() is a whole program: compiled, linked and run in a scratch folder.
    for k, (where, path, line, code) in enumerate(programs):
        source, binary = os.path.join(work, f"program_{k}.cpp"), os.path.join(work, f"program_{k}")
        with open(source, "w") as f:
            f.write(f'#line {line} "{path}"\n{code}\n')
        result = subprocess.run([CXX, *FLAGS, source, "-o", binary, "-lz"], capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            error(path, line - 1, "this C++ program does not compile (compiler output above)")
            continue
        run = subprocess.run([binary], cwd=work, capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            sys.stderr.write(run.stdout + run.stderr)
            error(path, line - 1, f"this C++ program exits with status {run.returncode}")
            continue
        print(f"docs_check: {where} compiles and runs: {run.stdout.strip()[:100]}")
    return len(fragments) + len(programs), len(skipped)


# ---- 2. links and images ---------------------------------------------------------------------

def github_anchor(heading):
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    heading = heading.strip().lower()
    heading = re.sub(r"[^\w\- ]", "", heading)
    return heading.replace(" ", "-")


def anchors(text):
    seen, result = {}, set()
    for line in prose(text).split("\n"):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = github_anchor(m.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return result


def check_links(docs):
    checked = 0
    texts = dict(docs)
    for path, text in docs:
        body = re.sub(r"`[^`\n]*`", lambda m: " " * len(m.group(0)), prose(text))  # not inside `code`
        for m in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", body):
            target = m.group(1)
            line = body.count("\n", 0, m.start()) + 1
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not checked here
                continue
            checked += 1
            file_part, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            full = os.path.join(ROOT, resolved)
            if not os.path.exists(full):
                error(path, line, f"link to '{target}': {resolved} does not exist")
                continue
            if anchor and resolved.endswith(".md"):
                heading_ids = anchors(texts.get(resolved) or open(full, encoding="utf-8").read())
                if anchor not in heading_ids:
                    error(path, line, f"link to '{target}': no heading '#{anchor}' in {resolved}")
    return checked


# ---- 3. file paths and file:LINE references ----------------------------------------------------

def check_paths(docs):
    checked = 0
    top = "|".join(re.escape(d) for d in TOP_DIRS)
    for path, text in docs:
        body = prose(text)
        # file.ext:LINE anywhere in the prose, relative to the root (or to the markdown's folder).
        for m in re.finditer(r"(?<![\w/.])((?:[\w.-]+/)*[\w.-]+\.[A-Za-z]+):(\d+)\b", body):
            line = body.count("\n", 0, m.start()) + 1
            name, want = m.group(1), int(m.group(2))
            candidates = [os.path.join(ROOT, name), os.path.join(ROOT, os.path.dirname(path), name)]
            found = next((c for c in candidates if os.path.isfile(c)), None)
            checked += 1
            if not found:
                error(path, line, f"'{name}:{want}': no such file")
            elif sum(1 for _ in open(found, encoding="utf-8", errors="replace")) < want:
                error(path, line, f"'{name}:{want}': the file has fewer lines than that")
        # Any path under the tree's top folders, in prose, `code` or a shell block, exists (from the
        # root or from the markdown's folder; a * in it is a glob).
        for m in re.finditer(r"(?<![\w/.-])((?:" + top + r")/[\w./*-]*\w)", text):
            line = text.count("\n", 0, m.start()) + 1
            name = m.group(1)
            checked += 1
            if not (glob.glob(os.path.join(ROOT, name)) or glob.glob(os.path.join(ROOT, os.path.dirname(path), name))):
                error(path, line, f"'{name}' does not exist")
    return checked


# ---- 4. function and qualified-name references ---------------------------------------------------

SOURCE_GLOBS = ("include/**/*", "examples/**/*", "tests/**/*", "benchmarks/**/*", "fuzz/**/*", "scripts/*",
                "cmake/*", "CMakeLists.txt")
FOREIGN = ("std::", "Eigen::", "CLI::", "nlohmann::")


def source_identifiers():
    """Every identifier that occurs in the sources (text files only; C++ without its comments, so
    that a word in a comment does not pass for a function)."""
    names = set()
    for pattern in SOURCE_GLOBS:
        for f in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            if os.path.isfile(f) and not f.endswith((".md", ".gz", ".png", ".safetensors")):
                with open(f, encoding="utf-8", errors="replace") as source:
                    text = source.read()
                if f.endswith((".hpp", ".cpp", ".h", ".inl", ".cxx")):
                    text = re.sub(r"//[^\n]*|/\*.*?\*/", " ", text, flags=re.S)
                names.update(re.findall(r"[A-Za-z_]\w*", text))
    return names


def check_references(docs):
    known = source_identifiers()
    checked = 0
    for path, text in docs:
        body = prose(text)
        for m in re.finditer(r"`([^`\n]+)`", body):
            # name(...) or a::b(...) or a::b: a reference to code; a bare word is not checked.
            ref = re.fullmatch(r"((?:[A-Za-z_]\w*(?:<[^<>]*>)?::)*~?[A-Za-z_]\w*)\s*(\(.*\))?", m.group(1).strip())
            if not ref or ("::" not in ref.group(1) and ref.group(2) is None) or ref.group(1).startswith(FOREIGN):
                continue
            checked += 1
            parts = [re.sub(r"<.*", "", p).lstrip("~") for p in ref.group(1).split("::")]
            missing = [p for p in parts if p not in known]
            if missing:
                error(path, body.count("\n", 0, m.start()) + 1,
                      f"`{m.group(1)}`: no {', '.join(missing)} in the sources")
    return checked


def main():
    sys.stdout.reconfigure(line_buffering=True)  # in order with the compiler's stderr
    docs = markdown_files()
    with tempfile.TemporaryDirectory() as work:
        compiled, skipped = check_snippets(docs, work)
    links = check_links(docs)
    paths = check_paths(docs)
    references = check_references(docs)
    sys.stdout.flush()
    for e in errors:
        print(e, file=sys.stderr)
    sys.stderr.flush()
    print(f"docs_check: {len(docs)} markdown files; {compiled} C++ block(s) compiled, {skipped} skipped; "
          f"{links} relative links, {paths} paths and {references} code references checked; "
          f"{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
