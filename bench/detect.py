"""Detection time on large repositories, against a full directory walk measured in the same run.

Two shapes: a Node application of 10,000 files (a real-looking ``node_modules``, ``.git``, ``src`` and
``build`` output; detection must not walk them) and a monorepo of N apps in mixed languages (Go, Python, Node,
Maven) under ``services/``. The baseline is ``os.walk`` over the whole tree (what a detector that counts
file extensions has to do); the ratio says how much of that detection pays. Medians over ``--repeat``
rounds, each on a fresh ``Tree`` (no cache carried over).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wishstar.pipelines.detect.registry import detect_repository  # noqa: E402


def write(root: Path, rel: str, text: str = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def node_app(root: Path, files: int) -> None:
    write(root, "package.json", json.dumps({"name": "big", "scripts": {"test": "node --test", "start":
                                            "node server.js --port 8080"}, "dependencies": {"express": "4"}}))
    write(root, "package-lock.json", "{}")
    write(root, "server.js", "require('express')().listen(8080)\n")
    made = 3
    for i in range(files - made):
        bucket = ("node_modules/pkg%d/lib" % (i % 300), ".git/objects/%02x" % (i % 256), "src/mod%d" % (i % 40),
                  "build/out%d" % (i % 20))[i % 4]
        write(root, f"{bucket}/f{i}.js", "x")


def monorepo(root: Path, apps: int) -> None:
    for i in range(apps):
        kind = i % 4
        base = f"services/app{i:02d}"
        if kind == 0:
            write(root, f"{base}/go.mod", f"module example.com/app{i}\n\ngo 1.26\n")
            write(root, f"{base}/main.go", "package main\n\nfunc main() {}\n")
        elif kind == 1:
            write(root, f"{base}/requirements.txt", "flask==3.0.0\npytest\n")
            write(root, f"{base}/app.py", "from flask import Flask\napp = Flask(__name__)\n")
        elif kind == 2:
            write(root, f"{base}/package.json", json.dumps({"name": f"app{i}", "scripts": {"test": "node --test"}}))
            write(root, f"{base}/package-lock.json", "{}")
        else:
            write(root, f"{base}/pom.xml", "<project><modelVersion>4.0.0</modelVersion><groupId>e</groupId>"
                  f"<artifactId>app{i}</artifactId><version>1</version></project>\n")
        for j in range(20):
            write(root, f"{base}/src/file{j}.txt", "x")


def walk_all(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def measure(root: Path, repeat: int) -> dict[str, float | int]:
    detect_ms, walk_ms = [], []
    apps = 0
    for _ in range(repeat):
        start = time.perf_counter()
        apps = len(detect_repository(root).apps)
        detect_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        total = walk_all(root)
        walk_ms.append((time.perf_counter() - start) * 1000)
    d, w = statistics.median(detect_ms), statistics.median(walk_ms)
    return {"apps": apps, "files": total, "detect_ms": round(d, 2), "walk_ms": round(w, 2),
            "ratio": round(d / w, 3) if w else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        big, mono = Path(tmp, "big"), Path(tmp, "mono")
        node_app(big, args.files)
        monorepo(mono, args.apps)
        results[f"node app, {args.files} files"] = measure(big, args.repeat)
        results[f"monorepo, {args.apps} apps"] = measure(mono, args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'shape':<28} {'apps':>5} {'files':>7} {'detect ms':>10} {'full walk ms':>13} {'ratio':>7}")
    for shape, r in results.items():
        print(f"{shape:<28} {r['apps']:>5} {r['files']:>7} {r['detect_ms']:>10} {r['walk_ms']:>13} {r['ratio']:>7}")


if __name__ == "__main__":
    main()
