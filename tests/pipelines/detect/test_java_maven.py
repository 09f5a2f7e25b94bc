"""Maven detection: Spring Boot from the pom's parent, BOM, plugin or starters; the Java release; the port
from application.properties/yml; the wrapper; reactors; malformed poms as near misses, never exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipelines.detect.jvm_dotnet_golden import tree, write_tree
from wishstar.pipelines.detect.evidence import Candidate
from wishstar.pipelines.detect.java import DETECTOR
from wishstar.pipelines.detect.tree import Tree


def pom(body: str = "", *, parent: str = "", packaging: str = "jar") -> str:
    return (f'<?xml version="1.0"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
            f"  <modelVersion>4.0.0</modelVersion>\n{parent}  <groupId>g</groupId>\n  <artifactId>a</artifactId>\n"
            f"  <version>1</version>\n  <packaging>{packaging}</packaging>\n{body}</project>\n")


def only(t: Tree, path: str = ".") -> Candidate:
    found = DETECTOR.detect(t, path)
    assert len(found) == 1, found
    return found[0]


def test_a_maven_project_without_spring_boot_has_no_framework_and_no_port() -> None:
    c = only(tree("java-maven-plain"))
    assert (c.language, c.build, c.framework, c.port, c.confidence) == ("java", "maven", None, None, "medium")
    assert [str(e) for e in c.evidence] == ["pom.xml Maven project (pom.xml)"]
    assert c.facts["command"] == "mvn" and c.facts["module"] == ""


def test_the_java_release_comes_from_maven_compiler_release_with_its_line() -> None:
    chosen = only(tree("java-maven-plain")).versions["java"]
    assert (chosen.value, str(chosen.evidence)) == ("17", "pom.xml:14 maven.compiler.release 17")


def test_spring_boot_is_detected_from_the_parent_pom() -> None:
    c = only(tree("spring-boot-maven"))
    assert c.framework == "spring-boot" and c.confidence == "high"
    assert str(c.evidence[1]) == "pom.xml:6 parent org.springframework.boot:spring-boot-starter-parent"
    assert "pom.xml:37 plugin org.springframework.boot:spring-boot-maven-plugin" in map(str, c.evidence)
    assert c.versions["java"].value == "21" and str(c.versions["java"].evidence) == "pom.xml:20 java.version 21"


def test_server_port_in_application_properties_is_the_port_with_its_line() -> None:
    port = only(tree("spring-boot-maven")).port
    assert port is not None and port.value == "8081"
    assert str(port.evidence) == "src/main/resources/application.properties:3 server.port 8081"


@pytest.mark.parametrize(("body", "rule"), [
    ("  <dependencyManagement><dependencies>\n    <dependency><groupId>org.springframework.boot</groupId>"
     "<artifactId>spring-boot-dependencies</artifactId><version>3.5.7</version><type>pom</type>"
     "<scope>import</scope></dependency>\n  </dependencies></dependencyManagement>\n",
     "pom.xml:9 BOM org.springframework.boot:spring-boot-dependencies in dependencyManagement"),
    ("  <dependencies>\n    <dependency><groupId>org.springframework.boot</groupId>"
     "<artifactId>spring-boot-starter-actuator</artifactId></dependency>\n  </dependencies>\n",
     "pom.xml:9 dependency org.springframework.boot:spring-boot-starter-actuator"),
    ("  <build><plugins>\n    <plugin><groupId>org.springframework.boot</groupId>"
     "<artifactId>spring-boot-maven-plugin</artifactId></plugin>\n  </plugins></build>\n",
     "pom.xml:9 plugin org.springframework.boot:spring-boot-maven-plugin"),
], ids=["bom", "starter", "plugin"])
def test_spring_boot_is_also_detected_from_its_bom_a_starter_or_its_plugin(tmp_path: Path, body: str,
                                                                          rule: str) -> None:
    c = only(write_tree(tmp_path, {"pom.xml": pom(body)}))
    assert c.framework == "spring-boot" and str(c.evidence[1]) == rule
    assert c.port is not None and (c.port.value, c.port.default) == ("8080", "Spring Boot's default port")


def test_a_spring_boot_dependency_that_is_not_a_starter_is_not_evidence(tmp_path: Path) -> None:
    body = ("  <dependencies><dependency><groupId>org.springframework.boot</groupId>"
            "<artifactId>spring-boot-configuration-processor</artifactId></dependency></dependencies>\n")
    assert only(write_tree(tmp_path, {"pom.xml": pom(body)})).framework is None


def test_a_spring_boot_app_without_a_web_server_has_no_port(tmp_path: Path) -> None:
    parent = ("  <parent><groupId>org.springframework.boot</groupId>"
              "<artifactId>spring-boot-starter-parent</artifactId><version>3.5.7</version></parent>\n")
    t = write_tree(tmp_path, {"pom.xml": pom(parent=parent),
                              "src/main/resources/application.properties": "spring.main.web-application-type=none\n"})
    assert only(t).port is None


def test_server_port_in_application_yml_under_server_is_the_port(tmp_path: Path) -> None:
    parent = ("  <parent><groupId>org.springframework.boot</groupId>"
              "<artifactId>spring-boot-starter-parent</artifactId><version>3.5.7</version></parent>\n")
    yml = "spring:\n  port: 1\nserver:\n  servlet:\n    context-path: /x\n  port: ${PORT:8443}\nother:\n  port: 2\n"
    port = only(write_tree(tmp_path, {"pom.xml": pom(parent=parent),
                                      "src/main/resources/application.yml": yml})).port
    assert port is not None and str(port.evidence) == "src/main/resources/application.yml:6 server.port 8443"


def test_the_maven_wrapper_is_used_when_present_and_makes_it_high_confidence(tmp_path: Path) -> None:
    c = only(write_tree(tmp_path, {"pom.xml": pom(), "mvnw": "#!/bin/sh\n"}))
    assert c.facts["command"] == "./mvnw" and c.confidence == "high"
    assert "mvnw Maven wrapper (./mvnw)" in map(str, c.evidence)


def test_kotlin_comes_from_the_kotlin_maven_plugin_or_src_main_kotlin(tmp_path: Path) -> None:
    body = ("  <build><plugins><plugin><groupId>org.jetbrains.kotlin</groupId>"
            "<artifactId>kotlin-maven-plugin</artifactId></plugin></plugins></build>\n")
    assert only(write_tree(tmp_path / "plugin", {"pom.xml": pom(body)})).language == "kotlin"
    by_dir = only(write_tree(tmp_path / "dir", {"pom.xml": pom(), "src/main/kotlin/App.kt": "fun main() {}\n"}))
    assert by_dir.language == "kotlin" and "src/main/kotlin Kotlin sources directory" in map(str, by_dir.evidence)


@pytest.mark.parametrize(("body", "value", "rule"), [
    ("  <properties><jdk>21</jdk><maven.compiler.source>${jdk}</maven.compiler.source></properties>\n",
     "21", "pom.xml:8 maven.compiler.source 21"),
    ("  <build><plugins><plugin><artifactId>maven-compiler-plugin</artifactId>\n"
     "    <configuration><release>25</release></configuration></plugin></plugins></build>\n",
     "25", "pom.xml:9 maven-compiler-plugin <release> 25"),
], ids=["property-substituted", "compiler-plugin-release"])
def test_the_java_release_comes_from_properties_or_the_compiler_plugin(tmp_path: Path, body: str, value: str,
                                                                     rule: str) -> None:
    chosen = only(write_tree(tmp_path, {"pom.xml": pom(body)})).versions["java"]
    assert (chosen.value, str(chosen.evidence)) == (value, rule)


def test_java_1_8_is_java_8_which_is_end_of_life_and_replaced_with_a_warning(tmp_path: Path) -> None:
    c = only(write_tree(tmp_path, {"pom.xml": pom("  <properties><java.version>1.8</java.version></properties>\n")}))
    assert c.versions["java"].value == "17"
    assert c.warnings == ("java 8 (asked for by pom.xml:8 java.version 1.8) is end-of-life; chose 17, "
                          "the oldest supported release",)


def test_without_a_java_release_the_default_is_chosen_and_marked_default(tmp_path: Path) -> None:
    chosen = only(write_tree(tmp_path, {"pom.xml": pom()})).versions["java"]
    assert chosen.is_default and chosen.value == "21"


def test_quarkus_is_a_framework_hint_with_its_default_port(tmp_path: Path) -> None:
    body = ("  <build><plugins><plugin><groupId>io.quarkus.platform</groupId>"
            "<artifactId>quarkus-maven-plugin</artifactId></plugin></plugins></build>\n")
    c = only(write_tree(tmp_path, {"pom.xml": pom(body),
                                   "src/main/resources/application.properties": "quarkus.http.port=8181\n"}))
    assert c.framework == "quarkus" and c.port is not None
    assert str(c.port.evidence) == "src/main/resources/application.properties:1 quarkus.http.port 8181"


def test_a_main_class_in_the_jar_manifest_is_a_fact(tmp_path: Path) -> None:
    body = ("  <build><plugins><plugin><artifactId>maven-jar-plugin</artifactId><configuration><archive>"
            "<manifest><mainClass>com.example.Main</mainClass></manifest></archive></configuration></plugin>"
            "</plugins></build>\n")
    assert only(write_tree(tmp_path, {"pom.xml": pom(body)})).facts["main_class"] == "com.example.Main"


def test_a_main_class_that_is_not_a_java_name_is_left_out(tmp_path: Path) -> None:
    body = ("  <build><plugins><plugin><artifactId>exec-maven-plugin</artifactId><configuration>"
            "<mainClass>x\"; rm -rf /</mainClass></configuration></plugin></plugins></build>\n")
    assert only(write_tree(tmp_path, {"pom.xml": pom(body)})).facts["main_class"] == ""


@pytest.mark.parametrize(("text", "line"), [
    ("<project>\n  <groupId>g</groupId>\n  <artifactId>a</oops>\n</project>\n", 3),
    ('<?xml version="1.0"?>\n<!DOCTYPE p [<!ENTITY x "xxxxxxxx">]>\n<project>&x;</project>\n', 2),
    ("<settings/>\n", 1),
], ids=["mismatched-tag", "entity-declaration", "not-a-project"])
def test_a_malformed_pom_is_a_near_miss_with_its_line_not_an_exception(tmp_path: Path, text: str,
                                                                      line: int) -> None:
    t = write_tree(tmp_path, {"pom.xml": text})
    assert DETECTOR.detect(t, ".") == []
    [miss] = DETECTOR.near_misses(t, ".")
    assert miss.message.startswith(f"pom.xml:{line} is not a valid pom (") and miss.evidence is not None


def test_a_reactor_lists_its_jar_modules_as_members_with_the_parent_pom_as_context() -> None:
    layout = DETECTOR.members(tree("maven-reactor"), ".")
    assert layout is not None
    assert layout.paths == ("core", "api") and layout.context == ("pom.xml",)
    assert str(layout.evidence) == "pom.xml:9 Maven reactor <modules>"


def test_a_reactor_aggregator_and_a_pom_only_module_are_not_apps() -> None:
    t = tree("maven-reactor")
    assert DETECTOR.detect(t, ".") == [] and DETECTOR.detect(t, "bom") == []


def test_a_reactor_module_builds_from_the_root_and_inherits_the_parents_java_release() -> None:
    api = only(tree("maven-reactor"), "api")
    assert api.framework == "spring-boot" and api.context == ("pom.xml", "bom", "core")
    assert (api.facts["root"], api.facts["module"]) == (".", "api")
    assert str(api.versions["java"].evidence) == "pom.xml:16 maven.compiler.release 21"
    assert api.port is not None
    assert str(api.port.evidence) == "api/src/main/resources/application.yaml:1 server.port 8090"
    core = only(tree("maven-reactor"), "core")
    assert (core.framework, core.port, core.confidence) == (None, None, "medium")


def test_a_module_outside_the_repository_is_not_a_member(tmp_path: Path) -> None:
    modules = "  <modules><module>../elsewhere</module><module>lib</module></modules>\n"
    t = write_tree(tmp_path / "repo", {"pom.xml": pom(modules, packaging="pom"), "lib/pom.xml": pom()})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "pom.xml").write_text(pom())
    layout = DETECTOR.members(t, ".")
    assert layout is not None and layout.paths == ("lib",)


def test_the_spring_boot_plugin_only_in_plugin_management_is_not_evidence(tmp_path: Path) -> None:
    body = ("  <build><pluginManagement><plugins><plugin><groupId>org.springframework.boot</groupId>"
            "<artifactId>spring-boot-maven-plugin</artifactId></plugin></plugins></pluginManagement></build>\n")
    assert only(write_tree(tmp_path, {"pom.xml": pom(body)})).framework is None
