#!/usr/bin/env python3
"""Writes a C file defining `const char NAME[]` (NUL-terminated) and
`const size_t NAME_len` with the bytes of one file; run by meson."""
import sys


def main() -> int:
    if len(sys.argv) != 4:
        sys.stderr.write("usage: embed_file.py NAME INPUT OUTPUT\n")
        return 2
    name, src, dst = sys.argv[1:]
    data = open(src, "rb").read()
    with open(dst, "w", encoding="ascii") as out:
        out.write("/* generated from %s by scripts/embed_file.py */\n#include <stddef.h>\n" % src.split("/")[-1])
        out.write("const char %s[] = {\n" % name)
        for i in range(0, len(data), 16):
            out.write("".join("%d," % b for b in data[i:i + 16]) + "\n")
        out.write("0};\nconst size_t %s_len = %d;\n" % (name, len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
