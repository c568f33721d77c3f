"""Data retention (DESIGN.md §11): text is blanked once it is older than the retention period.

`kinds` says which text is purged and when; `services` places and releases safeguarding holds
and runs the purge (a durable job, scheduled by each process's sweep); `selectors` reads the
state of holds and of the last runs for the admin and the moderators' page.
"""
