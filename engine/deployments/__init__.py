"""Deployments: the user's spec (``spec``); persistence and lifecycle are added by the deployment routes."""
