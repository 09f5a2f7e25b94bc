"""The files generated for the Java/Kotlin fixture repositories: byte-identical to the golden files, valid
pipelines for the real validator, and Dockerfiles that pass the checks that matter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipelines.detect.jvm_dotnet_golden import compare, dockerfile_problems, render, write_tree
from wishstar.pipelines.detect.evidence import App, Detection
from wishstar.pipelines.detect.java import DETECTOR
from wishstar.pipelines.generate import generate
from wishstar.pipelines.load import validate
from wishstar.tasks import Library

CASES = {
    "java-maven-plain": False, "java-maven-failing": False, "spring-boot-maven": False,
    "kotlin-spring-gradle-kts": False, "gradle-no-wrapper": True, "maven-reactor": False,
}
"""Case to whether Gradle is on PATH for it (the case without a wrapper needs it to be a candidate)."""


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_generated_files_match_the_golden_files(case: str) -> None:
    assert compare(case, render(DETECTOR, case, gradle_on_path=CASES[case])) == []


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_the_generated_pipeline_passes_the_validator(case: str) -> None:
    generated = render(DETECTOR, case, gradle_on_path=CASES[case])
    loaded = validate(generated.pipeline, ".wishstar.yaml", Library())
    assert all(task.image for task in loaded.pipeline.tasks.values() if not task.uses)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_the_generated_dockerfiles_are_multi_stage_pinned_and_non_root(case: str) -> None:
    generated = render(DETECTOR, case, gradle_on_path=CASES[case])
    dockerfiles = {rel: text for rel, text in generated.files.items() if rel.endswith("Dockerfile")}
    assert dockerfiles
    for rel, text in dockerfiles.items():
        port = "8081" if case == "spring-boot-maven" else None
        assert dockerfile_problems(text, port) == [], rel


def test_the_test_task_runs_maven_verify_in_the_maven_image() -> None:
    pipeline = render(DETECTOR, "java-maven-plain").pipeline
    assert "image: maven:3.9.11-eclipse-temurin-17\n" in pipeline
    assert "      mvn -B -ntp verify\n" in pipeline


def test_a_reactor_module_is_verified_from_the_root_with_the_modules_it_needs() -> None:
    pipeline = render(DETECTOR, "maven-reactor").pipeline
    assert "  test-api:\n" in pipeline and "      mvn -B -ntp verify -pl api -am\n" in pipeline
    assert "workingDir" not in pipeline  # the reactor root is the repository root


def test_the_gradle_wrapper_runs_in_the_jdk_image_and_gradle_in_the_gradle_image() -> None:
    with_wrapper = render(DETECTOR, "kotlin-spring-gradle-kts").pipeline
    assert "image: eclipse-temurin:21.0.9_10-jdk\n" in with_wrapper
    assert "      ./gradlew test --no-daemon\n" in with_wrapper
    without = render(DETECTOR, "gradle-no-wrapper", gradle_on_path=True).pipeline
    assert "image: gradle:8.14.3-jdk17\n" in without and "      gradle test --no-daemon\n" in without


def test_a_spring_boot_dockerfile_runs_the_boot_jar_and_exposes_the_configured_port() -> None:
    dockerfile = render(DETECTOR, "spring-boot-maven").files["Dockerfile"]
    assert "EXPOSE 8081\n" in dockerfile
    assert 'ENTRYPOINT ["java", "-jar", "/app/app.jar"]' in dockerfile
    assert dockerfile.index('COPY ["pom.xml"') < dockerfile.index("dependency:go-offline") < dockerfile.index(
        'COPY ["src"')


def test_a_plain_maven_dockerfile_exposes_no_port() -> None:
    assert "EXPOSE" not in render(DETECTOR, "java-maven-plain").files["Dockerfile"]


def test_the_dockerignore_leaves_out_build_output() -> None:
    maven = render(DETECTOR, "java-maven-plain").files[".dockerignore"].splitlines()
    gradle = render(DETECTOR, "kotlin-spring-gradle-kts").files[".dockerignore"].splitlines()
    assert "target" in maven and "build" in gradle and ".gradle" in gradle


def test_the_dockerfile_check_catches_latest_root_and_a_missing_port() -> None:
    bad = "FROM maven:latest AS build\nCOPY . .\nRUN mvn package\nFROM eclipse-temurin\nUSER root\n"
    assert dockerfile_problems(bad, "8080") == [
        "maven:latest: not pinned to an exact tag", "eclipse-temurin: not pinned to an exact tag",
        "the final stage does not run as a numeric non-root USER", "EXPOSE 8080 missing",
        "no dependency step between copying the manifests and copying the sources",
    ]


def test_an_app_in_a_subdirectory_runs_there_and_still_validates(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"services/shop/pom.xml": "<project><artifactId>shop</artifactId></project>\n",
                              "services/tool/build.gradle": "plugins { id 'java' }\n"}, gradle_on_path=True)
    apps = tuple(App(p, DETECTOR.detect(t, p)[0], context=p) for p in ("services/shop", "services/tool"))
    generated = generate(Detection(root=".", apps=apps), name="mono", has_file=lambda p: False)
    assert generated.pipeline.count('workingDir: "services/') == 2
    validate(generated.pipeline, ".wishstar.yaml", Library())
    assert set(generated.files) == {".wishstar.yaml", "services/shop/Dockerfile", "services/shop/.dockerignore",
                                    "services/tool/Dockerfile", "services/tool/.dockerignore"}
