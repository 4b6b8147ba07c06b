"""Deployment artifacts made from the repository's generated files (the copies under k8s/)."""
