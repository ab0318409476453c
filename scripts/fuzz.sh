#!/usr/bin/env bash
# make fuzz: runs every Go fuzz target (func FuzzXxx in a _test.go file) for FUZZTIME each
# (default 30s; CI uses a few seconds). A crash fails the run; `go test` writes the input
# that crashed to the package's testdata/fuzz/<target>/, which is then committed as a
# corpus entry so that `go test` (and so `make test`) replays it for ever.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
mapfile -t targets < <(git grep -l -E '^func Fuzz[A-Za-z0-9_]+\(' -- '*_test.go' | while read -r f; do
		for t in $(sed -n -E 's/^func (Fuzz[A-Za-z0-9_]+)\(.*/\1/p' "$f"); do echo "./$(dirname "$f") $t"; done
	done | sort -u)
[[ ${#targets[@]} -gt 0 ]] || { echo "no fuzz targets found" >&2; exit 1; }
i=0
for entry in "${targets[@]}"; do
	i=$((i + 1))
	pkg=${entry% *} target=${entry#* }
	printf '\033[1m==> fuzz %d/%d: %s %s for %s\033[0m\n' "$i" "${#targets[@]}" "$pkg" "$target" "$fuzztime" >&2
	out=$(mktemp)
	if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out"; then
		rm -f "$out"
		continue
	fi
	# Go 1.26's fuzz coordinator can report "context deadline exceeded" as the fuzz time
	# runs out while a worker is mid-input (golang/go#75804, fixed in Go 1.27): that is no
	# finding. A real one always writes its input ("Failing input written to ...").
	if ! grep -q 'Failing input written to' "$out" && grep -q '^    context deadline exceeded$' "$out"; then
		printf '\033[33mwarning:\033[0m %s %s: the fuzz time ran out mid-input (golang/go#75804); no failing input was found\n' "$pkg" "$target" >&2
		rm -f "$out"
		continue
	fi
	rm -f "$out"
	exit 1
done
