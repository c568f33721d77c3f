#!/usr/bin/env python
"""Evaluator figures benchmark: a year of a busy service on PostgreSQL, report against baselines.

    .venv/bin/python bench/metrics_bench.py            # full run (several minutes)
    .venv/bin/python bench/metrics_bench.py --quick    # a quick look (seconds)
    .venv/bin/python bench/metrics_bench.py --json bench/results/metrics.json

It creates a fresh PostgreSQL database (dropped first if it exists; the name must contain
"bench"), runs `migrate`, and fills it with a year of a busy service with set-based SQL
(`INSERT ... SELECT ... FROM generate_series(...)`, no ORM rows): 200,000 support sessions from
about 230,000 support requests (night peak, growth across the year, urgent about one in ten,
topics, continuity requests), 5,000,000 messages in their one-to-one rooms (seq gapless per
room), filter screenings on about 1% of messages, feedback on about 40% of sessions,
escalations in about 3% with their triggers, events and debriefs, supporters' shifts and
check-ins, training records, supervision slots and bookings. Every message body is the
placeholder "m"; no free text is generated anywhere. Then VACUUM ANALYZE.

Timed in the same process, alternating, `--repeat` times (median reported):

- report (week): `metrics_report(period="week", now=...)` (its default run of weeks)
- report (month): `metrics_report(period="month", now=...)` (its default: twelve months)
- report (52 weeks): `metrics_report(period="week", count=52, now=...)`, the whole year by week
  (when `metrics_report` takes a `count`)
- csv: `report_csv(metrics_report(period="week", now=...))`, the CSV export as a whole, and
  `report_csv(report)` alone
- baseline "count": `SELECT count(*)` over the message table (one scan of the largest table)
- baseline "python": the naive way to get one measure, median queue wait per week: every
  matched request's created_at and matched_at loaded with `.values_list` and grouped in Python

Also reported: how many SQL queries one report runs, the time they take in the database and
outside it (Python: disclosure control, assembling), the slowest query and its EXPLAIN ANALYZE
execution time (`--explain` prints its plan). A case that raises is reported with the line it
failed at, the others still run, and the script exits 1. Absolute times vary between
machines; the ratios to the baselines within one run are what to compare (DESIGN §12). The
database is dropped at the end unless `--keep`.
"""

import argparse
import importlib
import inspect
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/peerchat_metrics_bench"
DAYS = 364  # requests are spread over the 364 days before the last day
SUPPORTERS = 60
MODERATORS = 6  # the first SUPERVISORS of them also run supervision
SUPERVISORS = 4
SEEKER_ID_BASE = 1000  # seekers' ids start after it; a multiple of ERASED_EVERY
ERASED_EVERY = 50  # one seeker in 50 deleted their data (requests and sessions lose them)
ESCALATION_RATE = 0.03
SCREENING_RATE = 0.01
FEEDBACK_RATE = 0.40
HIDDEN_RATE = 0.01  # rooms with one message the filter kept back (no seq)

# The tables whose rows the run counts, in the order they are filled.
TABLES = (
    "peerchat_user",
    "peerchat_supportrequest",
    "peerchat_room",
    "peerchat_supportsession",
    "peerchat_membership",
    "peerchat_message",
    "moderation_screening",
    "peerchat_feedback",
    "moderation_escalation",
    "moderation_escalationtrigger",
    "moderation_escalationevent",
    "peerchat_supporterprofile",
    "peerchat_shift",
    "peerchat_shiftcheckin",
    "peerchat_trainingrecord",
    "peerchat_debrief",
    "peerchat_supervisionslot",
    "peerchat_booking",
)


# Database --------------------------------------------------------------------------------------


def _database_name(url: str) -> str:
    name = urlparse(url).path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise SystemExit(f"database name {name!r}: use letters, digits and underscores only")
    if "bench" not in name:
        raise SystemExit(
            f"database {name!r} would be dropped and recreated: its name must contain 'bench'"
        )
    return name


