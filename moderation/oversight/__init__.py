"""Moderators watching over rooms (DESIGN §1): observing any active room read-only, the
discreet "a moderator is here" marker, whispers with the room's supporters, joining openly,
removing a message, and pausing, resuming or ending a one-to-one chat. Every read of a
transcript and every action is audited.

- `selectors`: the active rooms, who is present, whispers, and who may observe;
- `services`: presence, whispers, joining and leaving, removals and the chat controls.
"""
