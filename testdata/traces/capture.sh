#!/bin/bash
# Re-captures the shipped traces with `maple capture` (see README.md here).
# Usage: bash testdata/traces/capture.sh [OUTDIR]   (from the repository root)
# Needs gcc, rustc, python3, git, node and java on PATH, and ptrace permission.
set -euo pipefail
root=$(pwd)
out=$(realpath "${1:-testdata/traces}")
cargo build --release -q -p maple-cli
maple="$root/target/release/maple"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# gcc: cc1 compiling zstd's largest source file at -O2 (zstd is BSD-licensed C, vendored by
# the zstd-sys crate that maple-trace depends on).
zstd=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -mindepth 2 -maxdepth 2 -name 'zstd-sys-*' | sort | tail -1)/zstd/lib
cd "$work"
"$maple" capture -o "$out/gcc-cc1-O2.mtrace.zst" -- \
    gcc -O2 -c -I "$zstd" -I "$zstd/common" "$zstd/compress/zstd_compress.c" -o zstd_compress.o

# rustc: an optimised build of the fnv crate (one file, no dependencies).
fnv=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -mindepth 2 -maxdepth 2 -name 'fnv-*' | sort | tail -1)
"$maple" capture -o "$out/rustc-small-crate.mtrace.zst" -- \
    rustc --edition 2015 --crate-type lib --crate-name fnv -O "$fnv/lib.rs" --out-dir "$work"

# python3: importing a broad set of standard modules.
"$maple" capture -o "$out/python3-imports.mtrace.zst" -- python3 -c '
import asyncio, json, email.parser, http.client, xml.etree.ElementTree, sqlite3, decimal
import multiprocessing, ssl, unittest, argparse, logging, csv, zipfile, tarfile, hashlib
import urllib.request, concurrent.futures, difflib, pydoc, ctypes, tkinter.constants
print(len(__import__("sys").modules))'

# git: history with diffstats of this repository.
"$maple" capture -o "$out/git-log.mtrace.zst" -- git -C "$root" log --stat -n 300 --no-color

# node: start, require a few core modules, run some JavaScript.
"$maple" capture -o "$out/node.mtrace.zst" -- node -e '
const zlib = require("zlib"), crypto = require("crypto"), util = require("util");
const data = Buffer.alloc(1 << 22, 7);
console.log(zlib.gzipSync(data).length, crypto.createHash("sha256").update(data).digest("hex"));
console.log(util.inspect(Array.from({length: 100000}, (_, i) => ({i})).length));'

# java: the JVM starting and printing its version.
"$maple" capture -o "$out/java-version.mtrace.zst" -- java -version
