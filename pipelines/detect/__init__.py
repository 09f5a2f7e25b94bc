"""Detection of what a repository is (issue 11): one module per ecosystem, evidence for every claim."""
