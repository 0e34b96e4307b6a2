"""Deployment artefacts (image, Compose, Kubernetes) and their offline checks."""
