"""The rows support needs from the start: the queue's lock row, first agreements, training."""

from django.db import migrations
from django.utils import timezone

CONFIDENTIALITY = """
<p><strong>Who can read this chat.</strong> The supporter you talk with, and the small team of
moderators who look after everyone's safety here. Nobody else: not other people using the
service, and not the people who evaluate the scheme, who only ever see anonymous totals.</p>
<p><strong>When a moderator may step in.</strong> A moderator may read the chat or join it if
something worries the supporter or the service, for example if it sounds as if you may be in
danger right now, or to support the supporter.</p>
<p><strong>When information may be shared.</strong> We do not know your name and do not ask for
it. If we believe your life, or someone else's, is in immediate danger, we may share what you
have told us with emergency services to keep you safe. We will try to tell you first.</p>
<p>You can download or delete what we hold about you at any time, from "My data".</p>
"""

ONE_TO_ONE = """
<ul>
<li>This is a space to talk about how you are feeling, at your own pace. You don't have to
explain anything you don't want to.</li>
<li>Your supporter is a trained peer, not a doctor or a counsellor. They will listen, not
judge.</li>
<li>Please don't share details of methods or ways to hurt yourself. Talking about how you feel,
and about what helps you cope or stay safer, is always welcome.</li>
<li>Please be kind. Supporters are people too.</li>
<li>You can end the chat whenever you want, and you can come back another time.</li>
</ul>
"""

GROUP = """
<ul>
<li>Everyone here is sharing something personal. What is said in the group stays in the
group.</li>
<li>A trained facilitator leads the group; the group is open only while they are here.</li>
<li>Please don't share details of methods or ways to hurt yourself. Talking about how you feel,
and about what helps you cope, is always welcome.</li>
<li>Be kind to each other. You can mute anyone for yourself, and you can leave at any time.</li>
</ul>
"""

TRAINING = [
    ("safeguarding", "Safeguarding and sharing information", ["trainee", "peer", "senior"], 365),
    ("listening", "Listening without judgement", ["trainee", "peer", "senior"], None),
    ("harm_minimisation", "Harm minimisation and coping talk", ["trainee", "peer", "senior"], 365),
    # Recorded for the scheme; facilitating a group needs a peer or senior supporter.
    ("group_facilitation", "Facilitating groups", [], 730),
]


def forwards(apps, schema_editor):
    apps.get_model("peerchat", "QueueState").objects.get_or_create(pk=1)
    Agreement = apps.get_model("peerchat", "Agreement")
    now = timezone.now()
    for kind, title, body in [
        ("one_to_one", "Before you start", ONE_TO_ONE),
        ("group", "Group agreement", GROUP),
    ]:
        Agreement.objects.get_or_create(
            kind=kind,
            version=1,
            defaults={
                "title": title,
                "body": body.strip(),
                "confidentiality": CONFIDENTIALITY.strip(),
                "published_at": now,
            },
        )
    TrainingModule = apps.get_model("peerchat", "TrainingModule")
    for code, name, levels, days in TRAINING:
        TrainingModule.objects.get_or_create(
            code=code, defaults={"name": name, "required_levels": levels, "valid_days": days}
        )


class Migration(migrations.Migration):
    dependencies = [("peerchat", "0002_support_sessions")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
