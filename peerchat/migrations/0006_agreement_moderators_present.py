"""The agreements' second version: moderators may look in on any chat, and what they may do.

Published versions are never edited (every acceptance points at the words accepted), so the
limits of confidentiality that moderator oversight needs are a new version of each agreement,
with the body of the version before. People are asked to accept it at their next chat.
"""

from django.db import migrations
from django.utils import timezone

CONFIDENTIALITY = """
<p><strong>Who can read this chat.</strong> The {who}, and the small team of moderators who
look after everyone's safety here. Nobody else: not other people using the service, and not the
people who evaluate the scheme, who only ever see anonymous totals.</p>
<p><strong>Moderators.</strong> A moderator may read this chat while it is happening, to check
that everyone is safe and well supported. When one is here you'll see a small note saying so.
If something worries them or the {lead}, for example if it sounds as if someone may be in
danger right now, a moderator may join the chat, pause it for a moment, or take out a message
that could upset or harm someone. Moderators and supporters can also send each other notes you
don't see, about how best to support you.</p>
<p><strong>When information may be shared.</strong> We do not know your name and do not ask for
it. If we believe your life, or someone else's, is in immediate danger, we may share what you
have told us with emergency services to keep you safe. We will try to tell you first.</p>
<p>You can download or delete what we hold about you at any time, from "My data".</p>
"""

WORDS = {
    "one_to_one": {"who": "supporter you talk with", "lead": "supporter"},
    "group": {"who": "people in the group and its facilitator", "lead": "facilitator"},
}


def forwards(apps, schema_editor):
    Agreement = apps.get_model("peerchat", "Agreement")
    now = timezone.now()
    for kind, words in WORDS.items():
        previous = Agreement.objects.filter(kind=kind, version=1).first()
        if previous is None:
            continue
        # get_or_create: the tests restore these rows from several threads at once.
        Agreement.objects.get_or_create(
            kind=kind,
            version=2,
            defaults={
                "title": previous.title,
                "body": previous.body,
                "confidentiality": CONFIDENTIALITY.format(**words).strip(),
                "published_at": now,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("peerchat", "0005_escalations")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
