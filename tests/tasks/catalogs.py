"""Writing task files into catalog directories for the library tests (both layouts)."""

from __future__ import annotations

from pathlib import Path

TASK = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: {name}
  labels:
{labels}
spec:
  description: {description}
  params:
    - name: who
      type: string
      description: whom to greet
{extra_params}
  results:
    - name: said
      description: what was said
  steps:
    - image: docker.io/library/busybox:1.36
      script: echo {name} {version} > $(results.said.path)
"""


def task_text(name: str, version: str | None = None, *, description: str = "Say hello.", labels: str | None = None,
              extra_params: str = "") -> str:
    if labels is None:
        labels = f'    app.kubernetes.io/version: "{version}"' if version is not None else "    team: core"
    return TASK.format(name=name, version=version or "", description=description, labels=labels,
                       extra_params=extra_params)


def versioned(root: Path, name: str, version: str, **kwargs: str) -> Path:
    """``root/name/version/name.yaml``, labelled with ``version``."""
    path = root / name / version / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(task_text(name, version, **kwargs))
    return path


def flat(root: Path, name: str, version: str | None = None, **kwargs: str) -> Path:
    """``root/name.yaml``, labelled with ``version`` when given."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.yaml"
    path.write_text(task_text(name, version, **kwargs))
    return path
