#!/usr/bin/env bash
# The corpus tools of data/ without network: corpus_baselines.py on a tiny fake corpus (the
# split rule against known keys and against a sha256sum implementation of it, byte counts,
# caps, a non-UTF-8 document, a skipped symlink, numeric bpb columns); make_corpus.sh refusing
# to run without apt-get, or over a folder it did not make, before it creates or downloads anything.
source "$(dirname "$0")/lib.sh"
BASE="$MOE_SRC/data/corpus_baselines.py"
MAKE="$MOE_SRC/data/make_corpus.sh"

C="$TMP/corpus"
doc() {   # doc DOMAIN KEY TEXT... : one document, its content printf'd
    local d=$1 k=$2; shift 2
    mkdir -p "$(dirname "$C/$d/$k")"
    printf "$@" >"$C/$d/$k"
}
# keys with a known split: train strlen.c, json/decoder.py, os.py, intro.1.gz, article.cls and
# gcide.dict#00000; test bench-memmem.c, asyncio/locks.py and gcide.dict#00007
doc c glibc-2.36/string/strlen.c 'size_t strlen (const char *s) { return 0; }\n'
doc c glibc-2.36/benchtests/bench-memmem.c '/* bench */\nint main (void) { return 0; }\n'
doc c glibc-2.36/iconvdata/latin1.c '/* \xe9t\xe9 \xff\xfe not UTF-8 */\n'
doc python usr/lib/python3.11/os.py 'import sys\n'
doc python usr/lib/python3.11/json/decoder.py 'def decode(s):\n    return s\n'
doc python usr/lib/python3.11/asyncio/locks.py 'class Lock:\n    pass\n'
doc roff usr/share/man/man1/intro.1.gz '.TH INTRO 1\n.SH NAME\nintro\n'
doc roff usr/share/man/man1/page3.1.gz '.TH PAGE3 1\n'
doc tex usr/share/texlive/texmf-dist/tex/latex/base/article.cls '\\NeedsTeXFormat{LaTeX2e}\n'
doc tex usr/share/texlive/texmf-dist/tex/latex/x/f212.sty '\\ProvidesPackage{f212}\n'
doc english 'gcide.dict#00000' 'A (named a in the English)\n'
doc english 'gcide.dict#00007' 'Zyme, n. A ferment.\n'
doc perl usr/share/perl/5.36.0/strict.pm 'package strict;\n1;\n'
doc perl usr/share/perl/5.36.0/M181.pm 'package M181;\n1;\n'
ln -s os.py "$C/python/usr/lib/python3.11/link.py"   # symlinks are not documents

