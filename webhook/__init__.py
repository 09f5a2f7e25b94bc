"""The server: GitLab webhooks in (FastAPI), events turned into runs by workers, commit statuses back out."""
