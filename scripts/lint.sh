#!/usr/bin/env bash
# make lint: the rules of STYLE.md §1 and §3 that a program can check.
#
#  - layers: scripts/layers.txt is the one table of layers (its comments say
#    its format). A module (src/NAME.c + src/NAME.h) may depend on its own
#    layer or lower, where "depends" follows includes through headers: a
#    violation is reported with its include chain.
#  - forbid: the table's role rules (sources never reach sink or batch
#    headers, sinks never listener or ring ones), through headers too.
#  - cycles: every cycle of the module graph (A.c or A.h includes B.h =>
#    A -> B; a types header B-t.h is its own module, so including only
#    types makes no edge to B), with the include that makes each edge.
#  - banned calls: sprintf strcpy strcat strtok atoi gets.
#  - names (issue 14, item 8): a non-static function defined in src/X.c is
#    named sl_X or sl_X_* (sl__X_* if internal), or is in the table's
#    names-exempt. An offender fails the lint; LINT_NAMES=report (in the
#    environment or `make lint LINT_NAMES=report`) only prints them, for a
#    rename in progress.
#
# First a self-test: the fixture tests/lint/tree/ (a layer violation, a
# cycle, a forbidden include, a misnamed function) must give exactly
# tests/lint/expected, so a check that stops finding things fails too.
#
# Usage: scripts/lint.sh                 the self-test, then this tree
#        scripts/lint.sh --tree ROOT     only ROOT (ROOT/src, ROOT/include,
#                                        ROOT/scripts/layers.txt)
set -uo pipefail
cd "$(dirname "$0")/.."

