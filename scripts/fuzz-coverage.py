#!/usr/bin/env python3
"""Line coverage of a fuzz target's parser files over one indexed profile (scripts/fuzz.sh).

    fuzz-coverage.py ROOT BIN PROFILE OUT FILE...

FILE: the parser's source files, paths from the repository root ROOT (the fuzz source's
"// fuzz-parser:" lines). Writes into the folder OUT:
  lines         "covered total": lines of the FILEs any input ran / lines with code, counted as the
                listing shows them: a template's line counts as run when any instantiation ran
                it (llvm-cov-14's own summary adds up its function records, a template by its
                best single instantiation, and comes out different)
  coverage.txt  llvm-cov's annotated listing of each FILE
  uncovered.txt the lines of the FILEs no input ran, as "path:line: source text" (paths from
                ROOT), grouped under the innermost function that holds them
Exit status 1 (with a message) when the binary's coverage mapping has no FILE.

The coverage mapping names files as the compiler saw them: under ccache's base_dir rewrite that is
BUILD/../dir/file.cpp. llvm-cov show and export match the files given on their command line
against those names only after -path-equivalence has normalised them (remove_dots), so every call
passes -path-equivalence=/,/ (rewrite nothing, normalise everything).
"""
import json
import os
import subprocess
import sys

LLVM_COV = "llvm-cov-14"
NORMALISE = "-path-equivalence=/,/"


def main():
    root, binary, profile, out = sys.argv[1:5]
    files = sys.argv[5:]
    absolute = [os.path.realpath(os.path.join(root, f)) for f in files]
    common = [f"-instr-profile={profile}", NORMALISE, binary]

    exported = json.loads(subprocess.run(
        [LLVM_COV, "export", "-format=text", *common, *absolute],
        check=True, capture_output=True, text=True).stdout)["data"][0]
    mapped = {os.path.realpath(f["filename"]) for f in exported["files"]}
    missing = [f for f, a in zip(files, absolute) if a not in mapped]
    if missing:
        sys.exit("no coverage mapping for " + " ".join(missing))

    # Function bodies per file: (first line, last line, mangled name); the first region of a
    # function record is its whole body. Instantiations of one template share a body: one entry.
    bodies = {a: set() for a in absolute}
    for fn in exported["functions"]:
        if not fn["regions"]:
            continue
        start, _, end, _, _, file_id = fn["regions"][0][:6]
        path = os.path.realpath(fn["filenames"][file_id])
        if path in bodies:
            bodies[path].add((start, end, fn["name"]))
    names = sorted({name for spans in bodies.values() for _, _, name in spans})
    demangled = dict(zip(names, subprocess.run(
        ["llvm-cxxfilt-14"], input="\n".join(names), check=True, capture_output=True,
        text=True).stdout.splitlines())) if names else {}

    def short(name):  # what a reader would write: std::string, not its full template
        for long, brief in (("std::basic_string_view<char, std::char_traits<char> >", "std::string_view"),
                            ("std::__cxx11::basic_string<char, std::char_traits<char>, "
                             "std::allocator<char> >", "std::string"), ("[abi:cxx11]", "")):
            name = name.replace(long, brief)
        return name.split(":", 1)[1] if name.split(":", 1)[0].endswith(".cpp") else name

    listing, uncovered, covered, total = [], [], 0, 0
    for rel, path in zip(files, absolute):
        shown = subprocess.run(
            [LLVM_COV, "show", "-show-instantiations=false", *common, path],
            check=True, capture_output=True, text=True).stdout
        listing.append(shown)
        groups = {}  # function -> [(line, text)]
        for row in shown.splitlines():
            parts = row.split("|", 2)
            if len(parts) != 3 or not parts[0].strip().isdigit() or not parts[1].strip():
                continue
            total += 1
            if parts[1].strip() != "0":
                covered += 1
                continue
            line = int(parts[0])
            holders = [b for b in bodies[path] if b[0] <= line <= b[1]]
            if holders:
                start, end, name = min(holders, key=lambda b: (b[1] - b[0], b[0]))
                key = (start, short(demangled.get(name, name)))
            else:
                key = (line, "(outside any function)")
            groups.setdefault(key, []).append((line, parts[2]))
        for (_, function), rows in sorted(groups.items()):
            uncovered.append(f"# {rel}: {function}: {len(rows)} lines")
            uncovered += [f"{rel}:{line}: {text.strip()}" for line, text in rows]

    with open(os.path.join(out, "lines"), "w") as f:
        f.write(f"{covered} {total}\n")
    with open(os.path.join(out, "coverage.txt"), "w") as f:
        f.write("\n".join(listing))
    with open(os.path.join(out, "uncovered.txt"), "w") as f:
        f.write("\n".join(uncovered) + ("\n" if uncovered else ""))


if __name__ == "__main__":
    main()
