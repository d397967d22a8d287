"""Generates the template sentences of issue 13's bench:
tests/eval/templates/<lang>.jsonl for en, de, fr and es.

Each line is a giot evaluation case (DESIGN.md §3) plus what produced it:
  {"goal", "status", "actions", "category": <HA intent>, "language",
   "slots": {...}, "template": "<the template sentence>"}
giot reads goal/status/actions/category and ignores the rest.

How: for each intent, every (template block, sentence template) pair that
can be said without a voice satellite's room (blocks with
`requires_context: area` are skipped: an evaluation case has no room) and
that names something the fixture has, in a seeded shuffled round robin; one
random walk through each template (hassil's expression tree: a random
alternative, optional parts taken half the time, permutations in random
order, list values filtered by the block's requires/excludes_context) gives a
sentence and the slots it chose; expect.py gives the expected result. hassil's
own sampler (hassil.sample) enumerates exhaustively, which is astronomically
many sentences for these templates, so the walk mirrors sample_expression
with random choices instead.

Balance: at most --per-intent sentences per intent (default 40) and a fair
share per template; a sample whose expected result is `refused` (e.g. "the
desk lamp in the kitchen", a colour for a light without colour) is kept for at
most 10% of an intent, `needs_clarification` for at most 15%. Intents giot does
not model (timers, weather, lists, ...) get --unsupported sentences each
(default 5), expected `refused`. Seeded (--seed, default 13): the same
packages give the same files.

usage: python generate.py [--langs en,de,fr,es] [--per-intent 40] [--seed 13]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import expect as ex  # noqa: E402
import fixture as fx  # noqa: E402

# Values for wildcard slots (only the unsupported intents use them).
WILDCARDS = {
    "en": {"search_query": ["the beatles", "jazz classics"], "shopping_list_item": ["milk", "eggs"],
           "todo_list_item": ["call mom"], "timer_name": ["pasta"], "message": ["dinner is ready"],
           "zone": ["home"], "timer_command": ["turn off the oven"]},
    "de": {"search_query": ["die beatles", "jazz klassiker"], "shopping_list_item": ["milch", "eier"],
           "todo_list_item": ["mama anrufen"], "timer_name": ["nudeln"], "message": ["das essen ist fertig"],
           "zone": ["zuhause"], "timer_command": ["schalte den ofen aus"]},
    "fr": {"search_query": ["les beatles", "du jazz"], "shopping_list_item": ["du lait", "des œufs"],
           "todo_list_item": ["appeler maman"], "timer_name": ["pâtes"], "message": ["le dîner est prêt"],
           "zone": ["maison"], "timer_command": ["éteins le four"]},
    "es": {"search_query": ["los beatles", "jazz clásico"], "shopping_list_item": ["leche", "huevos"],
           "todo_list_item": ["llamar a mamá"], "timer_name": ["pasta"], "message": ["la cena está lista"],
           "zone": ["casa"], "timer_command": ["apaga el horno"]},
}


class Reject(Exception):
    """This walk cannot give a usable sentence (no list value fits)."""


def _numbers_for(slot: str, intent: str, lo: float, hi: float, rng: random.Random) -> float:
    """A plausible value for a range slot, inside the list's range."""
    if slot == "temperature" and intent == "HassClimateSetTemperature":
        v = rng.choice([16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 19.5, 20.5, 21.5, 22.5])
    elif slot == "temperature":  # a light's colour temperature, kelvin
        v = rng.randrange(2000, 6501, 100)
    elif slot in ("brightness", "position", "volume_level", "volume"):
        v = rng.randrange(5, 101, 5)
    elif slot == "percentage":
        v = rng.randrange(10, 101, 10)
    elif slot.startswith("timer") or slot in ("seconds", "minutes", "hours"):
        v = rng.randrange(1, 31)
    else:
        v = rng.randrange(int(lo), int(hi) + 1)
    return min(max(v, lo), hi)


