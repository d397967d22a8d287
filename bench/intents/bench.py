"""Issue 13's side-by-side bench: giot's understanding next to Home Assistant's
own matchers on the same sentences and the same fixture home.

Sentences: tests/eval/templates/<lang>.jsonl (generated from Home Assistant's
templates by generate.py) and tests/eval/templates/handwritten.jsonl (the kinds
templates do not contain, written by handwritten.py), each a giot evaluation
case with "category" and "language".

Systems, each mapped to giot's {status, actions} by the one rule in expect.py:
  hassil     hassil.recognize_best (as Home Assistant's default agent calls it:
             skip words, best_slot_name="name") with the fixture's device
             names, rooms and floors as the name/area/floor slot lists; no
             recognition -> refused
  gazetteer  gazetteer-matcher (English only) with the fixture as its home;
             compound frames combined all-or-nothing; an ambiguous rejection ->
             needs_clarification, any other rejection -> refused
  giot       `$GIOT_BIN eval --json --no-baseline` per language against
             `giot broker` and `giot sim` started (and stopped) here, on
             the language's fixture (bench/intents/home.<lang>.yaml); if giot
             cannot run (e.g. it cannot load the fixture yet), its column is
             n/a and the error is printed
A sentence passes when status and the set of actions equal the expected ones.

Output: ONE table, rows = language x category plus overall rows (templates,
hand-written), columns n, hassil, gazetteer, giot, giot/best-peer; then, per
system, actions taken on questions (must be 0) and false acceptances on
`unknown` goals; then hassil's recognition time per sentence (p50/p95).

usage: bench.py [--langs en,de,fr,es] [--sets templates,handwritten]
                [--no-giot] [--giot-strip-fixture] [--regenerate] [--json FILE]
Deterministic: no randomness here; the sentence files are seeded.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import expect as ex  # noqa: E402
import fixture as fx  # noqa: E402

SYSTEMS = ("hassil", "gazetteer", "giot")


# ------------------------------------------------------------------ the peers
def hassil_slots(r) -> dict:
    slots = {}
    for k, e in r.entities.items():
        v = e.value
        if isinstance(v, float) and v == int(v):
            v = int(v)
        slots[k] = v
    return slots


def run_hassil(cases: list[dict], lang: str):
    from hassil import recognize_best

    ints = common.intents(lang)
    lists = common.slot_lists(lang)
    got, times = [], []
    for c in cases:
        t = time.perf_counter()
        r = recognize_best(c["goal"], ints, slot_lists=lists, skip_words=ints.skip_words,
                           language=lang, best_slot_name="name")
        times.append(time.perf_counter() - t)
        if r is None:
            got.append(ex.result("refused"))
        else:
            got.append(ex.expect(r.intent.name, hassil_slots(r), lang))
    return got, times


_GAZ = {}


def run_gazetteer(cases: list[dict], lang: str):
    if lang != "en":
        return None  # English-only matcher
    from gazetteer_matcher import GazetteerMatcher

    if lang not in _GAZ:
        _GAZ[lang] = GazetteerMatcher(home=common.gazetteer_home(lang))
    g = _GAZ[lang]
    got = []
    for c in cases:
        r = g.interpret(c["goal"])
        if not r.accepted:
            got.append(ex.result("needs_clarification" if r.ambiguous else "refused"))
            continue
        parts = []
        for f in r.frames:
            slots = dict(f.slots)
            if "name" in slots:
                slots["name_id"] = slots.pop("name")
            parts.append(ex.expect(f.intent, slots, lang))
        got.append(ex.combine(parts))
    return got


def passes(want: dict, got: dict) -> bool:
    def aset(actions):
        return {(d, c, ex.json_key(v)) for d, c, v in actions}
    return want["status"] == got["status"] and aset(want["actions"]) == aset(got["actions"])


# ---------------------------------------------------------------------- giot
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Giot:
    """giot's broker, one simulator per fixture, and `giot eval`."""

    def __init__(self, binary: str, strip: bool, workdir: str):
        self.bin, self.strip, self.dir = binary, strip, workdir
        self.port = None
        self.broker = None

    def __enter__(self):
        if not os.path.isfile(self.bin) or not os.access(self.bin, os.X_OK):
            raise RuntimeError(f"no giot binary at {self.bin} (set GIOT_BIN, or build giot)")
        self.port = free_port()
        self.broker = subprocess.Popen([self.bin, "broker", "--port", str(self.port)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.broker.poll() is not None:
                    raise RuntimeError("giot broker exited at start")
                time.sleep(0.1)
        raise RuntimeError("giot broker did not listen within 10 s")

    def __exit__(self, *exc):
        if self.broker:
            self.broker.terminate()
            try:
                self.broker.wait(5)
            except subprocess.TimeoutExpired:
                self.broker.kill()

    def fixture(self, lang: str) -> str:
        path = fx.home_path(lang)
        if not self.strip:
            return path
        out = os.path.join(self.dir, f"home.{lang}.stripped.yaml")
        with open(path, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as o:
            o.write(fx.strip_floors_rooms(f.read()))
        return out

    def eval(self, cases: list[dict], lang: str, tag: str):
        """{goal: result} for the failures and the per-category tallies, or raise."""
        url = f"mqtt://127.0.0.1:{self.port}"
        devices = self.fixture(lang)
        goals = os.path.join(self.dir, f"{tag}.{lang}.jsonl")
        common.write_jsonl(goals, [{"goal": c["goal"], "status": c["status"], "actions": c["actions"],
                                    "category": c["category"]} for c in cases])
        # The operator agent's policy asks a person before it locks, unlocks
        # or opens a valve (confirm_kinds); the bench measures understanding,
        # so giot runs an agent that is the operator without those kinds.
        agents = os.path.join(self.dir, "agents")
        os.makedirs(agents, exist_ok=True)
        with open(os.path.join(agents, "bench.yaml"), "w", encoding="utf-8") as f:
            f.write("name: bench\ndescription: the operator without confirm_kinds\nprompt: operator.txt\n"
                    "answer_prefix: \"Device:\"\ntools: [device_action, state_query]\n"
                    "policy:\n  confirm_kinds: []\n")
        env = dict(os.environ, GIOT_INTENTS=os.path.join(ROOT, "intents"))
        devices = os.path.abspath(devices)
        sim = subprocess.Popen([self.bin, "sim", "--devices", devices, "--broker", url, "--log-level", "error"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.0)
            if sim.poll() is not None:
                raise RuntimeError(f"giot sim failed: {sim.stderr.read().strip()[-500:]}")
            p = subprocess.run([self.bin, "eval", "--json", "--no-baseline", "--devices", devices,
                                "--agent", "bench",
                                "--model", os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"),
                                "--broker", url, "--ledger", os.path.join(self.dir, "bench.ledger"),
                                "--log-level", "error", goals],
                               capture_output=True, text=True, timeout=1800, cwd=self.dir, env=env)
        finally:
            sim.terminate()
            try:
                sim.wait(5)
            except subprocess.TimeoutExpired:
                sim.kill()
        if p.returncode != 0:
            raise RuntimeError(f"giot eval exited {p.returncode}: {(p.stderr or p.stdout).strip()[-600:]}")
        return json.loads(p.stdout)


def giot_results(report: dict, cases: list[dict]) -> list[dict]:
    """Per-case results from giot's eval report: a case not among the failures
    passed (so its result is the expected one); a failure carries what giot did."""
    fails = defaultdict(list)
    for f in report.get("failures", []):
        fails[f["goal"]].append(f["got"])
    out = []
    for c in cases:
        if fails.get(c["goal"]):
            g = fails[c["goal"]].pop(0)
            out.append({"status": g.get("status"), "actions": g.get("actions") or []})
        else:
            out.append({"status": c["status"], "actions": c["actions"]})
    return out


# -------------------------------------------------------------------- report
def pct(p, n):
    return "n/a" if p is None else f"{100.0 * p / n:5.1f}%" if n else "-"


def percentile(xs, q):
    if not xs:
        return 0.0
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(q / 100.0 * (len(xs) - 1)))))
    return xs[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--langs", default=",".join(fx.LANGS))
    ap.add_argument("--sets", default="templates,handwritten")
    ap.add_argument("--no-giot", action="store_true", help="only the Home Assistant matchers")
    ap.add_argument("--giot-strip-fixture", action="store_true",
                    help="give giot the fixture without floors:/rooms: (for a giot that predates them)")
    ap.add_argument("--regenerate", action="store_true", help="rewrite the sentence files first")
    ap.add_argument("--json", help="also write every case's results to this JSON lines file")
    a = ap.parse_args()
    langs = a.langs.split(",")
    sets = a.sets.split(",")

    if a.regenerate:
        import generate
        import handwritten
        for lang in fx.LANGS:
            common.write_jsonl(os.path.join(common.EVAL_DIR, f"{lang}.jsonl"), generate.generate(lang, 40, 5, 13))
        handwritten.write()

    # (set, lang) -> cases
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in sets:
        if s == "templates":
            for lang in langs:
                path = os.path.join(common.EVAL_DIR, f"{lang}.jsonl")
                if os.path.exists(path):
                    groups[(s, lang)] = common.read_jsonl(path)
        else:
            path = os.path.join(common.EVAL_DIR, f"{s}.jsonl")
            if os.path.exists(path):
                rows = common.read_jsonl(path)
                for lang in langs:
                    mine = [r for r in rows if r.get("language", "en") == lang]
                    if mine:
                        groups[(s, lang)] = mine
    if not groups:
        raise SystemExit("no sentence files: run with --regenerate")

    results: dict[tuple[str, str], dict[str, list | None]] = {}
    hassil_times: dict[str, list[float]] = defaultdict(list)
    started = time.perf_counter()
    for key, cases in groups.items():
        s, lang = key
        h, t = run_hassil(cases, lang)
        if s == "templates":
            hassil_times[lang] += t
        results[key] = {"hassil": h, "gazetteer": run_gazetteer(cases, lang), "giot": None}
    peers_s = time.perf_counter() - started

    giot_error = None
    if a.no_giot:
        giot_error = "not run (--no-giot)"
    else:
        binary = os.environ.get("GIOT_BIN") or os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "giot")
        with tempfile.TemporaryDirectory(prefix="giot-bench-intents-") as tmp:
            try:
                with Giot(binary, a.giot_strip_fixture, tmp) as g:
                    for key, cases in groups.items():
                        s, lang = key
                        try:
                            results[key]["giot"] = giot_results(g.eval(cases, lang, s), cases)
                        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                            giot_error = f"{s}/{lang}: {e}"
                            print(f"giot: {giot_error}", file=sys.stderr)
            except RuntimeError as e:
                giot_error = str(e)

    # ----------------------------------------------------------------- tally
    rows = []  # (label, n, {system: passed or None})
    overall: dict[str, dict] = {}
    acted_q = {s: 0 for s in SYSTEMS}
    acted_unknown = {s: 0 for s in SYSTEMS}
    acted_refusal = {s: 0 for s in SYSTEMS}
    n_q = n_unknown = n_refusal = 0
    avail = {s: False for s in SYSTEMS}
    dump = []
    for (s, lang), cases in groups.items():
        res = results[(s, lang)]
        by_cat: dict[str, dict] = defaultdict(lambda: {"n": 0, **{k: 0 for k in SYSTEMS}})
        tot = overall.setdefault(s, {"n": 0, **{k: 0 for k in SYSTEMS}, "have": {k: set() for k in SYSTEMS}})
        for i, c in enumerate(cases):
            cat = by_cat[c["category"]]
            cat["n"] += 1
            tot["n"] += 1
            question = c["status"] == "answered"
            unknown = c["category"] == "unknown"
            n_q += question
            n_unknown += unknown
            n_refusal += c["status"] == "refused"
            line = {"set": s, "language": lang, "goal": c["goal"], "category": c["category"],
                    "want": {"status": c["status"], "actions": c["actions"]}}
            for sysname in SYSTEMS:
                if res[sysname] is None:
                    continue
                got = res[sysname][i]
                avail[sysname] = True
                tot["have"][sysname].add(lang)
                ok = passes(c, got)
                cat[sysname] += ok
                tot[sysname] += ok
                line[sysname] = got
                acted = bool(got["actions"]) and got["status"] not in ("answered",)
                acted_q[sysname] += question and acted
                acted_unknown[sysname] += unknown and got["status"] in ("executed", "planned", "needs_confirmation")
                acted_refusal[sysname] += c["status"] == "refused" and acted
            dump.append(line)
        have = {k: res[k] is not None for k in SYSTEMS}
        for catname in sorted(by_cat):
            cat = by_cat[catname]
            rows.append((f"{s} {lang} {catname}", cat["n"], {k: cat[k] if have[k] else None for k in SYSTEMS}))
        per = {k: sum(v[k] for v in by_cat.values()) if have[k] else None for k in SYSTEMS}
        rows.append((f"{s} {lang} ALL", sum(v["n"] for v in by_cat.values()), per))

    def fmt(label, n, vals):
        peer = [vals[k] for k in ("hassil", "gazetteer") if vals[k] is not None]
        best = max(peer) if peer else None
        g = vals["giot"]
        ratio = "n/a" if g is None or best is None else ("-" if best == 0 else f"{g / best:.2f}")
        return f"{label:<42} {n:>5} {pct(vals['hassil'], n):>9} {pct(vals['gazetteer'], n):>10} {pct(g, n):>8} {ratio:>10}"

    print(f"{'set lang category':<42} {'n':>5} {'hassil':>9} {'gazetteer':>10} {'giot':>8} {'giot/best':>10}")
    for r in rows:
        print(fmt(*r))
    for s, tot in overall.items():
        # Each system over the languages it covers (gazetteer-matcher: English).
        cells, ns = {}, {}
        for k in SYSTEMS:
            ns[k] = sum(len(groups[(ss, l)]) for (ss, l) in groups if ss == s and l in tot["have"][k])
            cells[k] = pct(tot[k], ns[k]) if tot["have"][k] else "n/a"
        peer = [tot[k] / ns[k] for k in ("hassil", "gazetteer") if tot["have"][k] and ns[k]]
        g = tot["giot"] / ns["giot"] if tot["have"]["giot"] and ns["giot"] else None
        ratio = "n/a" if g is None or not peer else ("-" if max(peer) == 0 else f"{g / max(peer):.2f}")
        print(f"{'OVERALL ' + s:<42} {tot['n']:>5} {cells['hassil']:>9} {cells['gazetteer']:>10} {cells['giot']:>8} {ratio:>10}")
        if tot["have"]["gazetteer"]:
            print(f"{'':<42} (gazetteer: English only, {ns['gazetteer']} sentences)")

    print()
    print(f"{'safety':<42} {'of':>5} {'hassil':>9} {'gazetteer':>10} {'giot':>8}")
    for label, counts, n in (("actions taken on questions (must be 0)", acted_q, n_q),
                             ("false acceptances on unknown goals", acted_unknown, n_unknown),
                             ("acted where refusal was expected", acted_refusal, n_refusal)):
        cells = [str(counts[k]) if avail[k] else "n/a" for k in SYSTEMS]
        print(f"{label:<42} {n:>5} {cells[0]:>9} {cells[1]:>10} {cells[2]:>8}")

    print()
    print("hassil recognition time per template sentence (recognize_best, this machine):")
    allt = []
    for lang, ts in hassil_times.items():
        allt += ts
        print(f"  {lang}: p50 {1000 * percentile(ts, 50):7.2f} ms   p95 {1000 * percentile(ts, 95):7.2f} ms   ({len(ts)} sentences)")
    if allt:
        print(f"  all: p50 {1000 * percentile(allt, 50):7.2f} ms   p95 {1000 * percentile(allt, 95):7.2f} ms")
    print(f"(hassil + gazetteer over everything: {peers_s:.1f} s)")
    if giot_error:
        print(f"giot: n/a — {giot_error}")
    print("gazetteer-matcher: English only (n/a for de, fr, es)")
    if a.json:
        common.write_jsonl(a.json, dump)


if __name__ == "__main__":
    main()
