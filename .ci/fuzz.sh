#!/usr/bin/env bash
# Runs every native Go fuzz target for FUZZTIME each (default 30s), one after
# the other, and stops at the first finding. The seed corpora (f.Add and
# testdata/fuzz/FuzzXxx/) already run as ordinary tests in `make test`.
#
#   .ci/fuzz.sh                      # each target 30s
#   FUZZTIME=5s .ci/fuzz.sh          # the short CI run
#   FUZZ=Webhook FUZZTIME=2m .ci/fuzz.sh   # only targets matching FUZZ
#
# A finding is written by Go to <package>/testdata/fuzz/<Target>/<hash>:
# fix the defect, keep that file as a regression seed, and commit both.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-30s}"
FUZZ="${FUZZ:-.}"
# Go minimises every new interesting input; bound it so slow targets
# (FuzzStripeWebhook goes through gRPC and Postgres) spend their time fuzzing.
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-10s}"
# module  package  target  minimum seconds
# The minimum covers a target's set-up and baseline run (FuzzStripeWebhook
# starts stripe-mock and a database in every worker): Go fails a fuzz run
# with "context deadline exceeded" when FUZZTIME ends before fuzzing began.
TARGETS=(
	"services/wallet     ./app            FuzzStripeWebhook     30"
	"gateway             ./internal/api   FuzzRequestDecoders   0"
	"gateway             ./internal/api   FuzzJWTMiddleware     0"
	"gateway             ./internal/csvexport FuzzExportCSV      0"
	"gateway             ./internal/csvexport FuzzNeutralizeCell 0"
	"services/workflow   ./internal/n8n   FuzzCall              10"
)

# seconds prints FUZZTIME in seconds when it is a plain duration (30s, 2m, 1h).
seconds() {
	case "$1" in
	*[0-9]s) echo "${1%s}" ;;
	*[0-9]m) echo $((${1%m} * 60)) ;;
	*[0-9]h) echo $((${1%h} * 3600)) ;;
	*) echo "" ;;
	esac
}

ran=0
for t in "${TARGETS[@]}"; do
	read -r module pkg target min <<<"$t"
	[[ "$target" =~ $FUZZ ]] || continue
	time="$FUZZTIME"
	secs="$(seconds "$FUZZTIME")"
	if [[ "$secs" =~ ^[0-9]+$ ]] && ((secs < min)); then
		time="${min}s"
	fi
	echo "== fuzz $module $pkg $target for $time"
	log="$(mktemp)"
	if ! (cd "$module" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg") 2>&1 | tee "$log"; then
		echo "FAIL: $target found a failing input (see above); it is saved under $module/${pkg#./}/testdata/fuzz/$target/"
		rm -f "$log"
		exit 1
	fi
	grep 'fuzz: elapsed' "$log" | tail -n 1 | sed "s/^/$target: /"
	rm -f "$log"
	ran=$((ran + 1))
done
[[ $ran -gt 0 ]] || { echo "no fuzz target matches FUZZ=$FUZZ"; exit 2; }
echo "fuzz: $ran targets passed"