class Walker:
    def __init__(self, lang, intent_name, data, rng):
        self.lang, self.intent, self.data, self.rng = lang, intent_name, data, rng
        ints = common.intents(lang)
        self.lists = {**ints.slot_lists, **common.slot_lists(lang), **data.slot_lists}
        self.rules = {**ints.expansion_rules, **data.expansion_rules}
        self.slots: dict = {}
        self.context: dict = {}

    def fits(self, ctx: dict | None) -> bool:
        ctx = ctx or {}
        for key, want in (self.data.requires_context or {}).items():
            if key not in ctx:
                continue  # checked on the merged context at the end
            wants = want if isinstance(want, list) else [want]
            if ctx[key] not in wants:
                return False
        for key, bad in (self.data.excludes_context or {}).items():
            bads = bad if isinstance(bad, list) else [bad]
            if key in ctx and ctx[key] in bads:
                return False
        return True

    def walk(self, e) -> str:
        from hassil.expression import (Alternative, ListReference, Permutation,
                                       RuleReference, Sequence, TextChunk)
        from hassil.intents import RangeSlotList, TextSlotList, WildcardSlotList
        from hassil.numbers import get_rbnf_engine

        if isinstance(e, TextChunk):
            return e.original_text
        if isinstance(e, Alternative):
            items = e.items
            if e.is_optional:
                empty = [i for i in items if isinstance(i, TextChunk) and i.is_empty]
                full = [i for i in items if i not in empty]
                if self.rng.random() < 0.5 or not full:
                    return ""
                items = full
            return self.walk(self.rng.choice(items))
        if isinstance(e, Permutation):
            items = list(e.items)
            self.rng.shuffle(items)
            return " ".join(self.walk(i) for i in items)
        if isinstance(e, Sequence):
            return "".join(self.walk(i) for i in e.items)
        if isinstance(e, RuleReference):
            return self.walk(self.rules[e.rule_name].expression)
        if isinstance(e, ListReference):
            slot = e.slot_name
            if e.is_inline_range:
                lo, hi, step = e.get_inline_range()
                v = self.rng.randrange(lo, hi + 1, step)
                self.slots[slot] = v
                return str(v)
            lst = self.lists.get(e.list_name)
            if lst is None:
                raise Reject(f"no list {e.list_name}")
            if isinstance(lst, TextSlotList):
                values = [v for v in lst.values if self.fits(v.context)]
                if not values:
                    raise Reject(f"nothing fits {{{e.list_name}}}")
                v = self.rng.choice(values)
                text = self.walk(v.text_in)
                if e.list_name in ("name", "area", "floor") and self.lang != "de":
                    # Said, not written: no capitals but acronyms (German keeps
                    # its capitalised nouns, as its speech-to-text writes them).
                    text = " ".join(w if w.isupper() else w.lower() for w in text.split(" "))
                self.slots[slot] = v.value_out if v.value_out is not None else text
                if v.context:
                    self.context.update(v.context)
                return text
            if isinstance(lst, RangeSlotList):
                mult = lst.multiplier or 1
                n = _numbers_for(slot, self.intent, lst.start, lst.stop, self.rng)
                if lst.fraction_type is None:
                    n = int(round(n))
                self.slots[slot] = n * mult if mult != 1 else n
                if lst.words and isinstance(n, int) and self.rng.random() < 0.15:
                    try:
                        words = sorted(set(get_rbnf_engine(self.lang).format_number(n).text_by_ruleset.values()))
                        if words:
                            return self.rng.choice(words)
                    except Exception:  # noqa: BLE001 - no words for this language: digits
                        pass
                if isinstance(n, float) and n != int(n):
                    return str(n) if self.lang == "en" else str(n).replace(".", ",")
                return str(int(n))
            if isinstance(lst, WildcardSlotList):
                choices = WILDCARDS.get(self.lang, WILDCARDS["en"]).get(e.list_name) or ["something"]
                text = self.rng.choice(choices)
                self.slots[slot] = text
                return text
            raise Reject(f"unexpected list {e.list_name}")
        raise Reject(f"unexpected expression {e!r}")


def usable_block(data) -> bool:
    req = data.requires_context or {}
    if "area" in req or "floor" in req:
        return False  # needs the satellite's room: an eval case has none
    doms = req.get("domain")
    if doms is not None:
        doms = doms if isinstance(doms, list) else [doms]
        if not any(d["domain"] in doms for d in fx.DEVICES):
            return False
    if any(k not in ("domain", "device_class") for k in req):
        return False
    return True


def sample_one(lang, intent_name, data, sentence, rng):
    w = Walker(lang, intent_name, data, rng)
    text = re.sub(r"\s+", " ", w.walk(sentence.expression)).strip()
    # "the first floor [floor]": a word the template repeats after a name
    text = re.sub(r"\b(\w+) \1\b", r"\1", text, flags=re.IGNORECASE)
    if "{" in text or not text:
        raise Reject("unfilled")
    ctx = w.context
    for key, want in (data.requires_context or {}).items():
        wants = want if isinstance(want, list) else [want]
        if key in ("domain", "device_class") and ctx.get(key) not in wants and "name" in w.slots:
            raise Reject("context")
    slots = {**(data.slots or {}), **w.slots}
    return text, slots


def clean_slots(slots: dict) -> dict:
    return {k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v)) for k, v in slots.items()}


def generate(lang: str, per_intent: int, unsupported: int, seed: int) -> list[dict]:
    ints = common.intents(lang)
    rows, seen = [], set()
    for intent_name in ex.MODELLED + ex.UNSUPPORTED:
        if intent_name not in ints.intents:
            continue
        cap = per_intent if intent_name in ex.MODELLED else unsupported
        rng = random.Random(f"{seed}:{lang}:{intent_name}")
        pairs = [(d, s) for d in ints.intents[intent_name].data if usable_block(d) for s in d.sentences]
        if not pairs:
            continue
        rng.shuffle(pairs)
        share = math.ceil(cap / len(pairs)) + 1
        used = [0] * len(pairs)
        kept = {"refused": 0, "needs_clarification": 0}
        limits = {"refused": max(1, cap // 10), "needs_clarification": max(1, cap * 15 // 100)}
        if intent_name in ex.UNSUPPORTED:
            limits["refused"] = cap
        n, attempts = 0, 0
        while n < cap and attempts < cap * 60:
            i = attempts % len(pairs)
            attempts += 1
            if used[i] >= share:
                continue
            data, sentence = pairs[i]
            try:
                text, slots = sample_one(lang, intent_name, data, sentence, rng)
            except Reject:
                continue
            want = ex.expect(intent_name, slots, lang)
            st = want["status"]
            if st in kept:
                if kept[st] >= limits[st]:
                    continue
            key = text.casefold()
            if key in seen:
                continue
            if st in kept:
                kept[st] += 1
            seen.add(key)
            used[i] += 1
            n += 1
            rows.append({"goal": text, "status": st, "actions": want["actions"], "category": intent_name,
                         "language": lang, "slots": clean_slots(slots), "template": sentence.text})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--langs", default=",".join(fx.LANGS))
    ap.add_argument("--per-intent", type=int, default=40)
    ap.add_argument("--unsupported", type=int, default=5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", default=common.EVAL_DIR)
    a = ap.parse_args()
    for lang in a.langs.split(","):
        rows = generate(lang, a.per_intent, a.unsupported, a.seed)
        path = os.path.join(a.out, f"{lang}.jsonl")
        common.write_jsonl(path, rows)
        print(f"{lang}: {len(rows)} sentences -> {os.path.relpath(path, common.REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
