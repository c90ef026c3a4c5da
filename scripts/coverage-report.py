#!/usr/bin/env python3
"""Line and branch coverage of product code per top-level folder, from a gcov build.

    scripts/coverage-report.py [BUILD_DIR]     (default build-coverage/)

Reads the .gcda/.gcno files of a FUNKHAUS_ENABLE_COVERAGE build after the tests ran (scripts/test.sh
--coverage runs this), through gcovr, and prints folder | lines | line % | branches | branch %.
Product code only: tests/, bench/, every */test/ folder, build directories and system headers are
left out. An object no test ran counts with all its lines uncovered (gcovr reads its .gcno).
Branches: gcovr with --exclude-unreachable-branches --exclude-throw-branches, i.e. without the
exception-unwinding edges gcc adds to every call. Writes BUILD_DIR/coverage/summary.json (per file)
and BUILD_DIR/coverage/index.html (per file, line by line).
"""
import json
import os
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def source_dir(build_dir: str) -> str:
    """The checkout the build was configured from (its CMakeCache), else this script's."""
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:INTERNAL="):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ROOT


def run_gcovr(build_dir: str, out_dir: str) -> str:
    summary = os.path.join(out_dir, "summary.json")
    root = source_dir(build_dir)
    cmd = [
        "gcovr",
        "--root", root,
        "--object-directory", build_dir,
        # Filters are regular expressions on paths relative to the working directory (root);
        # the root itself is the default filter, which leaves out /usr.
        "--exclude", r"tests/",
        "--exclude", r"bench/",
        "--exclude", r".*/test/",
        "--exclude", r"build[^/]*/",
        "--exclude-unreachable-branches",
        "--exclude-throw-branches",
        # A counter that came out negative ("branch 1 taken -1", seen for a file many processes
        # merge into at once) is skipped with a line on stderr; without this, gcovr 5.2 raised in a
        # worker thread and the run hung.
        "--gcov-ignore-parse-errors",
        "-j", str(os.cpu_count() or 1),
        "--json-summary", summary,
        "--html-details", os.path.join(out_dir, "index.html"),
        build_dir,
    ]
    subprocess.run(cmd, cwd=root, check=True)
    return summary


def cut_short(build_dir: str) -> list:
    """.gcda files with fewer functions than their .gcno: a process was killed while it wrote its
    counts at exit. libgcov then refuses to merge into them ("Merge mismatch"), so every later
    process's counts for that object are lost and its figures are a lower bound."""
    def functions(args):
        out = subprocess.run(["gcov-dump", *args], capture_output=True, text=True).stdout
        return out.count("FUNCTION ident")

    short = []
    for parent, _, names in os.walk(build_dir):
        for name in names:
            if name.endswith(".gcda"):
                gcda = os.path.join(parent, name)
                gcno = gcda[: -len(".gcda")] + ".gcno"
                if os.path.exists(gcno) and functions(["-l", gcda]) < functions([gcno]):
                    short.append(os.path.relpath(gcda, build_dir))
    return sorted(short)


def pct(covered: int, total: int) -> str:
    return f"{100.0 * covered / total:5.1f} %" if total else "    -  "


def main() -> int:
    build_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-coverage"))
    out_dir = os.path.join(build_dir, "coverage")
    os.makedirs(out_dir, exist_ok=True)
    with open(run_gcovr(build_dir, out_dir)) as f:
        files = json.load(f)["files"]

    keys = ("line_covered", "line_total", "branch_covered", "branch_total")
    folders = defaultdict(lambda: dict.fromkeys(keys, 0) | {"files": 0})
    for entry in files:
        folder = entry["filename"].split("/", 1)[0]
        for k in keys:
            folders[folder][k] += entry[k]
        folders[folder]["files"] += 1
    total = {k: sum(f[k] for f in folders.values()) for k in keys + ("files",)}

    rows = [(name, folders[name]) for name in sorted(folders)] + [("total", total)]
    print(f"\ncoverage of product code by the test suite ({build_dir})")
    header = f"{'folder':<16} {'files':>5} {'lines':>15} {'line %':>8} {'branches':>15} {'branch %':>8}"
    print(header)
    print("-" * len(header))
    for name, r in rows:
        if name == "total":
            print("-" * len(header))
        lines = f"{r['line_covered']}/{r['line_total']}"
        branches = f"{r['branch_covered']}/{r['branch_total']}"
        print(f"{name:<16} {r['files']:>5} {lines:>15} {pct(r['line_covered'], r['line_total']):>8} "
              f"{branches:>15} {pct(r['branch_covered'], r['branch_total']):>8}")
    print(f"per file: {os.path.join(out_dir, 'index.html')} and summary.json")
    short = cut_short(build_dir)
    if short:
        print(f"{len(short)} .gcda file(s) cut short by a process killed while writing them; the "
              "counts of every later process for these objects are lost (lower bounds):")
        for path in short:
            print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
