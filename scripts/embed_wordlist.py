#!/usr/bin/env python3
"""Embeds a list of common passwords into kurad for the "breached" rule.

Run by meson (src/auth/meson.build) at build time:

    embed_wordlist.py NAME INPUT OUTPUT

INPUT is one password a line (John the Ripper's password.lst: lines that
start with "#!comment" are comments). Entries are ASCII-lower-cased,
deduplicated and sorted by byte value, so that the C side can binary-search
them with strcmp after lower-casing its input the same way. The output
defines `const char *const NAME[]` and `const size_t NAME_count`.
A missing or empty INPUT fails the build: the rule must not vanish silently.
"""
import sys


def fail(msg):
    sys.stderr.write("embed_wordlist.py: %s\n" % msg)
    sys.exit(1)


def c_string(word):
    out = []
    for b in word:
        ch = chr(b)
        if ch in ('\\', '"', '?'):  # '?' avoids trigraphs
            out.append('\\' + ch)
        elif 0x20 <= b < 0x7f:
            out.append(ch)
        else:
            out.append('\\%03o' % b)
    return '"' + "".join(out) + '"'


def main():
    if len(sys.argv) != 4:
        sys.stderr.write("usage: embed_wordlist.py NAME INPUT OUTPUT\n")
        return 2
    name, src, dst = sys.argv[1:]
    try:
        data = open(src, "rb").read()
    except OSError as e:
        fail("cannot read the common-password list %s (%s); install Debian's "
             "john-data package (scripts/install-deps.sh)" % (src, e.strerror))
    words = set()
    for line in data.split(b"\n"):
        line = line.rstrip(b"\r")
        if line.startswith(b"#!comment") or line == b"":
            continue
        # ASCII lower-case only, as the C look-up does (bytes() keeps UTF-8 as is).
        words.add(bytes(b + 32 if 0x41 <= b <= 0x5a else b for b in line))
    if not words:
        fail("%s holds no passwords" % src)
    words = sorted(words)
    with open(dst, "w", encoding="ascii") as out:
        out.write("/* generated from %s by scripts/embed_wordlist.py */\n" % src.split("/")[-1])
        out.write("#include <stddef.h>\n")
        out.write("extern const char *const %s[];\nextern const size_t %s_count;\n" % (name, name))
        out.write("const char *const %s[] = {\n" % name)
        for w in words:
            out.write("\t%s,\n" % c_string(w))
        out.write("};\nconst size_t %s_count = %d;\n" % (name, len(words)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
