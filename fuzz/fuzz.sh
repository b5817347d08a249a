#!/usr/bin/env bash
# Fuzz a target, seeding its corpus from the golden scripts and the shared
# conformance cases. Usage: fuzz/fuzz.sh [parse_compile|run] [SECONDS]
# Leak detection is off: values are reference counted and a cycle (a closure
# that captures itself, a list that contains itself) is not collected; that is a
# known limitation (docs/language.md), not a finding.
# cargo-fuzz needs a nightly compiler; RUSTC_BOOTSTRAP lets a stable one act as one.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:-parse_compile}
secs=${2:-600}
mkdir -p "corpus/$target"
find ../tests/scripts ../../shared/conformance -name '*.proc' 2>/dev/null |
    while read -r f; do cp "$f" "corpus/$target/$(echo "$f" | tr '/.' '__')"; done
ASAN_OPTIONS=detect_leaks=0 RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=4096 -detect_leaks=0