def _maintenance_url(url: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/postgres"))


def _admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(_maintenance_url(url), autocommit=True) as conn:
        conn.execute(statement)


def database_recreate(url: str) -> None:
    name = _database_name(url)
    _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(url, f'CREATE DATABASE "{name}"')


def database_drop(url: str) -> None:
    _admin(url, f'DROP DATABASE IF EXISTS "{_database_name(url)}" WITH (FORCE)')


def django_setup(url: str) -> None:
    """Point the project's own settings at the bench database, as `manage.py` would."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEBUG"] = "1"  # connection.queries, and no production secret needed
    os.environ["REDIS_URL"] = ""  # nothing here talks to a channel layer
    import django

    django.setup()


# Generation ------------------------------------------------------------------------------------
# Ids are given explicitly where other rows point at them (the database is new), so the joins
# are arithmetic: user ids 1..SUPPORTERS are supporters, then moderators, one evaluator, and
# seekers from SEEKER_ID_BASE + 1; session k has room k; escalation e has debrief e.

USERS = """
INSERT INTO peerchat_user (id, password, last_login, is_superuser, username, first_name,
    last_name, email, is_staff, is_active, date_joined, role, supporter_level, handle)
SELECT g, '!', NULL::timestamptz, false, 'bench-supporter-' || g, '', '', '', false, true,
       %(start)s::timestamptz - interval '60 days', 'supporter',
       CASE mod(g, 6) WHEN 0 THEN 'senior' WHEN 1 THEN 'trainee' ELSE 'peer' END,
       'Supporter ' || g
FROM generate_series(1, %(supporters)s) g
UNION ALL
SELECT %(supporters)s + g, '!', NULL, false, 'bench-moderator-' || g, '', '', '', true, true,
       %(start)s::timestamptz - interval '60 days', 'moderator', '', 'Moderator ' || g
FROM generate_series(1, %(moderators)s) g
UNION ALL
SELECT %(supporters)s + %(moderators)s + 1, '!', NULL, false, 'bench-evaluator', '', '', '',
       true, true, %(start)s::timestamptz - interval '60 days', 'evaluator', '', 'Evaluator'
UNION ALL
SELECT %(seeker_base)s + g, '!', NULL, false,
       CASE WHEN mod(g, %(erased_every)s) = 0 THEN 'removed-' || md5(g::text)
            ELSE 'bench-seeker-' || g END,
       '', '', '', false, mod(g, %(erased_every)s) <> 0, %(start)s, 'seeker', '',
       CASE WHEN mod(g, %(erased_every)s) = 0 THEN 'removed-' || left(md5(g::text), 16)
            ELSE 'Seeker ' || g END
FROM generate_series(1, %(seekers)s) g
"""

# Every request, with the random draws the later steps use. Exactly `sessions` of them are
# matched (chosen at random, so matching does not follow time); ids follow created_at.
GEN_REQUEST = """
CREATE TEMP TABLE gen_request AS
WITH base AS (
    SELECT g,
        %(start)s::timestamptz
        + make_interval(days => floor(
            CASE WHEN random() < 0.5 THEN random() ELSE sqrt(random()) END * %(days)s)::int)
        + make_interval(secs => 3600 * CASE WHEN random() < 0.5
            THEN mod((20 + 6 * random())::numeric, 24)::float8
            ELSE 24 * random() END) AS created_at,
        random() AS r_state, random() AS r_safe, random() AS r_topic, random() AS r_pref,
        random() AS r_cont, random() AS r_leave,
        1 + floor(power(random(), 1.5) * %(seekers)s)::int AS seeker_g,
        sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z
    FROM generate_series(1, %(requests)s) g
), ranked AS (
    SELECT *, row_number() OVER (ORDER BY r_state, g) <= %(sessions)s AS matched FROM base
), drawn AS (
    SELECT row_number() OVER (ORDER BY created_at, g) AS id, ranked.*,
        CASE WHEN r_safe < 0.62 THEN 'yes' WHEN r_safe < 0.90 THEN ''
             WHEN r_safe < 0.95 THEN 'not_sure' ELSE 'no' END AS safe_now,
        CASE WHEN r_topic < 0.25 THEN ''
             ELSE (%(topics)s::text[])[1 + least(
                 floor((r_topic - 0.25) / 0.75 * %(ntopics)s)::int, %(ntopics)s - 1)] END
            AS topic,
        CASE WHEN r_pref < 0.15 THEN 1 + floor(r_pref / 0.15 * %(supporters)s)::int END
            AS pref_sup,
        %(seeker_base)s + seeker_g AS seeker_uid,
        mod(seeker_g, %(erased_every)s) = 0 AS erased,
        -- Log-normal wait, median 150 s, slower at night, urgent ones taken sooner.
        least(5400.0, greatest(5.0, exp(ln(150.0) + 1.1 * z)))
            * CASE WHEN extract(hour FROM created_at AT TIME ZONE 'UTC') >= 20
                     OR extract(hour FROM created_at AT TIME ZONE 'UTC') < 2
                   THEN 1.6 ELSE 1.0 END AS wait_s
    FROM ranked
)
SELECT drawn.*,
    safe_now IN ('no', 'not_sure') AS urgent,
    CASE WHEN matched THEN 'matched' WHEN r_leave < 0.6 THEN 'left' ELSE 'gone' END AS state,
    CASE WHEN matched THEN created_at + make_interval(
        secs => wait_s / CASE WHEN safe_now IN ('no', 'not_sure') THEN 2.5 ELSE 1 END) END
        AS matched_at,
    CASE WHEN matched THEN NULL
         WHEN r_leave < 0.6 THEN created_at + make_interval(secs => 60 + 1740 * r_leave / 0.6)
         ELSE created_at + make_interval(secs => 900 + 1200 * (r_leave - 0.6) / 0.4) END
        AS closed_at,
    CASE WHEN matched AND pref_sup IS NOT NULL THEN
        CASE WHEN r_cont < 0.6 THEN 'same' WHEN r_cont < 0.85 THEN 'not_on_shift'
             ELSE 'wait_expired' END
         ELSE '' END AS continuity
FROM drawn
"""

REQUESTS = """
INSERT INTO peerchat_supportrequest (id, public_id, seeker_id, state, agreement_id, safe_now,
    urgent, topic, preferred_supporter_id, preferred_until, continuity, created_at, seen_at,
    matched_at, closed_at)
SELECT id, 'r' || lpad(id::text, 10, '0'), CASE WHEN erased THEN NULL ELSE seeker_uid END,
       state, %(agreement)s, safe_now, urgent, topic, pref_sup,
       CASE WHEN pref_sup IS NOT NULL THEN created_at + interval '10 minutes' END,
       continuity, created_at,
       CASE WHEN matched THEN matched_at
            WHEN state = 'gone' THEN closed_at - interval '15 minutes' ELSE closed_at END,
       matched_at, closed_at
FROM gen_request
"""

# One session per matched request, in created_at order, with its number of messages: the
# total is exactly `messages`, shared out in proportion to a weight (length times noise).
GEN_SESSION = """
CREATE TEMP TABLE gen_session AS
WITH m AS (
    SELECT row_number() OVER (ORDER BY r.id) AS k, r.id AS request_id, r.seeker_uid, r.erased,
        CASE WHEN r.continuity = 'same' THEN r.pref_sup
             ELSE 1 + floor(random() * %(supporters)s)::int END AS supporter_id,
        r.matched_at AS started_at,
        10 + 80 * power(random(), 1.5) AS minutes,
        random() AS r_end, random() AS r_weight, random() AS r_hidden
    FROM gen_request r WHERE r.matched
), w AS (
    SELECT m.*, minutes * (0.5 + r_weight) AS weight,
        started_at + make_interval(secs => minutes * 60) AS ended_at
    FROM m
), c AS (
    SELECT w.*, sum(weight) OVER (ORDER BY k) AS cum FROM w
), n AS (
    SELECT c.*,
        (floor(%(messages)s * cum / max(cum) OVER ())
         - floor(%(messages)s * coalesce(lag(cum) OVER (ORDER BY k), 0) / max(cum) OVER ()))::int
            AS nmsg
    FROM c
)
SELECT n.*,
    CASE WHEN nmsg >= 3 AND r_hidden < %(hidden_rate)s THEN 1 ELSE 0 END AS hidden,
    CASE WHEN erased AND r_end < 0.3 THEN 'seeker_deleted'
         WHEN r_end < 0.45 THEN 'seeker_ended' WHEN r_end < 0.85 THEN 'supporter_ended'
         WHEN r_end < 0.97 THEN 'seeker_gone' ELSE 'moderator_ended' END AS end_reason
FROM n ORDER BY k
"""

GEN_ESCALATION = """
CREATE TEMP TABLE gen_escalation AS
WITH e AS (
    SELECT row_number() OVER (ORDER BY s.k) AS id, s.k, s.seeker_uid, s.supporter_id,
        s.started_at + (s.ended_at - s.started_at) * (0.2 + 0.6 * random()) AS opened_at,
        10 + 590 * power(random(), 3) AS ack_s,  -- 10 s to 10 min, mostly quick
        5 + 55 * random() AS resolve_min,
        random() AS r_kind, random() AS r_out, random() AS r_debrief, random() AS r_done,
        %(supporters)s + 1 + floor(random() * %(moderators)s)::int AS moderator_id,
        %(supporters)s + 1 + floor(random() * %(supervisors)s)::int AS supervisor_id
    FROM gen_session s WHERE random() < %(escalation_rate)s
)
SELECT e.*,
    CASE WHEN r_kind < 0.4 THEN 'filter' WHEN r_kind < 0.6 THEN 'seeker'
         WHEN r_kind < 0.95 THEN 'supporter' ELSE 'moderator' END AS kind,
    opened_at + make_interval(secs => ack_s) AS acknowledged_at,
    opened_at + make_interval(secs => ack_s + resolve_min * 60) AS resolved_at,
    CASE WHEN ack_s >= 300 THEN 2 WHEN ack_s >= 120 THEN 1 ELSE 0 END AS stage,
    CASE WHEN r_out < 0.45 THEN 'supported' WHEN r_out < 0.65 THEN 'signposted'
         WHEN r_out < 0.85 THEN 'no_immediate_risk' WHEN r_out < 0.92 THEN 'safeguarding'
         WHEN r_out < 0.97 THEN 'emergency_services' ELSE 'lost_contact' END AS outcome,
    CASE WHEN r_debrief < 0.85 THEN 'done' WHEN r_debrief < 0.95 THEN 'due'
         ELSE 'cancelled' END AS debrief_state,
    opened_at + make_interval(secs => 3600 * (2 + 70 * power(r_done, 1.5))) AS debrief_done_at
FROM e
"""

ROOMS = """
INSERT INTO peerchat_room (id, kind, name, last_seq, last_message_at, created_at)
SELECT k, 'one_to_one', '', nmsg - hidden,
       CASE WHEN nmsg - hidden > 0 THEN started_at
            + (ended_at - started_at) * ((nmsg - hidden)::float8 / (nmsg + 1)) END,
       started_at
FROM gen_session
"""

SESSIONS = """
INSERT INTO peerchat_supportsession (id, room_id, request_id, seeker_id, supporter_id, state,
    phase, started_at, ended_at, end_reason, seeker_seen_at, escalated_at)
SELECT s.k, s.k, s.request_id, CASE WHEN s.erased THEN NULL ELSE s.seeker_uid END,
       s.supporter_id, 'ended', 'closing', s.started_at, s.ended_at, s.end_reason, s.ended_at,
       e.opened_at
FROM gen_session s LEFT JOIN gen_escalation e ON e.k = s.k
"""

# A seeker who deleted their data is no longer a member of their rooms.
MEMBERSHIPS = """
INSERT INTO peerchat_membership (room_id, user_id, role, joined_at)
SELECT k, supporter_id, 'supporter', started_at FROM gen_session
UNION ALL
SELECT k, seeker_uid, 'seeker', started_at FROM gen_session WHERE NOT erased
"""

# Messages g = 1..nmsg of each room: seq = g, except the last `hidden` (kept back by the filter,
# no seq). A deleted seeker's messages are emptied and marked removed by their sender.
MESSAGES = """
INSERT INTO peerchat_message (room_id, seq, sender_id, sender_role, client_msg_id, body, status,
    content_warning, sent_at, removed_at, removed_by)
SELECT k, CASE WHEN visible THEN i END,
       CASE WHEN from_seeker THEN seeker_uid ELSE supporter_id END,
       CASE WHEN from_seeker THEN 'seeker' ELSE 'supporter' END,
       gen_random_uuid(),
       CASE WHEN from_seeker AND erased THEN '' ELSE 'm' END,
       CASE WHEN visible THEN 'delivered' ELSE 'held' END,
       '', sent_at,
       CASE WHEN from_seeker AND erased THEN ended_at END,
       CASE WHEN from_seeker AND erased THEN 'sender' ELSE '' END
FROM (
    SELECT s.k, s.seeker_uid, s.supporter_id, s.erased, s.ended_at, g.i,
        g.i <= s.nmsg - s.hidden AS visible,
        random() < 0.5 AS from_seeker,
        s.started_at + (s.ended_at - s.started_at) * (g.i::float8 / (s.nmsg + 1)) AS sent_at
    FROM gen_session s CROSS JOIN LATERAL generate_series(1, s.nmsg) AS g(i)
) x
"""

# What the filter decided, by share of screened messages: [low, high) of a uniform draw.
SCREEN_KINDS = """
CREATE TEMP TABLE gen_screen_kind (hidden boolean, lo float8, hi float8, categories jsonb,
    rule_ids jsonb, action text, escalate boolean, review text, warning text);
INSERT INTO gen_screen_kind VALUES
    (false, 0.00, 0.30, '["contact"]', '["contact.phone"]', 'mask', false, 'not_needed', ''),
    (false, 0.30, 0.40, '["links"]', '["links.unlisted"]', 'hold', false, 'released', ''),
    (false, 0.40, 0.55, '["graphic"]', '["graphic.1"]', 'content_warning', false,
        'not_needed', 'graphic'),
    (false, 0.55, 0.80, '["method"]', '["method.1"]', 'hold', false, 'released', ''),
    (false, 0.80, 0.85, '["encouragement"]', '["encouragement.1"]', 'hold', false,
        'released', ''),
    (false, 0.85, 0.95, '["imminent"]', '["imminent.1"]', 'allow', true, 'not_needed', ''),
    (false, 0.95, 1.01, '["method", "imminent"]', '["method.1", "imminent.1"]', 'allow', true,
        'not_needed', ''),
    (true, 0.00, 0.60, '["method"]', '["method.1"]', 'hold', false, 'kept', ''),
    (true, 0.60, 0.85, '["encouragement"]', '["encouragement.1"]', 'block', false, 'kept', ''),
    (true, 0.85, 1.01, '["links"]', '["links.unlisted"]', 'hold', false, 'kept', '')
"""

SCREENINGS = """
INSERT INTO moderation_screening (message_id, room_id, room_kind, action, escalate, categories,
    rule_ids, spans, policy_version, original_body, review, reviewed_by_id, reviewed_at,
    created_at)
SELECT m.id, m.room_id, 'one_to_one', k.action, k.escalate, k.categories, k.rule_ids, '[]',
       'bench', '', k.review,
       CASE WHEN k.review <> 'not_needed' THEN m.moderator_id END,
       CASE WHEN k.review <> 'not_needed'
            THEN m.sent_at + make_interval(secs => 30 + 1800 * m.r_review) END,
       m.sent_at
FROM (
    SELECT id, room_id, sent_at, seq, random() AS r_kind, random() AS r_review,
        %(supporters)s + 1 + floor(random() * %(moderators)s)::int AS moderator_id
    FROM peerchat_message WHERE seq IS NULL OR random() < %(screening_rate)s
) m
JOIN gen_screen_kind k ON k.hidden = (m.seq IS NULL) AND m.r_kind >= k.lo AND m.r_kind < k.hi
"""

SCREENED_MESSAGES = """
UPDATE peerchat_message m
SET status = CASE WHEN s.action = 'mask' THEN 'masked'
                  WHEN m.seq IS NULL AND s.action = 'block' THEN 'blocked'
                  ELSE m.status END,
    content_warning = CASE WHEN s.action = 'content_warning' THEN 'graphic' ELSE '' END
FROM moderation_screening s
WHERE s.message_id = m.id
  AND (s.action IN ('mask', 'content_warning') OR (m.seq IS NULL AND s.action = 'block'))
"""

FEEDBACK = """
INSERT INTO peerchat_feedback (session_id, listened, helpful, would_return, comment, created_at)
SELECT k,
       CASE WHEN r1 < 0.1 THEN NULL ELSE least(5, 1 + floor(5 * sqrt(r2)))::int END,
       CASE WHEN r3 < 0.1 THEN NULL ELSE least(5, 1 + floor(5 * power(r4, 0.6)))::int END,
       CASE WHEN r5 < 0.55 THEN 'yes' WHEN r5 < 0.80 THEN 'maybe' WHEN r5 < 0.90 THEN 'no'
            ELSE '' END,
       '', ended_at + interval '1 minute'
FROM (
    SELECT k, ended_at, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
        random() AS r5
    FROM gen_session WHERE random() < %(feedback_rate)s
) f
"""

ESCALATIONS = """
INSERT INTO moderation_escalation (id, room_id, session_id, kind, raised_by_id, state, stage,
    opened_at, acknowledged_by_id, acknowledged_at, resolved_by_id, resolved_at, outcome,
    resolution_note, trigger_count, last_trigger_at, last_sequence)
SELECT id, k, k, kind,
       CASE kind WHEN 'filter' THEN NULL WHEN 'seeker' THEN seeker_uid
                 WHEN 'supporter' THEN supporter_id ELSE moderator_id END,
       'resolved', stage, opened_at, moderator_id, acknowledged_at, moderator_id, resolved_at,
       outcome, '', 1, opened_at, stage + 3
FROM gen_escalation
"""

ESCALATION_TRIGGERS = """
INSERT INTO moderation_escalationtrigger (escalation_id, kind, by_id, message_id, note,
    created_at)
SELECT id, kind,
       CASE kind WHEN 'filter' THEN NULL WHEN 'seeker' THEN seeker_uid
                 WHEN 'supporter' THEN supporter_id ELSE moderator_id END,
       NULL, '', opened_at
FROM gen_escalation
"""

# opened, renotified (stage >= 1), on_call (stage 2), acknowledged, resolved: numbered 1, 2, ...
ESCALATION_EVENTS = """
INSERT INTO moderation_escalationevent (escalation_id, event_id, sequence, type, actor_id,
    detail, created_at)
SELECT id, gen_random_uuid(), 1, 'opened', NULL::bigint, '{}'::jsonb, opened_at
FROM gen_escalation
UNION ALL
SELECT id, gen_random_uuid(), 2, 'renotified', NULL, '{}',
       opened_at + make_interval(secs => %(renotify)s)
FROM gen_escalation WHERE stage >= 1
UNION ALL
SELECT id, gen_random_uuid(), 3, 'on_call', NULL, '{}',
       opened_at + make_interval(secs => %(on_call)s)
FROM gen_escalation WHERE stage = 2
UNION ALL
SELECT id, gen_random_uuid(), stage + 2, 'acknowledged', moderator_id, '{}', acknowledged_at
FROM gen_escalation
UNION ALL
SELECT id, gen_random_uuid(), stage + 3, 'resolved', moderator_id,
       jsonb_build_object('outcome', outcome), resolved_at
FROM gen_escalation
"""

PROFILES = """
INSERT INTO peerchat_supporterprofile (user_id, current_shift_id, paused_until, last_assigned_at,
    supervisor_id)
SELECT p, NULL, NULL, NULL, %(supporters)s + 1 + mod(p / 4, %(supervisors)s)
FROM generate_series(1, %(supporters)s) p
"""

# About two shifts a week per supporter, evenings and late nights heavier; 3% not turned up to.
SHIFTS = """
INSERT INTO peerchat_shift (supporter_id, starts_at, ends_at, started_at, ended_at)
SELECT p, starts_at, starts_at + make_interval(hours => hours),
       CASE WHEN r_miss >= 0.03 THEN starts_at + make_interval(mins => (20 * r_on - 10)::int) END,
       CASE WHEN r_miss >= 0.03
            THEN starts_at + make_interval(hours => hours, mins => (20 * r_off - 5)::int) END
FROM (
    SELECT p, %(start)s::timestamptz + make_interval(days => d, hours => CASE
            WHEN r_hour < 0.15 THEN 10 WHEN r_hour < 0.35 THEN 14 WHEN r_hour < 0.65 THEN 18
            ELSE 21 END) AS starts_at,
        CASE WHEN r_hour >= 0.65 OR r_len < 0.5 THEN 3 ELSE 4 END AS hours,
        r_miss, r_on, r_off
    FROM (
        SELECT p, d, random() AS r_hour, random() AS r_len, random() AS r_miss,
            random() AS r_on, random() AS r_off, random() AS r_pick
        FROM generate_series(1, %(supporters)s) p, generate_series(0, %(days)s) d
    ) draws
    WHERE r_pick < 2.0 / 7
) s
"""

CHECKINS = """
INSERT INTO peerchat_shiftcheckin (shift_id, supporter_id, feeling, note, wants_to_talk,
    created_at)
SELECT id, supporter_id,
       CASE WHEN r < 0.40 THEN 'good' WHEN r < 0.75 THEN 'okay' WHEN r < 0.88 THEN 'low'
            WHEN r < 0.92 THEN 'struggling' ELSE 'skipped' END,
       '', r >= 0.85 AND r < 0.92, ended_at + interval '5 minutes'
FROM (SELECT id, supporter_id, ended_at, random() AS r FROM peerchat_shift
      WHERE ended_at IS NOT NULL) s
WHERE random() < 0.5
"""

TRAINING = """
INSERT INTO peerchat_trainingrecord (supporter_id, module_id, completed_on, expires_on)
SELECT supporter_id, module_id, completed_on,
       CASE WHEN valid_days IS NOT NULL THEN completed_on + valid_days END
FROM (
    SELECT u.id AS supporter_id, t.id AS module_id, t.valid_days,
        (%(start)s::timestamptz - make_interval(days => floor(200 * random())::int))::date
            AS completed_on
    FROM peerchat_user u JOIN peerchat_trainingmodule t ON t.required_levels ? u.supporter_level
    WHERE u.role = 'supporter'
) r
"""

DEBRIEFS = """
INSERT INTO peerchat_debrief (id, supporter_id, escalation_id, state, due_by, created_at,
    completed_at, flagged_at, no_time_told_at)
SELECT id, supporter_id, id, debrief_state, opened_at + make_interval(hours => %(due_hours)s),
       opened_at,
       CASE WHEN debrief_state = 'done' THEN debrief_done_at END,
       CASE WHEN debrief_state = 'due'
             AND opened_at + make_interval(hours => %(due_hours)s) < %(now)s
            THEN opened_at + make_interval(hours => %(due_hours)s) END,
       NULL
FROM gen_escalation
"""

# Weekly group supervision per supervisor (slot id 1 + week * SUPERVISORS + m), and a
# one-to-one debrief slot for each debrief held (slot id after them: base + escalation id).
SLOTS = """
INSERT INTO peerchat_supervisionslot (id, supervisor_id, series_id, starts_at, ends_at, kind,
    capacity, purpose, location, state, cancelled_at, cancel_reason, sequence, created_at)
SELECT 1 + w * %(supervisors)s + m, %(supporters)s + 1 + m, NULL::bigint, starts_at,
       starts_at + interval '90 minutes', 'group', 8, 'supervision', '', 'open',
       NULL::timestamptz, '', 0,
       starts_at - interval '14 days'
FROM (SELECT w, m, %(start)s::timestamptz + make_interval(weeks => w, days => m, hours => 18)
          AS starts_at
      FROM generate_series(0, %(weeks)s - 1) w, generate_series(0, %(supervisors)s - 1) m) s
UNION ALL
SELECT %(slot_base)s + id, supervisor_id, NULL, debrief_done_at - interval '45 minutes',
       debrief_done_at, 'one_to_one', 1, 'debrief', '', 'open', NULL, '', 0,
       opened_at + interval '1 hour'
FROM gen_escalation WHERE debrief_state = 'done'
"""

# Each supporter in their supervisor's group every four weeks (supporter p's supervisor is
# number (p / 4) mod SUPERVISORS, so each group has about four); the debrief slots' bookings.
BOOKINGS = """
INSERT INTO peerchat_booking (slot_id, supporter_id, purpose, debrief_id, state, automatic,
    created_at, cancelled_at, cancel_reason, recorded_at, recorded_by_id, sequence)
SELECT 1 + w * %(supervisors)s + mod(p / 4, %(supervisors)s), p, 'supervision', NULL::bigint,
       state, false,
       starts_at - interval '7 days',
       CASE WHEN state = 'cancelled' THEN starts_at - interval '1 day' END,
       CASE WHEN state = 'cancelled' THEN 'supporter' ELSE '' END,
       CASE WHEN state <> 'cancelled' THEN starts_at + interval '90 minutes' END,
       CASE WHEN state <> 'cancelled' THEN %(supporters)s + 1 + mod(p / 4, %(supervisors)s) END,
       0
FROM (
    SELECT p, w,
        %(start)s::timestamptz
        + make_interval(weeks => w, days => mod(p / 4, %(supervisors)s), hours => 18)
            AS starts_at,
        CASE WHEN r < 0.88 THEN 'attended' WHEN r < 0.94 THEN 'missed' ELSE 'cancelled' END
            AS state
    FROM (SELECT p, w, random() AS r
          FROM generate_series(1, %(supporters)s) p, generate_series(0, %(weeks)s - 1) w
          WHERE mod(w + p, 4) = 0) draws
) b
UNION ALL
SELECT %(slot_base)s + id, supporter_id, 'debrief', id, 'attended', true,
       opened_at + interval '1 hour', NULL, '', debrief_done_at, supervisor_id, 0
FROM gen_escalation WHERE debrief_state = 'done'
"""


IDENTITY_RESET = """
SELECT setval(pg_get_serial_sequence('{table}', 'id'),
              coalesce((SELECT max(id) FROM {table}), 0) + 1, false)
"""


def _bulk_indexes(cur, table: str) -> tuple[list[str], list[str]]:
    """Drop `table`'s foreign keys, unique constraints and secondary indexes; return the
    statements that put them back (built once after a bulk load instead of row by row)."""
    cur.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f')",
        [table],
    )
    constraints = cur.fetchall()
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename = %s",
        [table],
    )
    constrained = {name for name, _, _ in constraints}
    indexes = [(name, sql) for name, sql in cur.fetchall() if name not in constrained]
    drop, restore = [], []
    for name, kind, _ in sorted(constraints, key=lambda c: c[1] != "f"):
        if kind == "p":
            continue  # other tables' keys point at it; ids arrive in order anyway
        drop.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, sql in indexes:
        drop.append(f'DROP INDEX "{name}"')
        restore.append(sql)
    for kind in ("u", "f"):
        restore += [
            f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
            for name, k, definition in constraints
            if k == kind
        ]
    return drop, restore


def generate(url: str, *, sessions: int, messages: int, now: datetime, seed: float) -> dict:
    """Fill the migrated database; return the seconds each step took."""
    import psycopg
    from django.conf import settings

    start = now - timedelta(days=DAYS + 1)
    topics = [code for code, _label in settings.SUPPORT["TOPICS"]]
    params = {
        "now": now,
        "start": start,
        "days": DAYS,
        "weeks": DAYS // 7,
        "sessions": sessions,
        "messages": messages,
        "requests": round(sessions * 1.15),
        "seekers": max(20, round(sessions * 0.6)),
        "supporters": SUPPORTERS,
        "moderators": MODERATORS,
        "supervisors": SUPERVISORS,
        "seeker_base": SEEKER_ID_BASE,
        "erased_every": ERASED_EVERY,
        "topics": topics,
        "ntopics": len(topics),
        "hidden_rate": HIDDEN_RATE,
        "escalation_rate": ESCALATION_RATE,
        "screening_rate": SCREENING_RATE,
        "feedback_rate": FEEDBACK_RATE,
        "renotify": settings.ESCALATIONS["RENOTIFY_AFTER_SECONDS"],
        "on_call": settings.ESCALATIONS["ON_CALL_AFTER_SECONDS"],
        "due_hours": settings.ESCALATIONS["DEBRIEF_DUE_HOURS"],
        "slot_base": DAYS // 7 * SUPERVISORS + 1,
    }
    steps: dict[str, float] = {}

    # Its own connection, so the generous memory settings here never reach the timed queries.
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:

        def step(name: str, *statements: str) -> None:
            began = time.perf_counter()
            for statement in statements:
                cur.execute(statement, params if "%(" in statement else None)
            steps[name] = time.perf_counter() - began
            print(f"  {name:<26}{steps[name]:8.1f} s", flush=True)

        cur.execute("SET synchronous_commit = off")
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute("SET work_mem = '256MB'")
        cur.execute("SET max_parallel_workers_per_gather = 0")  # random() in one process
        cur.execute("SELECT setseed(%s)", [seed])
        cur.execute("SELECT id FROM peerchat_agreement WHERE kind = 'one_to_one' ORDER BY version")
        params["agreement"] = cur.fetchone()[0]

        step("users", USERS)
        step("requests", GEN_REQUEST, REQUESTS)
        step("sessions and rooms", GEN_SESSION, GEN_ESCALATION, ROOMS, SESSIONS, MEMBERSHIPS)
        drop, restore = _bulk_indexes(cur, "peerchat_message")
        step("messages", *drop, MESSAGES)
        step("message indexes", *restore)
        step("screenings", SCREEN_KINDS, SCREENINGS, SCREENED_MESSAGES)
        step("feedback", FEEDBACK)
        step("escalations", ESCALATIONS, ESCALATION_TRIGGERS, ESCALATION_EVENTS)
        step("shifts and training", PROFILES, SHIFTS, CHECKINS, TRAINING)
        step("debriefs and supervision", DEBRIEFS, SLOTS, BOOKINGS)
        # Explicit ids: move each identity past them, so the application could go on inserting.
        step("identities", *(IDENTITY_RESET.format(table=table) for table in TABLES))
        step("vacuum analyze", "VACUUM (ANALYZE)")
    return steps


def row_counts() -> dict:
    from django.db import connection

    counts = {}
    with connection.cursor() as cur:
        for table in TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names
            counts[table] = cur.fetchone()[0]
    return counts


# Timing ----------------------------------------------------------------------------------------


def baseline_count() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM peerchat_message")
        return cur.fetchone()[0]


def baseline_python() -> dict:
    """Median queue wait per week, the naive way: every row into Python, grouped there."""
    from django.utils import timezone

    from peerchat.models import SupportRequest

    waits = defaultdict(list)
    rows = SupportRequest.objects.filter(matched_at__isnull=False).values_list(
        "created_at", "matched_at"
    )
    for created, matched in rows:
        local = timezone.localtime(created)
        week = (local - timedelta(days=local.weekday())).date()
        waits[week].append((matched - created).total_seconds())
    return {week: statistics.median(values) for week, values in waits.items()}


def _timed(func) -> float:
    began = time.perf_counter()
    func()
    return time.perf_counter() - began


def _error(error: BaseException) -> dict:
    """What failed, and the innermost frame of the project's own code it failed in."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if str(ROOT) in f.filename and "/.venv/" not in f.filename]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    return {
        "error": f"{type(error).__name__}: {error}",
        "where": f"{Path(where.filename).relative_to(ROOT)}:{where.lineno} in {where.name}"
        if where and str(ROOT) in where.filename
        else None,
    }


