"""The server's HTTP routes, one router per resource: hooks (GitLab in), runs, events, health."""
