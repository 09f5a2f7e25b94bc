"""Whatever a repository's build files hold, the Java detector answers (a candidate, nothing, or a near
miss) and never raises: it reads somebody else's files."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pipelines.detect.jvm_dotnet_golden import write_tree
from wishstar.pipelines.detect.java import DETECTOR

XMLISH = st.sampled_from([*"<>/=\"' \n?!-[]&;#x{}$", "project", "modules", "module", "parent", "packaging",
                          "pom", "<!ENTITY", "<![CDATA["])


def _answers(files: dict[str, str], path: str = ".") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = write_tree(Path(tmp), files, gradle_on_path=True)
        DETECTOR.detect(t, path)
        DETECTOR.near_misses(t, path)
        DETECTOR.members(t, path)


@settings(max_examples=150, deadline=None)
@given(st.lists(XMLISH, max_size=40).map("".join))
def test_any_pom_text_gives_an_answer_not_an_exception(text: str) -> None:
    _answers({"pom.xml": text, "m/pom.xml": text}, ".")
    _answers({"pom.xml": text, "m/pom.xml": text}, "m")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.text(max_size=200), st.text(max_size=200))
def test_any_gradle_settings_or_application_config_gives_an_answer(build: str, settings_text: str,
                                                                   config: str) -> None:
    _answers({"build.gradle.kts": build, "settings.gradle": settings_text, "gradlew": "",
              "src/main/resources/application.yml": config, "gradle/libs.versions.toml": config})
