"""Friendly, pseudonymous handles: what other people see instead of any account detail."""

import random
import secrets

# Calm, neutral words only: a handle is the first thing a seeker is called here.
ADJECTIVES = (
    "Amber",
    "Bright",
    "Calm",
    "Clear",
    "Cosy",
    "Gentle",
    "Golden",
    "Hazel",
    "Kind",
    "Light",
    "Mellow",
    "Misty",
    "Patient",
    "Quiet",
    "Silver",
    "Soft",
    "Steady",
    "Still",
    "Sunny",
    "Warm",
    "Willow",
    "Brave",
    "Careful",
    "Curious",
    "Hopeful",
    "Friendly",
    "Bold",
    "Easy",
    "Fresh",
    "Green",
    "Blue",
    "Peach",
    "Rosy",
    "Sandy",
    "Snowy",
    "Starry",
    "Breezy",
    "Mossy",
    "Coral",
    "Cloudy",
)
NOUNS = (
    "Heron",
    "Otter",
    "Robin",
    "Wren",
    "Badger",
    "Fox",
    "Hare",
    "Owl",
    "Finch",
    "Swan",
    "Maple",
    "Cedar",
    "Birch",
    "Rowan",
    "Fern",
    "Clover",
    "Meadow",
    "River",
    "Harbour",
    "Pebble",
    "Lantern",
    "Comet",
    "Linnet",
    "Sparrow",
    "Kestrel",
    "Puffin",
    "Seal",
    "Dolphin",
    "Brook",
    "Acorn",
    "Thistle",
    "Daisy",
    "Poppy",
    "Juniper",
    "Lark",
    "Plover",
    "Moth",
    "Beacon",
    "Island",
    "Valley",
)


def handle_generate(rng: random.Random | None = None) -> str:
    """Return a random handle such as "Quiet Heron 27" (about 140,000 combinations).

    `rng` only for made-up demo data that must come out the same on every run.
    """
    pick = rng or secrets.SystemRandom()
    return f"{pick.choice(ADJECTIVES)} {pick.choice(NOUNS)} {pick.randrange(10, 100)}"