def query_profile(func) -> dict:
    """How many queries `func` runs, their time, and EXPLAIN ANALYZE of the slowest one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        call_s = _timed(func)
    captured = [q for q in ctx.captured_queries if q["sql"]]
    total_s = sum(float(q["time"]) for q in captured)
    result = {
        "count": len(captured),
        "call_s": call_s,
        "total_s": total_s,
        # The same call's time outside the queries: Python (disclosure control, assembling).
        "outside_database_s": max(0.0, call_s - total_s),
        "slowest": None,
    }
    if not captured:
        return result
    slowest = max(captured, key=lambda q: float(q["time"]))
    result["slowest"] = {"seconds": float(slowest["time"]), "sql": slowest["sql"]}
    try:
        with connection.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + slowest["sql"])
            plan = cur.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
            text = "\n".join(row[0] for row in cur.fetchall())
        result["slowest"]["explain_execution_ms"] = plan[0]["Execution Time"]
        result["slowest"]["explain_planning_ms"] = plan[0]["Planning Time"]
        result["slowest"]["explain"] = text
    except Exception as error:  # noqa: BLE001 - the figures above stand without the plan
        result["slowest"]["explain_error"] = f"{type(error).__name__}: {error}"
    return result


def queue_wait_agreement(report: dict, naive: dict) -> dict:
    """Whether the report's weekly median wait is the naive baseline's, to its rounding.

    The report shows minutes to 0.1 under 10 minutes and to the minute above; a week it
    withholds (too few) is not compared.
    """
    from datetime import date

    try:
        measure = next(m for m in report["measures"] if m["key"] == "queue_wait")
        firsts = {p["key"]: date.fromisoformat(p["first_day"]) for p in report["periods"]}
        compared, agree, worst = 0, 0, 0.0
        for row in measure["rows"]:
            shown = row["cells"]["median"]["value"]
            seconds = naive.get(firsts[row["period"]])
            if shown is None or seconds is None:
                continue
            minutes = seconds / 60
            step = 0.1 if minutes < 10 else 1.0
            compared += 1
            diff = abs(shown - minutes)
            worst = max(worst, diff)
            agree += diff <= step / 2 + 1e-6
    except (KeyError, StopIteration, TypeError, ValueError) as error:
        return {"checked": False, "why": f"{type(error).__name__}: {error}"}
    return {"checked": True, "weeks": compared, "agree": agree, "max_diff_minutes": worst}


def run_timings(now: datetime, repeat: int) -> dict:
    """Time every case; a case that raises is recorded with where it failed, and left out."""
    from moderation.metrics.export import report_csv
    from moderation.metrics.report import metrics_report

    def week():
        return metrics_report(period="week", now=now)

    def month():
        return metrics_report(period="month", now=now)

    def week_year():
        return metrics_report(period="week", count=52, now=now)

    def csv():
        return report_csv(metrics_report(period="week", now=now))

    cases = {
        "report_week": week,
        "report_month": month,
        "csv": csv,
        "baseline_count": baseline_count,
        "baseline_python": baseline_python,
    }
    if "count" in inspect.signature(metrics_report).parameters:
        # The default run of weeks is shorter than the generated year; this is all of it.
        cases["report_week_52"] = week_year
    errors: dict[str, dict] = {}
    first: dict[str, float] = {}
    # One untimed call each first (caches, the first connection), kept as "first_s".
    for name, func in cases.items():
        print(f"  first call: {name}", flush=True)
        try:
            first[name] = _timed(func)
        except Exception as error:  # noqa: BLE001 - reported, and the other cases still run
            errors[name] = _error(error)
            print(f"    failed: {errors[name]['error']} ({errors[name]['where']})", flush=True)
    names = [name for name in cases if name not in errors]
    runs: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        # Rotate the order each repetition, so drift on a shared machine falls on all alike.
        for name in names[r % len(names) :] + names[: r % len(names)]:
            runs[name].append(_timed(cases[name]))
    timings = {
        name: {"first_s": first[name], "runs_s": values, "median_s": statistics.median(values)}
        for name, values in runs.items()
    }
    report_info = None
    if "report_week" not in errors:
        report = week()
        csv_text = report_csv(report)
        csv_only = [_timed(lambda: report_csv(report)) for _ in range(max(3, repeat))]
        timings["csv_only"] = {
            "first_s": csv_only[0],
            "runs_s": csv_only,
            "median_s": statistics.median(csv_only),
        }
        report_info = {
            "periods": len(report.get("periods", [])),
            "measures": len(report.get("measures", [])),
            "json_bytes": len(json.dumps(report)),
            "csv_lines": csv_text.count("\n"),
            "csv_bytes": len(csv_text.encode()),
        }
    count_s = timings.get("baseline_count", {}).get("median_s")
    python_s = timings.get("baseline_python", {}).get("median_s")
    ratios = {
        name: {
            "to_count": timings[name]["median_s"] / count_s if count_s else None,
            "to_python": timings[name]["median_s"] / python_s if python_s else None,
        }
        for name in timings
        if not name.startswith("baseline")
    }
    agreement = None
    for name in ("report_week_52", "report_week"):
        if name in timings:
            agreement = queue_wait_agreement(cases[name](), baseline_python())
            agreement["report"] = name
            break
    queries = {}
    for name in ("report_week", "report_month", "report_week_52"):
        if name in timings:
            queries[name] = query_profile(cases[name])
    return {
        "timings": timings,
        "ratios": ratios,
        "queries": queries,
        "report": report_info,
        "queue_wait_agreement": agreement,
        "errors": errors,
    }


# Report ----------------------------------------------------------------------------------------

_LABELS = {
    "report_week": 'metrics_report(period="week")',
    "report_month": 'metrics_report(period="month")',
    "report_week_52": 'metrics_report(period="week", count=52)',
    "csv": "report_csv(metrics_report(week))",
    "csv_only": "report_csv(report) alone",
    "baseline_count": "baseline: SELECT count(*) messages",
    "baseline_python": "baseline: median wait/week in Python",
}


def format_results(results: dict) -> str:
    lines = [
        f"evaluator figures bench  ({'quick' if results['quick'] else 'full'} run, "
        f"python {results['python']}, {results['postgres']}, {results['cpus']} cpus)",
        f"commit {results['commit']}, moderation/metrics {results['metrics_sha256']}"
        f"{' (uncommitted)' if results['metrics_uncommitted'] else ''}",
        f"generated in {results['generation_s']:.1f} s "
        f"(migrate {results['migrate_s']:.1f} s), rows:",
    ]
    for table, count in results["rows"].items():
        lines.append(f"  {table:<32}{count:>12,}")
    lines += [
        "",
        f"seconds, median of {results['repeat']}; first: the untimed call before them; "
        "ratios of medians to the two baselines",
        f"{'':<42}{'median':>10}{'first':>10}{'/ count':>10}{'/ python':>10}",
    ]
    for name in _LABELS:
        t = results["timings"].get(name)
        if t is None:
            if name in results["errors"]:
                lines.append(f"{_LABELS[name]:<42}{'failed':>10}")
            continue
        ratio = results["ratios"].get(name)
        to_count = f"{ratio['to_count']:.2f}x" if ratio and ratio["to_count"] else ""
        to_python = f"{ratio['to_python']:.2f}x" if ratio and ratio["to_python"] else ""
        lines.append(
            f"{_LABELS[name]:<42}{t['median_s']:>10.3f}{t['first_s']:>10.3f}"
            f"{to_count:>10}{to_python:>10}"
        )
    lines.append("")
    for name, q in results["queries"].items():
        line = (
            f"{name}: one call {q['call_s']:.3f} s, {q['count']} queries taking "
            f"{q['total_s']:.3f} s, {q['outside_database_s']:.3f} s outside them"
        )
        slowest = q["slowest"]
        if slowest:
            line += f"; slowest query {slowest['seconds']:.3f} s"
            if "explain_execution_ms" in slowest:
                line += f" (EXPLAIN ANALYZE: {slowest['explain_execution_ms']:.1f} ms)"
        lines.append(line)
        if slowest:
            lines.append(f"  slowest: {' '.join(slowest['sql'].split())[:160]} ...")
    agreement = results.get("queue_wait_agreement")
    if agreement and agreement["checked"]:
        lines.append(
            f"median wait per week, {agreement['report']} against the Python baseline: "
            f"{agreement['agree']} of {agreement['weeks']} weeks agree to the report's "
            f"rounding (largest difference {agreement['max_diff_minutes']:.3f} min)"
        )
    elif agreement:
        lines.append(f"median wait per week not compared: {agreement['why']}")
    for name, error in results["errors"].items():
        lines.append(f"FAILED {name}: {error['error']}")
        if error["where"]:
            lines.append(f"  at {error['where']}")
    return "\n".join(lines)


def code_version() -> dict:
    """The commit, and a digest of moderation/metrics/ as it is on disk (it may be uncommitted)."""
    import hashlib
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "moderation/metrics"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, ""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "moderation" / "metrics").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return {
        "commit": commit,
        "metrics_uncommitted": bool(dirty),
        "metrics_sha256": digest.hexdigest()[:12],
    }


def run_record(*, now, sessions, messages, seed, migrate_s, generation_s, steps) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            # What this run generated, for a later --reuse.
            "CREATE TABLE bench_run (now timestamptz, sessions integer, messages integer, "
            "seed float8, migrate_s float8, generation_s float8, steps jsonb)"
        )
        cur.execute(
            "INSERT INTO bench_run VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [now, sessions, messages, seed, migrate_s, generation_s, json.dumps(steps)],
        )


def run_recall() -> dict:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT now, sessions, messages, seed, migrate_s, generation_s, steps FROM bench_run"
        )
        now, sessions, messages, seed, migrate_s, generation_s, steps = cur.fetchone()
    steps = json.loads(steps) if isinstance(steps, str) else steps
    return {
        "now": now,
        "sessions": sessions,
        "messages": messages,
        "seed": seed,
        "migrate_s": migrate_s,
        "generation_s": generation_s,
        "steps": steps,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 sessions and 50,000 messages.")
    parser.add_argument("--sessions", type=int, help="Support sessions (default 200,000).")
    parser.add_argument("--messages", type=int, help="Messages (default 5,000,000).")
    parser.add_argument("--repeat", type=int, default=3, help="Timed runs of each (default 3).")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_URL,
        help=f"The database to drop, recreate and fill (default {DEFAULT_URL}).",
    )
    parser.add_argument("--keep", action="store_true", help="Leave the database in place.")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Time against the database a run with --keep left, without generating (implies "
        "--keep).",
    )
    parser.add_argument("--json", metavar="PATH", help="Also write the results as JSON here.")
    parser.add_argument("--explain", action="store_true", help="Print the slowest plans.")
    parser.add_argument("--seed", type=float, default=0.42, help="setseed() for the data.")
    args = parser.parse_args(argv)

    sessions = args.sessions or (2_000 if args.quick else 200_000)
    messages = args.messages if args.messages is not None else (50_000 if args.quick else 5_000_000)
    repeat = max(1, args.repeat)
    url = args.database_url
    name = _database_name(url)
    keep = args.keep or args.reuse

    if not args.reuse:
        print(f"database {name}: recreating and migrating", flush=True)
        database_recreate(url)
    ready = False
    status = 1
    try:
        django_setup(url)
        ready = True
        from django.core.management import call_command
        from django.db import connection, connections
        from django.utils import timezone

        # Before spending minutes on data: the code to time must at least import.
        importlib.import_module("moderation.metrics.report")
        importlib.import_module("moderation.metrics.export")

        if args.reuse:
            run = run_recall()
            print(
                f"database {name}: reusing {run['sessions']:,} sessions and "
                f"{run['messages']:,} messages generated for {run['now']:%Y-%m-%d %H:%M %Z}",
                flush=True,
            )
            now, sessions, messages = run["now"], run["sessions"], run["messages"]
            migrate_s, generation_s, steps = run["migrate_s"], run["generation_s"], run["steps"]
        else:
            began = time.perf_counter()
            call_command("migrate", verbosity=0, interactive=False)
            migrate_s = time.perf_counter() - began
            connections.close_all()

            now = timezone.now().replace(second=0, microsecond=0)
            print(f"generating {sessions:,} sessions and {messages:,} messages", flush=True)
            began = time.perf_counter()
            steps = generate(url, sessions=sessions, messages=messages, now=now, seed=args.seed)
            generation_s = time.perf_counter() - began
            run_record(
                now=now,
                sessions=sessions,
                messages=messages,
                seed=args.seed,
                migrate_s=migrate_s,
                generation_s=generation_s,
                steps=steps,
            )
        rows = row_counts()
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            server = f"PostgreSQL {cur.fetchone()[0]}"

        print(f"timing, {repeat} run(s) each", flush=True)
        results = {
            "quick": sessions == 2_000 and messages == 50_000,
            "python": platform.python_version(),
            "postgres": server,
            "cpus": os.cpu_count(),
            "database": name,
            "reused": args.reuse,
            **code_version(),
            "now": now.isoformat(),
            "sessions": sessions,
            "messages": messages,
            "repeat": repeat,
            "migrate_s": migrate_s,
            "generation_s": generation_s,
            "generation_steps_s": steps,
            "rows": rows,
            **run_timings(now, repeat),
        }
        print(format_results(results))
        if args.explain:
            for case, q in results["queries"].items():
                if q["slowest"] and q["slowest"].get("explain"):
                    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of {case}'s slowest query:")
                    print(q["slowest"]["explain"])
        if args.json:
            path = Path(args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
            print(f"\nresults written to {path}")
        status = 1 if results["errors"] else 0
    finally:
        if ready:
            from django.db import connections

            connections.close_all()
        if keep:
            print(f"database {name} kept")
        else:
            database_drop(url)
    return status


if __name__ == "__main__":
    sys.exit(main())
