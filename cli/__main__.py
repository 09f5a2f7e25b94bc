"""``python -m wishstar.cli`` runs the wishstar command (used by tests and when the script is not on PATH)."""

from wishstar.cli.main import main

main()
