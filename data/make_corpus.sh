#!/usr/bin/env bash
# Builds the multi-domain text corpus of moe-lab's causal language models from Debian 12
# (bookworm) packages, never from the installed tree: `apt-get download` the packages of six
# domains into a cache, `dpkg-deb -x` each into a scratch folder, and lay out one file per
# document, its path under $CORPUS_DIR/<domain>/ being its key. Writes $CORPUS_DIR/manifest.json
# (package versions and .deb sha256, document counts, bytes and a sha256 per domain).
# data/README.md describes the domains, the selection rules and the manifest.
#
#   data/make_corpus.sh                      # as root on Debian 12; or `make corpus`
#   CORPUS_DIR=/tmp/corpus DEB_CACHE=/tmp/debs data/make_corpus.sh
#
# Idempotent: cached .debs are reused (nothing is downloaded twice); the corpus is rebuilt in
# a temporary folder beside $CORPUS_DIR and replaces it only when complete. It installs
# xz-utils (and python3 when /usr/bin/python3 is missing) with apt-get.
set -euo pipefail

me=make_corpus.sh
# exit codes as moe-lab's: 2 cannot run here as asked, 3 a download, package or file is bad
die() { echo "$me: $*" >&2; exit 2; }
die_io() { echo "$me: $*" >&2; exit 3; }

# Before anything is created or downloaded: the Debian tools this needs.
command -v apt-get >/dev/null 2>&1 ||
    die "apt-get not found on PATH; this script builds the corpus from Debian 12 (bookworm) packages and needs apt-get and dpkg-deb"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found on PATH; it needs Debian 12 (bookworm) with dpkg"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CORPUS_DIR=${CORPUS_DIR:-$repo/data/corpus}
DEB_CACHE=${DEB_CACHE:-$repo/data/debs}
PY=/usr/bin/python3

# domain: packages (their versions, selections and licences: data/README.md)
DOMAINS="c python roff tex english perl"
declare -A PKGS=(
    [c]="glibc-source"
    [python]="libpython3.11-minimal libpython3.11-stdlib"
    [roff]="manpages manpages-dev"
    [tex]="texlive-latex-base texlive-latex-recommended"
    [english]="dict-gcide"
    [perl]="perl-modules-5.36"
)

