# The content filter, review queue, escalations and audit log land here (see DESIGN.md §7 and §8).
