#!/usr/bin/env python3
"""gen_unicode_tables.py - write core/tokenizers/unicode_tables.c from Debian's unicode-data.

Usage: python3 tools/gen_unicode_tables.py [UNICODE_DIR] > core/tokenizers/unicode_tables.c
UNICODE_DIR defaults to /usr/share/unicode (Debian package unicode-data). Only the
standard library is used. The output is committed; rerun after a unicode-data update.

Tables written (all sorted, looked up by binary search in unicode.c):
  sq_uc_gc_runs      general category runs: (first code point << 5) | category
  sq_uc_lower_runs   simple lowercase mapping (UnicodeData field 13) as arithmetic runs
  sq_uc_decomp_*     full (recursive) canonical decomposition of every code point that
                     has one (Hangul syllables are left to the algorithm in unicode.c)
  sq_uc_ccc_runs     canonical combining class runs: (first << 8) | ccc
  sq_uc_white_space  White_Space (PropList.txt) as [first, last] pairs
  sq_uc_cased, sq_uc_case_ignorable  (DerivedCoreProperties.txt) as [first, last] pairs
"""
import os
import re
import sys

CATS = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd",
        "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf",
        "Cs", "Co"]
MAXCP = 0x110000


def read_unicode_data(path):
    gc = bytearray(MAXCP)  # 0 = Cn
    ccc = bytearray(MAXCP)
    lower = {}
    decomp = {}
    first = None
    with open(path, encoding="ascii") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 15:
                continue
            cp = int(fields[0], 16)
            name, cat = fields[1], fields[2]
            c = CATS.index(cat)
            if name.endswith(", First>"):
                first = cp
                continue
            lo = first if name.endswith(", Last>") else cp
            first = None
            for x in range(lo, cp + 1):
                gc[x] = c
                ccc[x] = int(fields[3])
            if fields[5] and not fields[5].startswith("<"):
                decomp[cp] = [int(h, 16) for h in fields[5].split()]
            if fields[13]:
                lower[cp] = int(fields[13], 16)
    return gc, ccc, lower, decomp


def read_prop(path, prop):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rng, name = [s.strip() for s in line.split(";")[:2]]
            if name != prop:
                continue
            if ".." in rng:
                a, b = rng.split("..")
                out.append((int(a, 16), int(b, 16)))
            else:
                out.append((int(rng, 16), int(rng, 16)))
    out.sort()
    merged = []
    for a, b in out:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def runs(values):
    out = []
    prev = None
    for cp in range(MAXCP):
        v = values[cp]
        if v != prev:
            out.append((cp, v))
            prev = v
    return out


def lower_runs(lower):
    cps = sorted(lower)
    mapped = set(cps)
    out = []  # (start, count, stride, delta)
    i = 0
    while i < len(cps):
        start = cps[i]
        delta = lower[start] - start
        count, stride = 1, 0
        j = i + 1
        while j < len(cps):
            nxt = cps[j]
            d = lower[nxt] - nxt
            if d != delta:
                break
            step = nxt - cps[j - 1]
            if stride == 0:
                if step == 1 or (step == 2 and (start + 1) not in mapped):
                    stride = step
                else:
                    break
            elif step != stride:
                break
            count += 1
            j += 1
        out.append((start, count, stride or 1, delta))
        i = j
    return out


def full_decomp(cp, decomp):
    if cp not in decomp:
        return [cp]
    res = []
    for x in decomp[cp]:
        res.extend(full_decomp(x, decomp))
    return res


def emit_array(out, ctype, name, items, per_line=8):
    out.append("const %s %s[%d] = {" % (ctype, name, len(items)))
    for k in range(0, len(items), per_line):
        out.append("    " + ", ".join(items[k:k + per_line]) + ",")
    out.append("};")
    out.append("const size_t %s_len = %d;" % (name, len(items)))
    out.append("")


def main():
    udir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    gc, ccc, lower, decomp = read_unicode_data(os.path.join(udir, "UnicodeData.txt"))
    white = read_prop(os.path.join(udir, "PropList.txt"), "White_Space")
    cased = read_prop(os.path.join(udir, "DerivedCoreProperties.txt"), "Cased")
    ignorable = read_prop(os.path.join(udir, "DerivedCoreProperties.txt"), "Case_Ignorable")
    version = "unknown"
    readme = os.path.join(udir, "ReadMe.txt")
    if os.path.exists(readme):
        with open(readme, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.search(r"Unicode(\d+\.\d+\.\d+)", line)
                if m:
                    version = "Unicode " + m.group(1)
                    break

    out = []
    out.append("/* unicode_tables.c - GENERATED by tools/gen_unicode_tables.py from Debian's unicode-data")
    out.append(" * (%s). Do not edit by hand; regenerate with" % version.replace("*/", ""))
    out.append(" *   python3 tools/gen_unicode_tables.py > core/tokenizers/unicode_tables.c */")
    out.append('#include "unicode.h"')
    out.append("")

    gcr = runs(gc)
    emit_array(out, "uint8_t", "sq_uc_ascii_gc", ["%d" % gc[c] for c in range(128)], 16)
    emit_array(out, "uint32_t", "sq_uc_gc_runs", ["0x%x" % ((cp << 5) | v) for cp, v in gcr])

    lr = lower_runs(lower)
    items = ["{0x%x, %d, %d, %d}" % r for r in lr]
    emit_array(out, "sq_uc_lower_run", "sq_uc_lower_runs", items, 4)

    dcps = sorted(cp for cp in decomp)
    offs, data = [], []
    for cp in dcps:
        offs.append(len(data))
        data.extend(full_decomp(cp, decomp))
    offs.append(len(data))
    assert len(data) < 65536
    emit_array(out, "uint32_t", "sq_uc_decomp_cp", ["0x%x" % c for c in dcps])
    emit_array(out, "uint16_t", "sq_uc_decomp_off", ["%d" % o for o in offs], 12)
    emit_array(out, "uint32_t", "sq_uc_decomp_data", ["0x%x" % c for c in data])
    maxd = max(offs[k + 1] - offs[k] for k in range(len(dcps)))
    out.append("/* longest decomposition: %d code points (SQ_UC_MAX_DECOMP must be >= it) */" % maxd)
    out.append("")

    cr = runs(ccc)
    emit_array(out, "uint32_t", "sq_uc_ccc_runs", ["0x%x" % ((cp << 8) | v) for cp, v in cr])

    for name, rr in (("sq_uc_white_space", white), ("sq_uc_cased", cased),
                     ("sq_uc_case_ignorable", ignorable)):
        emit_array(out, "sq_uc_range", name, ["{0x%x, 0x%x}" % (a, b) for a, b in rr], 6)
    sys.stdout.write("\n".join(out))
    if maxd > 4:
        sys.stderr.write("warning: a decomposition is %d long\n" % maxd)


if __name__ == "__main__":
    main()
