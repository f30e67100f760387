#!/usr/bin/env python3
"""
perf_top.py - the top of a `perf record` profile of sluice, grouped.

  bench/perf_top.py [-n 15] FILE.perf [FILE.perf ...]

Reads each profile with `perf script` (call graphs from --call-graph dwarf
or fp) and prints, with one column per file so that runs can be compared:

  groups     where the leaf of each sample is: zstd (libzstd), zlib,
             kernel, sluice (the daemon's own code), libc (memcpy, memchr,
             malloc...; with ld.so and the vDSO), other (libmicrohttpd,
             jansson, libcurl, ...)
  stages     the samples sorted by the stage of the data path they
             belong to (the four copies, framing, HTTP, zstd...)
  functions  the top functions by self time; an inlined function is shown
             as "inner [in outer]"; a stripped library's unnamed code is
             one line
  kernel     kernel time by its way in (the system call, a page fault, an
             interrupt) and the sluice function that made the call
  libc       libc time by function and the sluice function that called it
  threads    time by the thread's entry point (the first frame below
             start_thread / main), and by thread

Shares are of the samples in the file, that is of sluice's CPU time while
perf ran (cpu-clock samples: this VM has no hardware PMU). A row under
0.3% in every column is left out.
"""
import os
import re
import subprocess
import sys
from collections import defaultdict

FRAME = re.compile(r"^\s*([0-9a-f]+) (.*) \((.*)\)$")
SYSCALL = re.compile(r"^(__x64_sys_|__ia32_sys_|__se_sys_|__do_sys_|ksys_|do_sys_)")
INTERRUPTS = ("asm_sysvec_", "sysvec_", "asm_common_interrupt", "common_interrupt",
              "irq_exit", "__irq_exit", "handle_softirqs", "__do_softirq", "do_softirq")
CLONE = re.compile(r"\.(isra|part|constprop|cold|lto_priv)(\.\d+)*$")
TOP = 15
FLOOR = 0.3
STARTS = {"start_thread", "clone3", "clone", "__clone", "__clone3", "_start",
          "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main"}


def group(dso):
    base = os.path.basename(dso)
    if dso.startswith("[kernel") or dso.startswith("[guest.kernel"):
        return "kernel"
    if base.startswith("libzstd"):
        return "zstd"
    if base.startswith("libz.so"):
        return "zlib"
    if base.startswith(("libc.so", "ld-linux", "libm.so")) or dso == "[vdso]":
        return "libc"
    if base == "sluice":
        return "sluice"
    return "other"


# Inlined wrappers from the C library's headers (_FORTIFY_SOURCE): not
# worth a name of their own in a frame.
WRAPPERS = {"memcpy", "memmove", "memset", "memchr", "strlen", "read", "write", "recv",
            "snprintf", "vsnprintf", "fgets", "fprintf", "vfprintf", "printf"}


def script(path, inline):
    """`perf script`'s samples: (weight (the period), thread id, frames) per
    sample, frames [(ip, sym, dso)] innermost first."""
    cmd = ["perf", "script", "-i", path, "-F", "tid,period,ip,sym,dso"]
    out = subprocess.run(cmd + ([] if inline else ["--no-inline"]), capture_output=True,
                         text=True, errors="replace").stdout
    res = []
    for block in out.split("\n\n"):
        lines = block.strip("\n").split("\n")
        try:
            tid, weight = map(int, lines[0].split()[-2:])
        except ValueError:
            continue
        frames = [m.groups() for m in map(FRAME.match, lines[1:]) if m]
        if frames:
            res.append((weight, tid, frames))
    return res


def samples(path):
    """Yields (weight, tid, frames) per sample; frames innermost first, each
    (label, sym, dso, group). perf names a frame's shared object only when
    asked not to resolve inlined functions, so it is read twice: once for
    the objects, once for the inlined functions, shown as "inner [in outer]"."""
    plain, inl = script(path, False), script(path, True)
    if len(plain) != len(inl):
        inl = [(w, t, [(ip, s, "inlined") for ip, s, d in f]) for w, t, f in plain]
    for (weight, tid, frames), (_, _, names) in zip(plain, inl):
        out, j = [], 0
        for ip, sym, dso in frames:
            inner = []
            while j < len(names) and names[j][0] == ip and names[j][2] == "inlined":
                inner.append(names[j][1])
                j += 1
            if j < len(names) and names[j][0] == ip:
                j += 1                          # the frame itself
            sym, grp = CLONE.sub("", sym), group(dso)
            inner = [n for n in inner if CLONE.sub("", n) != sym and n not in WRAPPERS]
            if sym == "[unknown]":
                label = "[unnamed code of %s]" % os.path.basename(dso)
            elif inner and grp == "sluice":     # libc's are aliases (memcpy/memmove)
                label = "%s [in %s]" % (inner[0], sym)
            else:
                label = sym
            out.append((label, sym, dso, grp))
        yield weight, tid, out


