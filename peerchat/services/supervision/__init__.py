"""Supervision and debriefs (DESIGN.md §9), as services by area.

- `slots`: supervisors publish one-off and recurring slots and cancel them;
- `bookings`: supporters book, move and cancel; supervisors record who came;
- `debriefs`: a debrief due after an escalation is booked into the earliest fitting slot, and
  a deadline that passes is flagged to supervisors;
- `gates`: overdue supervision or training stops new shifts, unless a supervisor granted a
  recorded, time-limited exception;
- `checkins`: the short wellbeing check-in after each shift;
- `notices`: what staff are told, on their pages and by email through the durable outbox;
- `reminders`: the worker's jobs (reminders before bookings, the periodic scan).

Double booking is prevented by locking people: every write that adds a commitment (a slot a
supervisor runs, a booking a supporter holds) first locks the account row of each person it
commits, in id order, then the slot, and only then checks for overlaps and free places.
"""
