"""Webhooks to provincial integrations (Standard Webhooks signatures)."""