def caller(frames):
    """The first sluice function up the stack from the leaf, with the
    libraries between them: "sl_compress_write", "feed via libzstd"."""
    via = []
    for label, sym, dso, grp in frames[1:]:
        if grp == "sluice":
            return label + (" via " + ", ".join(via) if via else "")
        name = os.path.basename(dso).split(".so")[0]
        if grp not in ("kernel", "libc") and name not in via:
            via.append(name)
    return "-"


def kernel_entry(frames):
    """The kernel's way in for a kernel sample: a system call (the frame
    that do_syscall_64 called), else a page fault, else an interrupt."""
    kernel = [f[1] for f in frames if f[3] == "kernel"]
    if "do_syscall_64" in kernel:
        i = kernel.index("do_syscall_64")
        calls = [k for k in kernel[:i] if SYSCALL.match(k)]
        if calls:
            return "sys " + SYSCALL.sub("", calls[-1])
        user = next((f[1] for f in frames if f[3] != "kernel"), "?")
        return "sys %s (exit)" % re.sub(r"^(__GI_)?_*(libc_)?", "", user)
    if any("page_fault" in k for k in kernel):
        return "page fault"
    if any(k.startswith(INTERRUPTS) for k in kernel):
        return "interrupt"
    return "other"


def thread_root(frames):
    for label, sym, dso, grp in reversed(frames):
        if sym in STARTS or sym.startswith("__libc_start"):
            continue
        if grp == "sluice":
            return sym
        return "%s thread" % os.path.basename(dso) if sym == "[unknown]" else sym
    return "[no frames]"


# The stages of the data path (docs/performance.md, "Where the time goes"):
# each sample goes to the first stage whose rule matches, by the sluice
# functions on its stack, the libc function it is in, or the kernel's way
# in. The rules name today's functions: a renamed function falls to
# "other". <w> is the kernel's way in, <c> the first sluice caller, <fns>
# the sluice functions on the stack (inlined ones too).
FRAMING = ("sl__source_tcp_scan", "emit", "eof_line", "sl__source_tcp_lines", "parse",
           "keep_tail")
PER_RECORD = ("sl_buf_append", "sl_buf_reserve", "sl_compress_write", "sl_batch_next",
              "sl_compress_batch", "feed")
STAGES = (
    ("zstd", lambda g, f, w, c, fns: g == "zstd"),
    ("1. socket -> buffer: read in on_readable",
     lambda g, f, w, c, fns: w == "sys read" and "on_readable" in c),
    ("1. socket -> buffer: libmicrohttpd's recvfrom", lambda g, f, w, c, fns: w == "sys recvfrom"),
    ("4. output buffer -> object: write in write_file",
     lambda g, f, w, c, fns: w == "sys write" and "write_file" in c),
    ("2. page faults on chunk memory (sl_chunk_add)",
     lambda g, f, w, c, fns: w == "page fault" and "sl_chunk_add" in c),
    ("2. buffer -> chunk: memcpy in sl_chunk_add",
     lambda g, f, w, c, fns: "memmove" in f and "sl_chunk_add" in c),
    ("framing: memchr and its own code",
     lambda g, f, w, c, fns: ("memchr" in f and "sl__source_tcp_scan" in c) or
     (g == "sluice" and fns[0] in FRAMING)),
    ("3. chunk -> output buffer or zstd's stage: memcpy",
     lambda g, f, w, c, fns: "memmove" in f and (c.startswith("sl_compress_write") or (
         "sl_buf_append" in c and any(x.startswith("sl_compress") for x in fns)))),
    ("3. zstd's own copy of its input", lambda g, f, w, c, fns: "memmove" in f and "libzstd" in c),
    ("3. page faults on the output buffer",
     lambda g, f, w, c, fns: w == "page fault" and any(x.startswith("sl_compress") for x in fns)),
    ("3. per-record calls (sl_batch_next, sl_compress_write, sl_buf_*)",
     lambda g, f, w, c, fns: g == "sluice" and fns[0] in PER_RECORD),
    ("HTTP: base64 -> chunk (sl_base64_*)",
     lambda g, f, w, c, fns: g == "sluice" and
     fns[0].startswith(("sl_base64", "sl__base64", "quanta"))),
    ("HTTP: memchr over each Data string (string, firehose_scan.c)",
     lambda g, f, w, c, fns: "memchr" in f and c.startswith("string")),
    ("HTTP: the request body (body_in: copies, reallocs, page faults)",
     lambda g, f, w, c, fns: "body_in" in fns),
    ("HTTP: responses (sendmsg)", lambda g, f, w, c, fns: w.startswith("sys sendmsg")),
    ("the bench's /metrics scrapes (metrics_cb)", lambda g, f, w, c, fns: "metrics_cb" in fns),
    ("ring hand-off (sl_ring_*)",
     lambda g, f, w, c, fns: any(x.startswith("sl_ring") for x in fns)),
)