codename=$( (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true)
[ "$codename" = bookworm ] ||
    echo "$me: warning: this is not Debian 12 (bookworm) but '${codename:-unknown}'; package names and bytes may differ" >&2

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
updated=0
apt_update() {
    [ $updated = 1 ] && return 0
    if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
        die "apt-get update needs root (run as root, or install sudo)"
    fi
    echo "$me: apt-get update"
    $SUDO apt-get update -qq || die_io "apt-get update failed"
    updated=1
}

# $CORPUS_DIR is replaced at the end: only a folder this script made (one with a manifest)
if [ -e "$CORPUS_DIR" ] && ! { [ -d "$CORPUS_DIR" ] &&
    { [ -f "$CORPUS_DIR/manifest.json" ] || [ -z "$(ls -A "$CORPUS_DIR")" ]; }; }; then
    die "$CORPUS_DIR exists and is not a corpus made by this script (no manifest.json); remove it or set CORPUS_DIR"
fi

start=$SECONDS
dl="" scratch="" stage=""
trap 'rm -rf ${dl:+"$dl"} ${scratch:+"$scratch"} ${stage:+"$stage"}' EXIT
trap 'exit 130' INT TERM

# 1. tools: xz-utils (the glibc tarball is .tar.xz) and Debian's python3 (standard library only)
missing=""
command -v xz >/dev/null 2>&1 || missing="$missing xz-utils"
[ -x "$PY" ] || missing="$missing python3"
if [ -n "$missing" ]; then
    apt_update
    echo "$me: installing$missing"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing || die_io "apt-get install$missing failed"
fi

# 2. the .debs, downloaded once into $DEB_CACHE (apt-get download writes to the current folder;
# it downloads into a fresh subfolder first so that an interrupted download leaves no .deb)
mkdir -p "$DEB_CACHE"
DEB_CACHE=$(cd "$DEB_CACHE" && pwd)
# cached_deb PKG: the cached .deb of PKG with the highest version, or nothing
cached_deb() {
    local best="" bv="" f v
    for f in "$DEB_CACHE/$1"_*.deb; do
        [ -f "$f" ] || continue
        v=$(dpkg-deb -f "$f" Version 2>/dev/null) || continue
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$bv"; then best=$f; bv=$v; fi
    done
    [ -n "$best" ] && echo "$best"
    return 0
}
all_pkgs=""
for d in $DOMAINS; do all_pkgs="$all_pkgs ${PKGS[$d]}"; done
need=""
for p in $all_pkgs; do [ -n "$(cached_deb "$p")" ] || need="$need $p"; done
if [ -n "$need" ]; then
    [ -n "$SUDO" ] || apt_update   # as root: refresh the lists first (a fresh image has none)
    dl=$(mktemp -d "$DEB_CACHE/.download.XXXXXX")
    # apt downloads as its _apt user when that user may write there (else it warns and runs as root)
    [ -n "$SUDO" ] || ! id _apt >/dev/null 2>&1 || chown _apt "$dl"
    echo "$me: apt-get download$need"
    (cd "$dl" && apt-get download -q $need) || { rm -rf "$dl"; die_io "apt-get download$need failed"; }
    mv "$dl"/*.deb "$DEB_CACHE"/
    rmdir "$dl"
    dl=""
fi
debs=()
for p in $all_pkgs; do
    f=$(cached_deb "$p")
    [ -n "$f" ] || die_io "no .deb of $p in $DEB_CACHE after apt-get download"
    [ "$(dpkg-deb -f "$f" Package)" = "$p" ] || die_io "$f: the Package field is not $p"
    debs+=("$p=$f")
done

# 3. extract each package into a scratch folder (independent of dpkg's path-exclude rules
# and of what is installed)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/make_corpus.XXXXXX")
mkdir -p "$(dirname "$CORPUS_DIR")"
CORPUS_DIR="$(cd "$(dirname "$CORPUS_DIR")" && pwd)/$(basename "$CORPUS_DIR")"   # no trailing /
stage="$CORPUS_DIR.tmp-$$"
for pd in "${debs[@]}"; do
    p=${pd%%=*}
    f=${pd#*=}
    mkdir -p "$scratch/x/$p"
    dpkg-deb -x "$f" "$scratch/x/$p" || die_io "dpkg-deb -x $f failed"
done

# 4. select the documents, write them under $stage/<domain>/<key>, and the manifest
pkg_args=()
for d in $DOMAINS; do
    for p in ${PKGS[$d]}; do
        f=$(cached_deb "$p")
        pkg_args+=("$d=$p=$f")
    done
done
"$PY" - "$scratch/x" "$stage" "${pkg_args[@]}" <<'PY'
import gzip, hashlib, json, os, subprocess, sys, tarfile

x, stage = sys.argv[1], sys.argv[2]
packages = {}                      # domain -> [(package, .deb path)]
for arg in sys.argv[3:]:
    d, p, f = arg.split("=", 2)
    packages.setdefault(d, []).append((p, f))

def fail(msg):
    print(f"make_corpus.sh: {msg}", file=sys.stderr)
    sys.exit(3)

def tree_files(root, top, want):
    """Regular files (symlinks skipped) under root/top whose key passes want(); keys relative to root."""
    base = os.path.join(root, top)
    if not os.path.isdir(base):
        fail(f"{base}: expected a folder in the extracted package")
    for dp, dns, fns in os.walk(base):
        for fn in fns:
            path = os.path.join(dp, fn)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            key = os.path.relpath(path, root)
            if want(key):
                yield key, path

def domain_c():
    (pkg, _), = packages["c"]
    tarball = os.path.join(x, pkg, "usr/src/glibc/glibc-2.36.tar.xz")
    if not os.path.isfile(tarball):
        fail(f"{tarball}: expected the glibc 2.36 source tarball in {pkg}")
    xz = subprocess.Popen(["xz", "-dc", tarball], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=xz.stdout, mode="r|") as tar:
        for m in tar:   # regular members only: symlinks and hard links are skipped
            if m.isfile() and m.name.startswith("glibc-2.36/") and m.name.endswith(".c"):
                yield m.name, tar.extractfile(m).read()
    if xz.wait() != 0:
        fail(f"xz -dc {tarball} failed")

def domain_python():
    for pkg, _ in packages["python"]:
        for key, path in tree_files(os.path.join(x, pkg), "usr/lib/python3.11",
                                    lambda k: k.endswith(".py")):
            yield key, open(path, "rb").read()

def domain_roff():
    for pkg, _ in packages["roff"]:
        root = os.path.join(x, pkg)
        def want(k):
            parts = k.split("/")   # usr/share/man/manN/page.N.gz
            return len(parts) == 5 and parts[3].startswith("man") and k.endswith(".gz")
        for key, path in tree_files(root, "usr/share/man", want):
            text = gzip.decompress(open(path, "rb").read())
            if len(text) < 200 and text.startswith(b".so "):
                continue           # alias stub
            yield key, text

TEX_EXT = (".sty", ".cls", ".tex", ".ltx", ".dtx", ".def")
def domain_tex():
    for pkg, _ in packages["tex"]:
        for key, path in tree_files(os.path.join(x, pkg), "usr/share/texlive/texmf-dist/tex",
                                    lambda k: k.endswith(TEX_EXT)):
            yield key, open(path, "rb").read()

CHUNK = 65536
def domain_english():
    (pkg, _), = packages["english"]
    path = os.path.join(x, pkg, "usr/share/dictd/gcide.dict.dz")
    if not os.path.isfile(path) or os.path.islink(path):
        fail(f"{path}: expected the GCIDE dictionary (dictzip) in {pkg}")
    text = gzip.decompress(open(path, "rb").read())
    start, n = 0, 0
    while start < len(text):
        # CHUNK bytes, then up to and including the next newline after them
        nl = text.find(b"\n", start + CHUNK)
        end = len(text) if nl < 0 else nl + 1
        yield f"gcide.dict#{n:05d}", text[start:end]
        start, n = end, n + 1

def domain_perl():
    (pkg, _), = packages["perl"]
    for key, path in tree_files(os.path.join(x, pkg), "usr/share/perl/5.36.0",
                                lambda k: k.endswith(".pm")):
        yield key, open(path, "rb").read()

SELECT = {
    "c": (domain_c, "members glibc-2.36/**/*.c of usr/src/glibc/glibc-2.36.tar.xz, keyed by member name"),
    "python": (domain_python, "usr/lib/python3.11/**/*.py"),
    "roff": (domain_roff, "usr/share/man/man*/*.gz, gunzipped, without .so alias stubs under 200 bytes; keyed by the .gz path"),
    "tex": (domain_tex, "usr/share/texlive/texmf-dist/tex/**/*.{sty,cls,tex,ltx,dtx,def}"),
    "english": (domain_english, "usr/share/dictd/gcide.dict.dz gunzipped, cut into chunks of 65536 bytes extended to the next newline after them, keyed gcide.dict#00000, #00001, ..."),
    "perl": (domain_perl, "usr/share/perl/5.36.0/**/*.pm"),
}

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

