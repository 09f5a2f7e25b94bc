"""Shared by the detection tests: the fixture repositories are data, never collected as this project's tests
(some hold real pytest suites, one of them failing on purpose, that the toolchain tests run in a copy)."""

collect_ignore_glob = ["fixtures/*"]