# the split rule, in bash: test iff int(sha256(domain:key)[:8], 16) % 100 < 10
split_of() {
    local h
    h=$(printf '%s' "$1:$2" | sha256sum | cut -c1-8)
    if [ $((16#$h % 100)) -lt 10 ]; then echo test; else echo train; fi
}
expect_rc 0 "$PYTHON" "$BASE" "$C" --list
cp "$TMP/out" "$TMP/list"
[ "$(wc -l <"$TMP/list")" = 14 ] || { cat "$TMP/list" >&2; fail "expected 14 documents (the symlink skipped)"; }
grep -q 'link.py' "$TMP/list" && fail "the symlink link.py was listed"
for k in c:glibc-2.36/string/strlen.c:train c:glibc-2.36/benchtests/bench-memmem.c:test \
         python:usr/lib/python3.11/asyncio/locks.py:test python:usr/lib/python3.11/json/decoder.py:train \
         python:usr/lib/python3.11/os.py:train roff:usr/share/man/man1/intro.1.gz:train \
         english:gcide.dict#00000:train english:gcide.dict#00007:test \
         tex:usr/share/texlive/texmf-dist/tex/latex/base/article.cls:train; do
    d=${k%%:*} rest=${k#*:}
    key=${rest%:*} want=${rest##*:}
    [ "$(split_of "$d" "$key")" = "$want" ] || fail "bash split of $d:$key is not $want"
    grep -q -P "^$d\t$want\t\Q$key\E\t" "$TMP/list" || { cat "$TMP/list" >&2; fail "$d:$key is not listed as $want"; }
done
ntest=0
while IFS=$'\t' read -r d s key n; do
    [ "$s" = "$(split_of "$d" "$key")" ] || fail "$d:$key listed as $s"
    [ "$n" = "$(wc -c <"$C/$d/$key")" ] || fail "$d:$key listed with $n bytes"
    [ "$s" = train ] || ntest=$((ntest + 1))
done <"$TMP/list"
[ $ntest = 6 ] || fail "expected one test document per domain, got $ntest"
# each split is listed in key order
awk -F'\t' '{print $3 > ("'"$TMP"'/keys." $1 "." $2)}' "$TMP/list"
for f in "$TMP"/keys.*; do
    LC_ALL=C sort -c "$f" || fail "${f##*/keys.}: documents not in key order"
done
echo "split ok"

# the table: documents, train / test documents and bytes, three bpb numbers per domain
bytes() { local t=0 f; for f in "$@"; do t=$((t + $(wc -c <"$f"))); done; echo $t; }
expect_rc 0 "$PYTHON" "$BASE" "$C"
num='[0-9]+\.[0-9]{3}'
row() {   # row DOMAIN DOCS NTRAIN NTEST TRAIN_BYTES TEST_BYTES
    grep -q -E "^\| $1 \| $2 \| $3 / $4 \| $5 \| $6 \| $num \| $num \| $num \|$" "$TMP/out" ||
        { cat "$TMP/out" >&2; fail "no row '$1 | $2 | $3 / $4 | $5 | $6 | bpb x3'"; }
}
cd "$C/c/glibc-2.36"
row c 3 2 1 "$(bytes string/strlen.c iconvdata/latin1.c)" "$(bytes benchtests/bench-memmem.c)"
cd "$C/python/usr/lib/python3.11"
row python 3 2 1 "$(bytes os.py json/decoder.py)" "$(bytes asyncio/locks.py)"
cd "$C/english"
row english 2 1 1 "$(bytes 'gcide.dict#00000')" "$(bytes 'gcide.dict#00007')"
row roff 2 1 1 "$(bytes "$C"/roff/usr/share/man/man1/intro.1.gz)" "$(bytes "$C"/roff/usr/share/man/man1/page3.1.gz)"
cd "$TMP"
# gzip -9 and xz -9e on a 20-byte test split cost more than 8 bits per byte (headers)
grep -E '^\| english ' "$TMP/out" | awk -F'|' '{ if (!($7 > 0 && $8 > 8 && $9 > 8)) exit 1 }' ||
    { cat "$TMP/out" >&2; fail "english bpb columns out of range"; }

# caps: the first documents in key order, the one crossing the cap cut at it
expect_rc 0 "$PYTHON" "$BASE" "$C" --domains c,python --train-cap-bytes 20 --test-cap-bytes 1KiB --list
printf 'c\ttrain\tglibc-2.36/iconvdata/latin1.c\t20\npython\ttrain\tusr/lib/python3.11/json/decoder.py\t20\n' >"$TMP/want"
grep -P '\ttrain\t' "$TMP/out" | diff - "$TMP/want" || fail "train cap of 20 bytes: wrong documents"
memmem=$(wc -c <"$C/c/glibc-2.36/benchtests/bench-memmem.c")
grep -q -P "^c\ttest\tglibc-2.36/benchtests/bench-memmem.c\t$memmem\$" "$TMP/out" || fail "test cap of 1 KiB cut a document"
expect_rc 0 "$PYTHON" "$BASE" "$C" --domains c --train-cap-bytes 20 --test-cap-bytes 1KiB
row c 2 1 1 20 "$memmem"
expect_rc 2 "$PYTHON" "$BASE" "$C" --train-cap-bytes 5XB
expect_out "expected a byte count such as 524288, 512KiB or 5MiB, got '5XB'"
expect_rc 3 "$PYTHON" "$BASE" "$TMP/nothing"
expect_out "nothing: expected a corpus folder"
echo "table and caps ok"

# make_corpus.sh without apt-get on PATH: a clear refusal, nothing created, nothing downloaded
bin="$TMP/bin"
mkdir -p "$bin"
for t in bash env dirname id mkdir ls cat rm mktemp mv du cut sha256sum dpkg-deb dpkg xz python3; do
    p=$(command -v "$t" || true)
    [ -z "$p" ] || ln -s "$p" "$bin/$t"
done
export CORPUS_DIR="$TMP/made" DEB_CACHE="$TMP/debs"
PATH="$bin" expect_rc 2 "$bin/bash" "$MAKE"
expect_out "make_corpus.sh: apt-get not found on PATH"
[ ! -e "$CORPUS_DIR" ] && [ ! -e "$DEB_CACHE" ] || fail "make_corpus.sh created folders without apt-get"
# with an apt-get that records its calls: a CORPUS_DIR it did not make is refused before apt-get runs
printf '#!%s\necho "$@" >>"%s/apt-calls"\nexit 1\n' "$bin/bash" "$TMP" >"$bin/apt-get"
chmod +x "$bin/apt-get"
[ -e "$bin/dpkg-deb" ] || cp "$bin/apt-get" "$bin/dpkg-deb"
mkdir -p "$CORPUS_DIR" && : >"$CORPUS_DIR/precious.txt"
PATH="$bin" expect_rc 2 "$bin/bash" "$MAKE"
expect_out "made exists and is not a corpus made by this script (no manifest.json)"
[ -e "$CORPUS_DIR/precious.txt" ] && [ ! -e "$DEB_CACHE" ] && [ ! -e "$TMP/apt-calls" ] ||
    fail "make_corpus.sh touched a folder it refused, or ran apt-get"
echo "make_corpus.sh refusals ok"
