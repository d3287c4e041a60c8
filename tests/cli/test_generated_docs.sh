#!/usr/bin/env bash
# The generated docs are what the binary prints: docs/spec.md (every key, default, meaning) and
# the registries' tables in docs/methods/README.md.
source "$(dirname "$0")/lib.sh"
"$MOE_BIN/moe-train" --spec-reference > "$TMP/ref.md" 2>/dev/null
[ "$(wc -l < "$TMP/ref.md")" -gt 50 ] || fail "spec reference too short"
grep -F -q '| `train.lr` | number | `0.001` |' "$TMP/ref.md" || fail "train.lr row missing"
while IFS= read -r line; do
    grep -F -q -- "$line" "$MOE_SRC/docs/spec.md" || fail "docs/spec.md is stale; missing row: $line (regenerate with moe-train --spec-reference)"
done < "$TMP/ref.md"
echo "docs/spec.md is current ($(wc -l < "$TMP/ref.md") lines)"
# docs/methods/README.md holds the registries' tables as the binary prints them
for kind in routers losses experts; do
    "$MOE_BIN/moe-train" --list $kind --markdown > "$TMP/$kind.md"
    [ "$(wc -l < "$TMP/$kind.md")" -gt 3 ] || fail "--list $kind --markdown too short"
    while IFS= read -r line; do
        grep -F -q -- "$line" "$MOE_SRC/docs/methods/README.md" ||
            fail "docs/methods/README.md is stale; missing row: $line (regenerate with moe-train --list $kind --markdown)"
    done < "$TMP/$kind.md"
done
echo "docs/methods/README.md tables are current"
