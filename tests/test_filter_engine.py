"""The engine on its own: normalisation, explanations, policy files, and hostile input."""

import random
import time
import unicodedata

import pytest

from moderation.filter import normalise
from moderation.filter.engine import Filter
from moderation.filter.policy import PolicyError, load_policy_files

HELD = "how many pills would it take"


@pytest.fixture(scope="module")
def engine():
    return Filter(load_policy_files())


def test_every_disguise_of_a_held_phrase_is_held(engine):
    disguises = [
        HELD.upper(),
        "how many p\u0456lls would it take",  # Cyrillic i
        "how many pílls would it take",
        "how many p\u200bi\u200cl\u200dls would it take",
        "how many p1llz would it take".replace("z", "s"),
        "h0w m4ny pi11s would it take".replace("11", "ll"),
        "how many p i l l s would it take",
        "how many p.i.l.l.s would it take",
        "how many p-i-l-l-s would it take",
        "how many piiiilllls would it take",
        "how many \U0001f48a would it take",
        "how many ｐｉｌｌｓ would it take",  # fullwidth
        "how many 𝐩𝐢𝐥𝐥𝐬 would it take",  # mathematical bold
        "how many p\u0301i\u0301l\u0301l\u0301s would it take",
    ]
    for text in disguises:
        verdict = engine.check(text)
        assert (verdict.action, verdict.rule_ids) == ("hold", ("method.means_amount",)), text


def test_spans_point_at_the_evidence_in_the_original_text(engine):
    text = "so... HOW MANY p\u200bills would it take??"
    verdict = engine.check(text)
    assert [text[s.start : s.end] for s in verdict.spans] == ["HOW MANY", "p\u200bills"]


def test_ordinary_words_containing_terms_pass(engine):
    for text in [
        "assassin's creed is my favourite game",
        "the skills session was good",
        "my therapist said the rap is terrible",
        "cutlery drawer is a mess",
        "i studied all night",
        "killing it at work today",
        "I could murder a pizza",
        "a pillow and a blanket",
        "skin care routine tonight",
        "cut the grass and cut my hair",
    ]:
        assert engine.check(text).action == "allow", text


def test_disclosure_and_coping_are_never_flagged(engine):
    for text in [
        "I feel like hurting myself tonight",
        "holding ice helped",
        "how do I keep a wound clean",
        "I took 2 painkillers for my headache",
        "I wear long sleeves because of my scars from years ago",
        "I'm not going to do it tonight, I promise",
        "someone told me to kys at school and it really hurt",
        "I called Samaritans on 116 123 and it helped",
        "are you thinking of hurting yourself right now?",
    ]:
        verdict = engine.check(text)
        assert (verdict.action, verdict.escalate) == ("allow", False), text


def test_protective_evidence_is_reported(engine):
    verdict = engine.check("how many pills a day did your gp say")
    assert verdict.action == "allow"
    assert "method.means_amount" in verdict.protected_by


def test_phone_numbers_are_masked_but_years_prices_and_crisis_lines_are_not(engine):
    masked = engine.check("text me 07700 900123 or +44 20 7946 0123")
    assert masked.action == "mask"
    assert masked.masked_text == "text me [contact details hidden] or [contact details hidden]"
    for text in [
        "it was 2019 and it cost £12.99",
        "order 123456 arrives at 10:30",
        "Samaritans 116 123, Shout 85258, or 999",
    ]:
        assert engine.check(text).action == "allow", text


def test_group_rooms_are_stricter_for_graphic_text(engine):
    text = "there was blood everywhere and it wouldnt stop"
    assert engine.check(text, room_kind="one_to_one").action == "content_warning"
    assert engine.check(text, room_kind="group").action == "hold"


def test_imminent_danger_with_method_detail_is_still_delivered(engine):
    verdict = engine.check("I've already taken the whole packet of tablets")
    assert verdict.escalate and verdict.delivered
    assert set(verdict.categories) == {"method", "imminent"}
    assert engine.check(
        "I've already taken the whole packet of tablets", room_kind="group"
    ).action == ("content_warning")