# check_tree ROOT: the table-driven checks of ROOT; exit status 1 on a
# violation. Needs python3 (3.6+) and nothing else.
check_tree() {
    python3 - "$1" "${LINT_NAMES:-strict}" <<'PY'
import fnmatch, os, re, sys
from collections import deque

root, names_mode = sys.argv[1], sys.argv[2]
table_path = os.path.join(root, "scripts", "layers.txt")
src, inc = os.path.join(root, "src"), os.path.join(root, "include")
status = 0
def err(msg):
    global status
    print("lint: " + msg)
    status = 1

# --- the table -------------------------------------------------------------
layers, layer_names = [], []      # [(layer index, pattern)], in table order
groups, forbids, allows, exempt = {}, [], [], set()
lines = []
for raw in open(table_path):
    text = raw.split("#", 1)[0].rstrip()
    if not text.strip():
        continue
    if text[0] in " \t" and lines:
        lines[-1] += " " + text.strip()
    else:
        lines.append(text.strip())
for line in lines:
    m = re.match(r"^(group|forbid)\s+(\w+)\s*:\s*(.*)$", line)
    if m and m.group(1) == "group":
        groups[m.group(2)] = m.group(3).split()
        continue
    if m:
        forbids.append((m.group(2), m.group(3).split()))
        continue
    m = re.match(r"^allow\s+(.+?)\s*->\s*(.+?)\s*:\s*(\S.*)$", line)
    if m:
        allows.append((m.group(1).split(), m.group(2).split(), m.group(3)))
        continue
    m = re.match(r"^names-exempt\s*:\s*(.*)$", line)
    if m:
        exempt.update(m.group(1).split())
        continue
    m = re.match(r"^([\w-]+)\s*:\s*(.*)$", line)
    if not m:
        err("%s: cannot read: %s" % (table_path, line))
        continue
    if m.group(1) not in layer_names:
        layer_names.append(m.group(1))
    for pat in m.group(2).split():
        layers.append((layer_names.index(m.group(1)), pat))

def any_match(name, pats):
    return any(fnmatch.fnmatchcase(name, p) for p in pats)

def layer_of(mod):
    base = mod[:-2] if mod.endswith("-t") else mod
    for name in (mod, base):
        for lay, pat in layers:            # an exact name wins
            if pat == name:
                return lay
        for lay, pat in layers:            # then the first pattern
            if fnmatch.fnmatchcase(name, pat):
                return lay
    return None

def allowed(a, b):
    return any(any_match(a, fa) and any_match(b, tb) for fa, tb, _ in allows)

# --- the files and their includes -----------------------------------------
INC = re.compile(r'^[ \t]*#\s*include\s*"([A-Za-z0-9_/.-]+)\.h"', re.M)
files = {}                           # path relative to root -> its module
for d, prefix in ((src, ""), (os.path.join(inc, "sluice"), "sluice/")):
    if os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            if f.endswith((".c", ".h")):
                files[os.path.relpath(os.path.join(d, f), root)] = prefix + f[:-2]
includes = {}                        # file -> [(header file, its module)]
for f in files:
    out = []
    for name in INC.findall(open(os.path.join(root, f)).read()):
        for cand in (os.path.join("src", name + ".h"), os.path.join("include", name + ".h")):
            if cand in files:
                out.append((cand, files[cand]))
                break
    includes[f] = out

modules = sorted(set(files.values()))
for mod in modules:
    if layer_of(mod) is None:
        err("%s: module %s is in no layer of scripts/layers.txt"
            % (", ".join(f for f in files if files[f] == mod), mod))
for lay, pat in layers:
    if not any(ch in pat for ch in "*?[") and pat not in modules:
        print("lint: warning: scripts/layers.txt names %s, which no file is" % pat)

def reach(f):
    """Headers f reaches, each with its shortest include chain, along edges
    the allowlist does not excuse."""
    me, seen, q = files[f], {f: [f]}, deque([f])
    while q:
        cur = q.popleft()
        for h, hm in includes[cur]:
            if h in seen or allowed(files[cur], hm) or allowed(me, hm):
                continue
            seen[h] = seen[cur] + [h]
            q.append(h)
    return seen

def chain_str(chain):
    return " -> ".join([chain[0]] + [os.path.basename(h) for h in chain[1:]])

# --- layers and forbid rules, through headers ------------------------------
def forbidden_for(mod):
    out = []
    for g, targets in forbids:
        if not any_match(mod, groups.get(g, [])):
            continue
        out.append((g, [p for t in targets for p in groups.get(t, [t])]))
    return out

found = {}                            # (module, kind, module) -> (chain, message)
for f in sorted(files):
    me = files[f]
    mine = layer_of(me)
    if mine is None:
        continue
    rules = forbidden_for(me)
    reported = set()
    for h, chain in sorted(reach(f).items(), key=lambda kv: (len(kv[1]), kv[0])):
        hm = files[h]
        if hm in (me, me + "-t") or hm in reported:
            continue
        if any(files[c] in reported for c in chain[1:-1]):
            continue                      # a consequence of one reported already
        theirs, base = layer_of(hm), hm[:-2] if hm.endswith("-t") else hm
        if theirs is not None and theirs > mine:
            key, msg = (me, "layer", hm), "%s (%s) depends on %s (%s)" % (
                me, layer_names[mine], hm, layer_names[theirs])
        else:
            # a types header is its own module here too: batch-t is not batch
            g = next((g for g, pats in rules if base != me and any_match(hm, pats)), None)
            if g is None:
                continue
            key, msg = (me, "forbid", hm), "%s (group %s) depends on %s" % (me, g, hm)
        reported.add(hm)
        if key not in found or len(chain) < len(found[key][0]):
            found[key] = (chain, msg)         # one per pair of modules: the shortest
for key in sorted(found):
    chain, msg = found[key]
    err("%s: %s: %s" % (key[1], chain_str(chain), msg))

# --- cycles in the module graph --------------------------------------------
edges = {}                            # (a, b) -> the first include making it
for f in sorted(files):
    for h, hm in includes[f]:
        a = files[f]
        if hm != a and not allowed(a, hm):
            edges.setdefault((a, hm), "%s includes %s" % (f, os.path.basename(h)))
succ = {m: sorted(b for (a, b) in edges if a == m) for m in modules}

def cycles():
    """Every elementary cycle once, starting at its least module (at most
    200: past that, fix some first)."""
    found = []
    for start in modules:
        stack = [(start, iter(succ[start]))]
        path, on = [start], {start}
        while stack and len(found) < 200:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                on.discard(path.pop())
            elif nxt == start:
                found.append(path + [start])
            elif nxt > start and nxt not in on:
                path.append(nxt)
                on.add(nxt)
                stack.append((nxt, iter(succ[nxt])))
    return found

for cyc in cycles():
    why = "; ".join(edges[(cyc[i], cyc[i + 1])] for i in range(len(cyc) - 1))
    err("cycle: %s (%s)" % (" -> ".join(cyc), why))

# --- names: an exported function carries its file's name -------------------
def strip(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    text = re.sub(r"'(\\.|[^'\\\n])*'", "''", text)
    return re.sub(r"^[ \t]*#[^\n]*(\\\n[^\n]*)*", "", text, flags=re.M)

def exported_functions(path):
    """(line, name) of each non-static function defined in <path>."""
    text, out, depth, stmt_start = strip(open(path).read()), [], 0, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{":
            if depth == 0:
                head = text[stmt_start:i]
                m = re.search(r"\b([A-Za-z_]\w*)\s*\((?:[^()]|\([^()]*\))*\)\s*$", head)
                if (m and "=" not in head and not re.search(r"\bstatic\b", head)
                        and not re.match(r"\s*(struct|union|enum)\b[^(]*$", head)):
                    out.append((text.count("\n", 0, stmt_start + m.start(1)) + 1, m.group(1)))
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                stmt_start = i + 1
        elif ch == ";" and depth == 0:
            stmt_start = i + 1
        i += 1
    return out

total, bad = 0, []
for f in sorted(files):
    if not (f.startswith("src" + os.sep) and f.endswith(".c")):
        continue
    mod = files[f]
    for line, name in exported_functions(os.path.join(root, f)):
        total += 1
        if (name in exempt or name == "sl_" + mod or name.startswith("sl_" + mod + "_")
                or name.startswith("sl__" + mod + "_")):
            continue
        bad.append("%s:%d: %s is not sl_%s_*" % (f, line, name, mod))
strict = names_mode == "strict"
for b in bad:
    print("lint: names: " + b)
if bad:
    print("lint: names: %d of %d exported functions do not carry their file's name%s"
          % (len(bad), total, "" if strict else " (LINT_NAMES=report: not failing)"))
    if strict:
        status = 1
sys.exit(status)
PY
}

banned_calls() {
    if grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|gets)\(' src/*.c src/*.h; then
        echo "lint: banned call (sprintf strcpy strcat strtok atoi gets)"; return 1
    fi
}

if [ "${1:-}" = "--tree" ]; then
    check_tree "$2"
    exit
fi

status=0
got=$(LINT_NAMES=strict check_tree tests/lint/tree 2>&1)
if [ $? -eq 0 ] || [ "$got" != "$(cat tests/lint/expected)" ]; then
    echo "lint: self-test: tests/lint/tree did not give tests/lint/expected:"
    diff <(echo "$got") tests/lint/expected | sed 's/^/lint:   /'
    status=1
fi
check_tree . || status=1
banned_calls || status=1
[ $status -eq 0 ] && echo "lint: ok"
exit $status
