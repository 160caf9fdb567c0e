"""Give amazon-kclpy's pom.xml the coordinates Maven needs, so `mvn dependency:copy-dependencies` can resolve it.

amazon-kclpy ships a pom.xml that only lists the MultiLangDaemon's jars (the whole closure, flattened) for
its own downloader; it has no groupId/artifactId/version, so Maven refuses it as a project. Used by the
Dockerfile's build stage (scripts/setup.sh does the same for a developer's machine):

    python kcl_pom.py SRC_POM DST_POM VERSION
"""

from __future__ import annotations

import re
import sys

COORDINATES = ("<groupId>local.secstash</groupId><artifactId>kclpy-jars</artifactId>"
               "<version>{version}</version><packaging>pom</packaging>")


def with_coordinates(pom: str, version: str) -> str:
    coords = COORDINATES.format(version=version)
    pom, count = re.subn(r"(<modelVersion>[^<]*</modelVersion>)", lambda m: m.group(1) + coords, pom, count=1)
    if count != 1:
        raise ValueError("pom.xml has no <modelVersion>: cannot add coordinates")
    return pom


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, version = argv
    with open(src, encoding="utf-8") as f:
        pom = f.read()
    with open(dst, "w", encoding="utf-8") as f:
        f.write(with_coordinates(pom, version))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