def test_the_fast_and_the_explaining_views_agree():
    rng = random.Random(4)
    alphabet = [
        *"abcdefghijklmnopqrstuvwxyz ABCDE.,!?'’-_013457@$|+",
        "\u200b",
        "\u0301",
        "é",
        "\u0456",
        "\U0001f48a",
        "ｐ",
        "\u202e",
        "\ud800",
    ]
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        ascii_text = normalise.ascii_of(text)
        for leet in (False, True):
            for collapse in (False, True):
                fast = (
                    normalise.deep_view(ascii_text, leet=leet, collapse=collapse)
                    if leet or collapse
                    else normalise.plain_view(ascii_text)
                )
                mapped, origin = normalise.mapped_view(text, leet=leet, collapse=collapse)
                assert mapped == fast, repr(text)
                assert len(origin) == len(mapped)
                assert all(0 <= o <= len(text) for o in origin)


def test_hostile_input_gets_a_verdict_quickly(engine):
    samples = [
        "",
        " ",
        "\ud800\udfff\ud800",
        "\u202e" * 500 + "kys",
        "a" + "\u0301" * 5000,
        "x" * 100_000,
        "a " * 50_000,
        "1" * 100_000,
        "@" * 50_000,
        "www." * 20_000,
        ("0 " * 20_000),
        "".join(chr(c) for c in range(0x20, 0x3000)),
    ]
    # One of every Unicode category, stacked.
    seen = {}
    for codepoint in range(0x110000):
        seen.setdefault(unicodedata.category(chr(codepoint)), chr(codepoint))
    samples.append("".join(seen.values()) * 20)
    for text in samples:
        started = time.perf_counter()
        verdict = engine.check(text)
        assert verdict.action in ("allow", "mask", "content_warning", "hold", "block")
        # Generous: this guards against catastrophic backtracking, not speed.
        assert time.perf_counter() - started < 5, repr(text[:20])
    assert engine.check("\u202e" * 500 + "kys").action == "block"


def test_policy_files_are_checked(tmp_path):
    (tmp_path / "terms").mkdir()
    (tmp_path / "terms" / "means.txt").write_text("zorblex\n# a comment\n")
    (tmp_path / "policy.toml").write_text(
        'version = "t1"\n[[rules]]\nid = "x"\ncategory = "method"\nall = ["means", "nope"]\n'
        'action = "hold"\n'
    )
    with pytest.raises(PolicyError, match="no term list for group 'nope'"):
        load_policy_files(tmp_path)
    (tmp_path / "policy.toml").write_text(
        'version = "t1"\n[[rules]]\nid = "x"\ncategory = "method"\nall = ["means"]\n'
        'action = "shout"\n'
    )
    with pytest.raises(PolicyError, match="unknown room kind or action"):
        load_policy_files(tmp_path)
    (tmp_path / "policy.toml").write_text(
        'version = "t1"\n[[rules]]\nid = "x"\ncategory = "method"\nall = ["means"]\n'
        'action = { one_to_one = "allow", group = "hold" }\n'
    )
    policy = load_policy_files(tmp_path)
    engine = Filter(policy)
    assert engine.check("zorblex", room_kind="group").action == "hold"
    assert engine.check("zorblex").action == "allow"
    assert engine.check("zorblex").policy_version == "t1"


def test_spans_agree_between_the_word_and_character_mappings():
    rng = random.Random(9)
    words = ["how", "many", "PILLS", "would", "it", "take", "...", "  ", "it's", "x", "!!"]
    for _ in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        view, origin = normalise.mapped_view(text, leet=False, collapse=False)
        fast = normalise.PlainOrigin(text)
        for index in range(len(view)):
            if view[index] != " ":
                assert fast[index] == origin[index], (text, index)


def test_spans_in_spaced_text_cover_the_spaced_letters(engine):
    text = "how many p i l l s would it take"
    verdict = engine.check(text)
    assert verdict.action == "hold"
    assert [text[s.start : s.end] for s in verdict.spans] == ["how many", "p i l l s"]
