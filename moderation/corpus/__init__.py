"""The content filter's evaluation corpus (cases.jsonl) and its disguise generator."""
