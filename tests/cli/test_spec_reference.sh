#!/usr/bin/env bash
# docs/spec.md is the spec reference the binary prints (every key, default, meaning).
source "$(dirname "$0")/lib.sh"
"$MOE_BIN/moe-train" --spec-reference > "$TMP/ref.md" 2>/dev/null
[ "$(wc -l < "$TMP/ref.md")" -gt 50 ] || fail "spec reference too short"
grep -F -q '| `train.lr` | number | `0.001` |' "$TMP/ref.md" || fail "train.lr row missing"
while IFS= read -r line; do
    grep -F -q -- "$line" "$MOE_SRC/docs/spec.md" || fail "docs/spec.md is stale; missing row: $line (regenerate with moe-train --spec-reference)"
done < "$TMP/ref.md"
echo "docs/spec.md is current ($(wc -l < "$TMP/ref.md") lines)"