def deb_field(path, field):
    return subprocess.run(["dpkg-deb", "-f", path, field], check=True,
                          capture_output=True, text=True).stdout.strip()

manifest = {
    "format": "moe-lab text corpus manifest, version 1",
    "source": "Debian 12 (bookworm) packages, extracted with dpkg-deb -x; see data/README.md",
    "key": "a document's path relative to <corpus>/<domain>/",
    "domain_sha256": "sha256 of the concatenation, over the domain's documents in ascending "
                     "byte order of their UTF-8 keys, of key + '\\0' + hex sha256(content) + '\\n'",
    "split": "test iff int(sha256(domain + ':' + key)[:8], 16) % 100 < 10",
    "domains": {},
}
for domain in ["c", "python", "roff", "tex", "english", "perl"]:
    select, rule = SELECT[domain]
    docs = {}
    for key, data in select():
        if key in docs:
            fail(f"{domain}: key {key} occurs twice")
        out = os.path.join(stage, domain, key)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(data)
        docs[key] = (hashlib.sha256(data).hexdigest(), len(data), data)
    if not docs:
        fail(f"{domain}: no documents selected ({rule})")
    h = hashlib.sha256()
    total = non_utf8 = 0
    for key in sorted(docs):
        digest, size, data = docs[key]
        h.update(key.encode("utf-8") + b"\0" + digest.encode("ascii") + b"\n")
        total += size
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            non_utf8 += 1
    manifest["domains"][domain] = {
        "packages": [{"package": p, "version": deb_field(f, "Version"),
                      "deb": os.path.basename(f), "deb_sha256": sha256_file(f)}
                     for p, f in packages[domain]],
        "selection": rule,
        "documents": len(docs),
        "bytes": total,
        "non_utf8_documents": non_utf8,
        "sha256": h.hexdigest(),
    }
    print(f"make_corpus.sh: {domain:8s} {len(docs):6d} documents {total:12,d} bytes "
          f"({non_utf8} not UTF-8)  sha256 {h.hexdigest()[:16]}...")
    docs.clear()
with open(os.path.join(stage, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
PY

# 5. replace $CORPUS_DIR by the new tree
[ ! -e "$CORPUS_DIR" ] || rm -rf "$CORPUS_DIR"
mv "$stage" "$CORPUS_DIR"
stage=""
echo "$me: wrote $CORPUS_DIR ($(du -sh "$CORPUS_DIR" | cut -f1); .debs in $DEB_CACHE: $(du -sh "$DEB_CACHE" | cut -f1)) in $((SECONDS - start)) s"
