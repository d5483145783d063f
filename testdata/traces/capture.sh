#!/bin/bash
# Re-captures the shipped traces with `maple capture` (see README.md here).
# Usage: bash testdata/traces/capture.sh [OUTDIR]   (from the repository root; OUTDIR defaults
# to testdata/traces)
#
# Works on a fresh clone: the C and Rust sources it compiles are crates that cargo fetches as
# dependencies of this workspace (zstd-sys vendors zstd's C sources; oorandom is one Rust file).
# Each capture is written to a temporary folder and replayed with --check; it replaces the
# trace in OUTDIR only when the program succeeded and every step matched the kernel. A program
# that is not installed (gcc, rustc, python3, git, node, java) is skipped with a line saying so.
set -euo pipefail
root=$(pwd)
out=$(realpath "${1:-testdata/traces}")
cargo build --release -q -p maple-cli
cargo fetch -q
maple="$root/target/release/maple"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The source folder of a dependency of this workspace, as cargo fetched it.
crate_dir() {
    cargo metadata --format-version 1 --locked 2>/dev/null |
        grep -o "\"manifest_path\":\"[^\"]*/$1-[0-9][^\"]*/Cargo.toml\"" |
        head -1 | sed -e 's/"manifest_path":"//' -e 's|/Cargo.toml"$||'
}

kept=0
skipped=0
# capture NAME PROGRAM ARGS...: captures into the work folder, keeps the trace if it is good.
capture() {
    local name=$1
    shift
    if ! command -v "$1" >/dev/null; then
        echo "capture.sh: $name: skipped, $1 is not installed"
        skipped=$((skipped + 1))
        return
    fi
    local trace="$work/$name.mtrace.zst"
    if ! (cd "$work/run" && "$maple" capture -q -f -n "$name" -o "$trace" -- "$@" >"$work/$name.out" 2>&1); then
        echo "capture.sh: $name: the program failed; $out/$name.mtrace.zst is left as it was"
        tail -3 "$work/$name.out" | sed 's/^/    /'
        skipped=$((skipped + 1))
        return
    fi
    if ! "$maple" replay --check "$trace" >"$work/$name.replay"; then
        echo "capture.sh: $name: the replay does not match the kernel at every step; $out/$name.mtrace.zst is left as it was"
        grep -E '^(steps|divergences|first divergence)' "$work/$name.replay" | sed 's/^/    /'
        skipped=$((skipped + 1))
        return
    fi
    mv -f "$trace" "$out/$name.mtrace.zst"
    echo "capture.sh: $name: $(grep '^steps' "$work/$name.replay" | sed 's/^steps: *//')"
    kept=$((kept + 1))
}
mkdir -p "$work/run"

# gcc: cc1 compiling zstd's largest source file at -O2 (zstd is BSD-licensed C, vendored by
# the zstd-sys crate that maple-trace depends on).
zstd=$(crate_dir zstd-sys)/zstd/lib
capture gcc-cc1-O2 gcc -O2 -c -I "$zstd" -I "$zstd/common" "$zstd/compress/zstd_compress.c" -o "$work/run/zstd_compress.o"

# rustc: an optimised build of the oorandom crate (one file, no dependencies; criterion, a
# dev-dependency here, uses it).
oorandom=$(crate_dir oorandom)
capture rustc-small-crate rustc --edition 2018 --crate-type lib --crate-name oorandom -O "$oorandom/src/lib.rs" --out-dir "$work/run"

# python3: importing a broad set of standard modules.
capture python3-imports python3 -c '
import asyncio, json, email.parser, http.client, xml.etree.ElementTree, sqlite3, decimal
import multiprocessing, ssl, unittest, argparse, logging, csv, zipfile, tarfile, hashlib
import urllib.request, concurrent.futures, difflib, pydoc, ctypes, tkinter.constants
print(len(__import__("sys").modules))'

# git: history with diffstats of this repository (skipped outside a git clone).
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    capture git-log git -C "$root" log --stat -n 300 --no-color
else
    echo "capture.sh: git-log: skipped, $root is not a git clone"
fi

# node: start, require a few core modules, run some JavaScript.
capture node node -e '
const zlib = require("zlib"), crypto = require("crypto"), util = require("util");
const data = Buffer.alloc(1 << 22, 7);
console.log(zlib.gzipSync(data).length, crypto.createHash("sha256").update(data).digest("hex"));
console.log(util.inspect(Array.from({length: 100000}, (_, i) => ({i})).length));'

# java: the JVM starting and printing its version.
capture java-version java -version

echo "capture.sh: $kept traces replaced in $out, $skipped left as they were"