def stage(frames):
    leaf, grp = frames[0], frames[0][3]
    way = kernel_entry(frames) if grp == "kernel" else ""
    fns = [n for lab, sym, dso, g in frames if g == "sluice"
           for n in (sym, lab.split(" [in ")[0])] or ["-"]
    for name, rule in STAGES:
        if rule(grp, leaf[1], way, caller(frames), fns):
            return name
    return "other: " + grp


def profile(path):
    tables = {k: defaultdict(float) for k in ("groups", "stages", "functions", "kernel", "libc",
                                                 "threads")}
    each, total = defaultdict(float), 0
    for w, tid, frames in samples(path):
        total += w
        leaf = frames[0]
        grp = leaf[3]
        tables["groups"][grp] += w
        tables["functions"][(grp, leaf[0])] += w
        tables["stages"][stage(frames)] += w
        if grp == "kernel":
            tables["kernel"][(kernel_entry(frames), caller(frames))] += w
        elif grp == "libc":
            tables["libc"][(leaf[0], caller(frames))] += w
        tables["threads"][thread_root(frames)] += w
        each[(thread_root(frames), tid)] += w
    rank = defaultdict(int)                     # each thread: "worker_main #2", by share
    tables["each"] = {}
    for (root, tid), w in sorted(each.items(), key=lambda x: -x[1]):
        rank[root] += 1
        tables["each"]["%s #%d" % (root, rank[root])] = w
    if total:
        for t in tables.values():
            for k in t:
                t[k] *= 100.0 / total
    return total, tables


def show(title, head, rows, cols, top, fmt):
    keys = set().union(*(c.keys() for c in cols))
    keys = sorted(keys, key=lambda k: -sum(c.get(k, 0) for c in cols))
    keys = [k for k in keys if max(c.get(k, 0) for c in cols) >= FLOOR][:top]
    print("\n%s" % title)
    print("  %s  %s" % ("  ".join("%6s" % h for h in rows), head))
    for k in keys:
        print("  %s  %s" % ("  ".join("%5.1f%%" % c.get(k, 0) for c in cols), fmt(k)))


def main():
    args, top = sys.argv[1:], TOP
    if len(args) >= 2 and args[0] == "-n":
        top, args = int(args[1]), args[2:]
    if not args:
        sys.exit(__doc__.strip().split("\n\n")[1])
    runs = [profile(a) for a in args]
    names = ["run%d" % (i + 1) for i in range(len(args))] if len(args) > 1 else ["share"]
    for i, (a, (total, _)) in enumerate(zip(args, runs)):
        print("%s%s: %.2f s of sluice's CPU sampled (cpu-clock)" % (
            names[i] + " = " if len(args) > 1 else "", a, total / 1e9))

    def col(table):
        return [r[1][table] for r in runs]
    show("groups (self time)", "group", names, col("groups"), 8, lambda k: k)
    show("stages of the data path (by call chain)", "stage", names, col("stages"), 20,
         lambda k: k)
    show("top functions (self time)", "group   function", names, col("functions"), top,
         lambda k: "%-7s %s" % k)
    show("kernel time by way in, and the sluice function that made the call", "way in  <-  sluice",
         names, col("kernel"), 10, lambda k: "%-14s <- %s" % k)
    show("libc time by function, and the sluice function that called it",
         "function  <-  sluice", names, col("libc"), 10, lambda k: "%s <- %s" % k)
    show("threads (entry point)", "entry", names, col("threads"), 8, lambda k: k)
    show("each thread (#1 the busiest of its kind)", "thread", names, col("each"), 8,
         lambda k: k)


if __name__ == "__main__":
    main()
