"""Writes. Each service is `<entity>_<verb>` with keyword-only arguments (STYLE.md)."""
