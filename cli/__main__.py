"""``python -m cli`` runs the wishstar command (used by tests and when the script is not on PATH)."""

from cli.main import main

main()
