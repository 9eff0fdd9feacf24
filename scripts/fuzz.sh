#!/usr/bin/env bash
# Builds and runs ZServe's libFuzzer targets (the Fuzz/ package; docs/fuzzing.md).
#
#   scripts/fuzz.sh build                 build both targets (release, AddressSanitizer, libFuzzer coverage)
#   scripts/fuzz.sh TARGET SECONDS [FLAG...]
#                                         fuzz TARGET (request | onnx) for SECONDS with libFuzzer FLAGs, e.g. -jobs=2;
#                                         new inputs go to Fuzz/Work/TARGET/corpus, crashes to Fuzz/Work/TARGET/crashes
#   scripts/fuzz.sh replay TARGET FILE... run TARGET once on each FILE (a crash input, a seed)
#   scripts/fuzz.sh seeds                 rewrite the committed seed corpora in Fuzz/Corpus
#   scripts/fuzz.sh check [SECONDS]       what scripts/test.sh runs: a debug build (half the build time of release,
#                                         ~25x fewer executions a second), replay of every committed seed and
#                                         regression input, then SECONDS (default 15) of fuzzing per target
#
# FUZZ_CONFIG=debug|release picks the build (release unless set; check always uses debug). Builds are serialized
# with other Swift builds on the machine (flock), and fuzzing runs at nice 19.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

config=${FUZZ_CONFIG:-release}
[[ "${1:-}" == check ]] && config=debug
bin="$root/Fuzz/.build/$config"
runtime=$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")/lib/clang
fuzzer_runtime=$(ls "$runtime"/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -n 1)

build() {
    [[ -n "$fuzzer_runtime" ]] || { echo "fuzz.sh: libFuzzer's runtime (libclang_rt.fuzzer_no_main) is not in the toolchain" >&2; exit 1; }
    # -sanitize=fuzzer would link libFuzzer's own main, which clashes with the main SwiftPM gives every executable;
    # the same coverage instrumentation plus the runtime without main does the same job.
    flock /tmp/zserve-swift-build.lock swift build --package-path Fuzz -c "$config" \
        -Xswiftc -sanitize=address \
        -Xswiftc -sanitize-coverage=edge,indirect-calls,trace-cmp,inline-8bit-counters,pc-table \
        -Xlinker --whole-archive -Xlinker "$fuzzer_runtime" -Xlinker --no-whole-archive
}

target_binary() {
    case "$1" in
        request) echo "$bin/fuzz-request" ;;
        onnx) echo "$bin/fuzz-onnx" ;;
        *) echo "fuzz.sh: unknown target '$1' (request | onnx)" >&2; exit 2 ;;
    esac
}

# Seed folders for a target: the committed corpus, and for onnx the generated fixture models when present.
seed_dirs() {
    echo "Fuzz/Corpus/$1"
    if [[ "$1" == onnx && -d "${ZSERVE_FIXTURES:-.fixtures}/repository" ]]; then echo "${ZSERVE_FIXTURES:-.fixtures}/repository"; fi
}

# Flags every run uses: bounded input size, time per input and memory (ASan's allocator counts toward the limit).
common_flags=(-max_len=65536 -timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=1024 -print_final_stats=1)

# Fuzzes $1 for $2 seconds in work folder $3 (new inputs in $3/corpus, crashes in $3/crashes); the rest are flags.
fuzz() {
    local target=$1 seconds=$2 work=$3
    shift 3
    local binary
    binary=$(target_binary "$target")
    mkdir -p "$work/corpus" "$work/crashes"
    # shellcheck disable=SC2046
    nice -n 19 "$binary" "${common_flags[@]}" -max_total_time="$seconds" -artifact_prefix="$work/crashes/" \
        "$@" "$work/corpus" $(seed_dirs "$target")
}

replay() {
    local target=$1
    shift
    local binary
    binary=$(target_binary "$target")
    nice -n 19 "$binary" "${common_flags[@]}" "$@"
}

case "${1:-}" in
    build) build ;;
    request | onnx)
        [[ $# -ge 2 ]] || { echo "usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags]" >&2; exit 2; }
        # Always (re)build: an up-to-date build is a few seconds, a stale binary fuzzes code that is gone.
        build
        fuzz "$1" "$2" "Fuzz/Work/$1" "${@:3}"
        ;;
    replay)
        [[ $# -ge 3 ]] || { echo "usage: scripts/fuzz.sh replay TARGET FILE..." >&2; exit 2; }
        build
        replay "${@:2}"
        ;;
    seeds)
        build
        rm -rf Fuzz/Corpus/request
        "$bin/fuzz-request" --write-seeds Fuzz/Corpus/request
        "$bin/fuzz-onnx" --write-seeds Fuzz/Corpus/onnx
        ;;
    check)
        seconds=${2:-15}
        build
        for target in request onnx; do
            echo "== fuzz $target: committed seeds and regression inputs, then ${seconds}s of fuzzing" >&2
            files=(Fuzz/Corpus/"$target"/*)
            if compgen -G "Fuzz/Regressions/$target/*" > /dev/null; then files+=(Fuzz/Regressions/"$target"/*); fi
            # Its own work folder, fresh each time: the run is the same from any clone, and a long run's is untouched.
            work="Fuzz/Work/check/$target"
            rm -rf "$work"
            mkdir -p "$work"
            log="$work/check.log"
            # libFuzzer exits non-zero on a crash, a timeout, a leak or running out of memory.
            if ! replay "$target" "${files[@]}" > "$log" 2>&1; then tail -n 60 "$log" >&2; exit 1; fi
            echo "replayed ${#files[@]} inputs" >&2
            # A fixed seed: the same mutations on every run of the same code, so a finding is reproducible rather
            # than a coin toss between CI runs (long runs, above, draw their own).
            if ! fuzz "$target" "$seconds" "$work" -seed=1 > "$log" 2>&1; then tail -n 60 "$log" >&2; exit 1; fi
            grep -E '^(INFO: seed corpus|#[0-9]+ +(INITED|DONE)|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' "$log" >&2
        done
        ;;
    *)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
