"""Gradle detection (Groovy and Kotlin DSL): Spring Boot from its plugin or starters, Kotlin from its plugin,
the Java release from the toolchain or compatibility settings, ``include``s as members, and the wrapper rule:
``./gradlew`` when present, else Gradle on PATH, else a near miss (never a guess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipelines.detect.jvm_dotnet_golden import tree, write_tree
from wishstar.pipelines.detect.java import DETECTOR


def test_spring_boot_with_the_gradle_kotlin_dsl_is_kotlin_spring_boot_with_the_wrapper() -> None:
    [c] = DETECTOR.detect(tree("kotlin-spring-gradle-kts"), ".")
    assert (c.language, c.build, c.framework, c.confidence) == ("kotlin", "gradle", "spring-boot", "high")
    assert [str(e) for e in c.evidence] == [
        "build.gradle.kts Gradle build (Kotlin DSL)",
        "build.gradle.kts:4 plugin org.springframework.boot",
        "build.gradle.kts:23 dependency org.springframework.boot:spring-boot-starter-webflux",
        "build.gradle.kts:2 Kotlin JVM plugin",
        "gradlew Gradle wrapper (./gradlew)",
    ]
    assert c.facts["command"] == "./gradlew"


def test_the_java_release_comes_from_the_toolchain_not_from_a_comment() -> None:
    [c] = DETECTOR.detect(tree("kotlin-spring-gradle-kts"), ".")
    assert str(c.versions["java"].evidence) == "build.gradle.kts:14 toolchain languageVersion 21"


def test_the_port_comes_from_server_port_in_application_yml_not_another_port_key() -> None:
    [c] = DETECTOR.detect(tree("kotlin-spring-gradle-kts"), ".")
    assert c.port is not None and str(c.port.evidence) == "src/main/resources/application.yml:7 server.port 9090"


def test_a_gradle_build_without_a_wrapper_or_gradle_on_path_is_a_near_miss() -> None:
    t = tree("gradle-no-wrapper", gradle_on_path=False)
    assert DETECTOR.detect(t, ".") == []
    [miss] = DETECTOR.near_misses(t, ".")
    assert miss.message.startswith("build.gradle found but no gradlew and no Gradle on PATH")


def test_a_gradle_build_without_a_wrapper_uses_gradle_when_it_is_on_path() -> None:
    t = tree("gradle-no-wrapper", gradle_on_path=True)
    [c] = DETECTOR.detect(t, ".")
    assert (c.language, c.framework, c.port, c.confidence, c.facts["command"]) == ("java", None, None, "medium",
                                                                                   "gradle")
    assert str(c.versions["java"].evidence) == "build.gradle:7 sourceCompatibility 17"
    assert DETECTOR.near_misses(t, ".") == []


@pytest.mark.parametrize(("build", "value"), [
    ("kotlin { jvmToolchain(25) }\n", "25"),
    ("java { sourceCompatibility = JavaVersion.VERSION_1_8 }\n", "17"),
    ("sourceCompatibility = '21'\n", "21"),
    ("java { toolchain { languageVersion.set(JavaLanguageVersion.of(17)) } }\n", "17"),
], ids=["jvmToolchain", "VERSION_1_8-is-end-of-life", "quoted-sourceCompatibility", "languageVersion.set"])
def test_the_java_release_comes_from_the_common_forms(tmp_path: Path, build: str, value: str) -> None:
    [c] = DETECTOR.detect(write_tree(tmp_path, {"build.gradle": build, "gradlew": ""}), ".")
    assert c.versions["java"].value == value and not c.versions["java"].is_default


def test_a_commented_out_spring_boot_plugin_is_not_evidence(tmp_path: Path) -> None:
    build = ("plugins {\n    id 'java'\n    // id 'org.springframework.boot' version '3.5.7'\n"
             "    /* id(\"org.springframework.boot\") */\n}\n")
    [c] = DETECTOR.detect(write_tree(tmp_path, {"build.gradle": build, "gradlew": ""}), ".")
    assert c.framework is None and c.port is None


def test_the_groovy_dsl_spring_boot_plugin_is_evidence_with_its_line(tmp_path: Path) -> None:
    build = "plugins {\n    id 'java'\n    id 'org.springframework.boot' version '3.5.7'\n}\n"
    [c] = DETECTOR.detect(write_tree(tmp_path, {"build.gradle": build, "gradlew": ""}), ".")
    assert c.framework == "spring-boot" and "build.gradle:3 plugin org.springframework.boot" in map(str, c.evidence)
    assert c.port is not None and c.port.default == "Spring Boot's default port"


def test_the_kotlin_dsl_alone_does_not_make_a_java_project_kotlin(tmp_path: Path) -> None:
    [c] = DETECTOR.detect(write_tree(tmp_path, {"build.gradle.kts": "plugins { java }\n", "gradlew": ""}), ".")
    assert c.language == "java"


def test_settings_includes_are_members_and_a_member_runs_from_the_settings_root(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {
        "settings.gradle": "rootProject.name = 'shop'\ninclude 'web', ':services:api'\n// include 'old'\n",
        "gradlew": "", "web/build.gradle": "plugins { id 'org.springframework.boot' version '3.5.7' }\n",
        "services/api/build.gradle.kts": "plugins { kotlin(\"jvm\") }\n", "old/build.gradle": "",
    })
    layout = DETECTOR.members(t, ".")
    assert layout is not None and layout.paths == ("web", "services/api")
    assert str(layout.evidence) == "settings.gradle:2 Gradle settings include"
    [api] = DETECTOR.detect(t, "services/api")
    assert (api.language, api.facts["command"], api.facts["root"], api.facts["project"]) == (
        "kotlin", "./gradlew", ".", ":services:api")
    assert api.context == ("gradlew", "settings.gradle", "web/build.gradle")


def test_a_kotlin_dsl_include_call_lists_every_project(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"settings.gradle.kts": 'include("app", "lib")\n', "app/build.gradle.kts": "",
                              "lib/build.gradle.kts": ""})
    layout = DETECTOR.members(t, ".")
    assert layout is not None and layout.paths == ("app", "lib")


def test_a_multi_project_root_without_spring_boot_is_not_an_app_itself(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"settings.gradle": "include 'app'\n", "build.gradle": "subprojects {}\n",
                              "gradlew": "", "app/build.gradle": ""})
    assert DETECTOR.detect(t, ".") == []


def test_a_directory_with_a_pom_and_a_gradle_build_lists_maven_first_by_a_documented_rule(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"pom.xml": "<project><artifactId>a</artifactId></project>\n", "build.gradle": "",
                              "gradlew": ""})
    first, second = DETECTOR.detect(t, ".")
    assert (first.build, second.build) == ("maven", "gradle")
    assert first.rule == "a pom.xml beats a build.gradle in the same directory"


def test_a_plugin_declared_with_apply_false_is_not_applied_so_the_root_is_not_an_app(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {
        "settings.gradle.kts": 'include("web")\n', "gradlew": "",
        "build.gradle.kts": 'plugins {\n    id("org.springframework.boot") version "3.5.7" apply false\n}\n',
        "web/build.gradle.kts": 'plugins {\n    id("org.springframework.boot")\n}\n',
    })
    assert DETECTOR.detect(t, ".") == []
    [web] = DETECTOR.detect(t, "web")
    assert web.framework == "spring-boot"
    assert str(web.evidence[1]) == "web/build.gradle.kts:2 plugin org.springframework.boot"


def test_spring_boot_and_kotlin_applied_through_the_version_catalog_are_evidence(tmp_path: Path) -> None:
    catalog = ('[versions]\nboot = "3.5.7"\n\n[plugins]\nkotlin-jvm = { id = "org.jetbrains.kotlin.jvm", '
               'version = "2.1.21" }\nspring-boot = { id = "org.springframework.boot", version.ref = "boot" }\n')
    t = write_tree(tmp_path, {"gradle/libs.versions.toml": catalog, "gradlew": "",
                              "build.gradle.kts": "plugins {\n    alias(libs.plugins.kotlin.jvm)\n"
                                                  "    alias(libs.plugins.spring.boot)\n}\n"})
    [c] = DETECTOR.detect(t, ".")
    assert (c.language, c.framework) == ("kotlin", "spring-boot")
    assert str(c.evidence[1]) == ("build.gradle.kts:3 plugin org.springframework.boot "
                                  "(alias libs.plugins.spring.boot, gradle/libs.versions.toml:6)")
