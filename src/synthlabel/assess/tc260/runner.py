"""The TC260 evaluation run: coverage → sample → ask (cached, resumable) → judge → gates.

``run(banks, config)`` is the whole pipeline; the CLI (``synthlabel tc260 run``) is a thin shell
over it. Steps (spec security-assessment.md §6):

1. check the banks' size and coverage against the profile's K1/Q1–Q3 (shortfalls are reported,
   the run goes on);
2. draw each bank's random sample with a recorded seed (the largest ``min_sample`` of the gates
   on that bank; all questions when the bank is smaller, and those gates say so);
3. ask every sampled question not already in the run file, ``concurrency`` at a time, each
   answer appended and fsynced as it arrives;
4. judge: refusal classifier for refusal gates, keyword library (E2), content classifier (E3),
   the reviewer's CSV (E1);
5. per gate and per category: sample size, count, rate, Wilson 95 % interval and status.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import random
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from synthlabel.assess.tc260 import classify
from synthlabel.assess.tc260.banks import BankSet, Question, coverage
from synthlabel.assess.tc260.classify import (
    Classifier,
    ClassifierContext,
    ClassifierError,
    Judgement,
)
from synthlabel.assess.tc260.client import (
    RETRY_STATUSES,
    ChatAnswer,
    ChatClient,
    EndpointConfig,
    EndpointError,
)
from synthlabel.assess.tc260.metrics import pct, wilson
from synthlabel.assess.tc260.profiles import BankKind, Gate, Profile
from synthlabel.assess.tc260.result import (
    CategoryResult,
    GateResult,
    GateStatus,
    ItemResult,
    Tc260Result,
)
from synthlabel.assess.tc260.review import HumanLabels, answer_sha256, load_human_labels
from synthlabel.assess.tc260.store import RunFileError, RunStore

#: Stop the run when this many questions in a row fail after their retries (endpoint down).
MAX_CONSECUTIVE_FAILURES = 10

ProgressFn = Callable[[str, int, int], None]


@dataclass
class RunConfig:
    endpoint: EndpointConfig
    profile: Profile
    run_file: Path
    resume: bool = False
    concurrency: int = 8
    seed: int | None = None
    refusal_classifier: str = "rules"
    safety_classifier: str | None = None  # E3: None -> the gate needs evidence
    judge: EndpointConfig | None = None  # for the model classifier
    human_labels: Path | None = None  # E1: the reviewer's CSV
    classifier_options: dict[str, str] = field(default_factory=dict)


_T = TypeVar("_T")


def answer_key(endpoint: EndpointConfig, question: Question) -> str:
    """The cache key of an answer: (endpoint, model, system prompt, temperature) × question."""
    return hashlib.sha256(f"{endpoint.scope()}:{question.sha256}".encode()).hexdigest()[:32]


def draw_samples(banks: BankSet, profile: Profile, seed: int) -> dict[BankKind, list[Question]]:
    """Each bank's random sample: the largest ``min_sample`` of its gates (or the whole bank).

    Deterministic for a seed, whatever the order of the bank files: questions are sorted by id
    before sampling, and each bank has its own stream (``"{seed}:{bank}"``)."""
    need: dict[BankKind, int] = {}
    for g in profile.gates.values():
        need[g.bank] = max(need.get(g.bank, 0), g.min_sample)
    out: dict[BankKind, list[Question]] = {}
    for bank, size in need.items():
        items = sorted(banks.bank(bank), key=lambda q: q.id)
        if len(items) > size:
            items = sorted(random.Random(f"{seed}:{bank}").sample(items, size), key=lambda q: q.id)
        out[bank] = items
    return out


def run_blocking(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(coro)``, also from a thread whose event loop is already running (a
    notebook, a Playwright sync session, an async web handler): then the coroutine runs on a
    fresh loop in a helper thread and this thread waits for it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def run(banks: BankSet, config: RunConfig, *, on_progress: ProgressFn | None = None) -> Tc260Result:
    """Run the evaluation (blocking). Ctrl-C leaves a run file that ``resume=True`` continues."""
    return run_blocking(run_async(banks, config, on_progress=on_progress))


async def run_async(
    banks: BankSet,
    config: RunConfig,
    *,
    on_progress: ProgressFn | None = None,
    transport: Any = None,
) -> Tc260Result:
    profile = config.profile
    started = datetime.now(UTC).isoformat(timespec="seconds")
    progress = on_progress or (lambda stage, done, total: None)
    # Fail on classifier and label problems before asking anything.
    human = load_human_labels(config.human_labels) if config.human_labels else None
    ctx = ClassifierContext(
        keywords=banks.keywords,
        judge=config.judge,
        concurrency=config.concurrency,
        options=config.classifier_options,
    )
    methods = {g.method for g in profile.gates.values()}
    refusal: Classifier | None = None
    if "refusal" in methods:
        refusal = classify.create(config.refusal_classifier, "refusal", ctx)
    keywords: Classifier | None = None
    if "keywords" in methods and banks.keywords:
        keywords = classify.create("keywords", "safety", ctx)
    safety: Classifier | None = None
    if "classifier" in methods and config.safety_classifier:
        safety = classify.create(config.safety_classifier, "safety", ctx)

    header = {
        "seed": config.seed if config.seed is not None else secrets.randbelow(2**31),
        "endpoint": config.endpoint.describe(),
        "scope": config.endpoint.scope(),
        "profile": profile.id,
    }
    with RunStore.open(config.run_file, header, resume=config.resume) as store:
        seed = int(store.header.get("seed", header["seed"]))
        if config.seed is not None and config.seed != seed:
            raise RunFileError(
                f"--seed {config.seed} differs from the run file's seed {seed}",
                path=str(config.run_file),
            )
        notes: list[str] = []
        if store.resumed and store.header.get("scope") != config.endpoint.scope():
            notes.append(
                "The run file was started for another endpoint, model or system prompt; "
                "its answers are not reused for this one."
            )
        samples = draw_samples(banks, profile, seed)
        unique: dict[str, Question] = {}
        for items in samples.values():
            for q in items:
                unique.setdefault(answer_key(config.endpoint, q), q)
        cached = sum(1 for k in unique if k in store.answers)
        errors: dict[str, str] = {}
        client = ChatClient(config.endpoint, concurrency=config.concurrency, transport=transport)
        async with client:
            await _ask_all(client, store, unique, errors, config.concurrency, progress)
        answers: dict[str, ChatAnswer] = {
            k: ChatAnswer.from_dict(store.answers[k]["answer"])
            for k in unique
            if k in store.answers
        }
        try:
            judged = await _judge_all(
                store, samples, answers, config.endpoint, refusal, keywords, safety, progress
            )
        finally:
            for c in (refusal, keywords, safety):
                closer = getattr(c, "aclose", None)
                if closer is not None:
                    await closer()
        stats = {
            "questions": len(unique),
            "cached": cached,
            "asked": len(unique) - cached - len(errors),
            "errors": len(errors),
            "requests": client.requests,
            "retries": client.retries,
        }

    # ------------------------------------------------------------------ per gate
    human_used: dict[str, bool] = {}
    if human is not None:
        human_used, human_notes = _apply_human(human, samples.get("generated", []), answers, config)
        notes.extend(human_notes)
    gate_results: list[GateResult] = []
    for gate in profile.gates.values():
        items = samples.get(gate.bank, [])
        values: list[tuple[Question, bool]] = []
        unanswered = unjudged = 0
        classifier_id: str | None
        missing: str | None = None
        if gate.method == "human":
            classifier_id = "human review"
            if human is None:
                missing = "needs the reviewer's labels (review-template, then --human-labels)"
        elif gate.method == "keywords":
            classifier_id = "keywords"
            if keywords is None:
                missing = "needs a keyword library (K1) in the banks"
        elif gate.method == "classifier":
            classifier_id = safety.id if safety else None
            if safety is None:
                missing = "needs a content classifier (--safety-classifier model or a plug-in)"
        else:
            classifier_id = refusal.id if refusal else None
        for q in items:
            key = answer_key(config.endpoint, q)
            if key not in answers:
                unanswered += 1
                continue
            if gate.method == "human":
                v: bool | None = human_used.get(q.id)
            else:
                j = judged.get((gate.method, key))
                v = j.value if j else None
            if v is None:
                unjudged += 1
            else:
                values.append((q, v))
        gate_results.append(
            _gate_result(
                gate,
                len(banks.bank(gate.bank)),
                items,
                values,
                missing,
                unanswered,
                unjudged,
                classifier_id,
            )
        )

    # ------------------------------------------------------------------ items
    item_results: list[ItemResult] = []
    seen: set[str] = set()
    gates_by_bank: dict[str, list[Gate]] = defaultdict(list)
    for g in profile.gates.values():
        gates_by_bank[g.bank].append(g)
    for bank, items in samples.items():
        for q in items:
            if q.id in seen:
                continue
            seen.add(q.id)
            key = answer_key(config.endpoint, q)
            a = answers.get(key)
            js: dict[str, Judgement] = {}
            for g in gates_by_bank[bank]:
                if g.method == "human":
                    if q.id in human_used:
                        js[g.id] = Judgement(human_used[q.id], "human review")
                elif (g.method, key) in judged:
                    js[g.id] = judged[(g.method, key)]
            item_results.append(
                ItemResult(
                    id=q.id,
                    bank=bank,
                    risk_id=q.risk_id,
                    aspect=q.aspect,
                    question=q.question,
                    question_sha256=q.sha256,
                    answer=a.text if a else None,
                    finish_reason=a.finish_reason if a else None,
                    error=errors.get(key),
                    judgements=js,
                )
            )
    if stats["errors"]:
        notes.append(
            f"{stats['errors']} questions got no answer (the endpoint failed after retries); "
            f"run again with --resume {config.run_file} to ask only those."
        )
    if any(b.demo for b in banks.files):
        notes.append(
            "The banks include synthlabel's demo bank: a harmless mechanics demo that fails the "
            "coverage requirements; its numbers say nothing about a service's safety."
        )
    classifiers = {
        "refusal": refusal.id if refusal else "—",
        "keywords (E2)": keywords.id if keywords else "— (no keyword library)",
        "content (E3)": safety.id if safety else "— (none configured)",
        "manual (E1)": human.path if human else "— (no reviewer labels)",
    }
    return Tc260Result(
        profile=profile.to_dict(),
        endpoint=config.endpoint.describe(),
        seed=seed,
        run_file=str(config.run_file),
        started=started,
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        banks=banks.files,
        shortfalls=coverage(banks, profile),
        gates=gate_results,
        items=item_results,
        stats=stats,
        classifiers=classifiers,
        notes=notes,
    )


async def _run_workers(n: int, work: Callable[[], Awaitable[None]]) -> None:
    """``n`` copies of ``work``; the first exception cancels the others and is raised."""
    tasks = [asyncio.ensure_future(work()) for _ in range(n)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _ask_all(
    client: ChatClient,
    store: RunStore,
    unique: dict[str, Question],
    errors: dict[str, str],
    concurrency: int,
    progress: ProgressFn,
) -> None:
    pending = [(k, q) for k, q in unique.items() if k not in store.answers]
    total = len(unique)
    done = total - len(pending)
    progress("asking", done, total)
    queue = list(reversed(pending))
    failures = 0

    async def worker() -> None:
        nonlocal done, failures
        while queue:
            key, q = queue.pop()
            try:
                answer = await client.ask(q.question)
            except EndpointError as exc:
                if exc.status is not None and exc.status not in RETRY_STATUSES:
                    raise  # a wrong key, model or URL: every question would fail the same way
                errors[key] = str(exc.message)
                failures += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    raise EndpointError(
                        f"stopped after {failures} questions in a row failed; last: {exc.message}",
                        url=client.config.url,
                    ) from None
            else:
                failures = 0
                store.put_answer(key, q.id, answer.to_dict())
            done += 1
            progress("asking", done, total)

    if pending:
        await _run_workers(min(concurrency, len(pending)), worker)


async def _judge_all(
    store: RunStore,
    samples: dict[BankKind, list[Question]],
    answers: dict[str, ChatAnswer],
    endpoint: EndpointConfig,
    refusal: Classifier | None,
    keywords: Classifier | None,
    safety: Classifier | None,
    progress: ProgressFn,
) -> dict[tuple[str, str], Judgement]:
    """(method, answer key) -> judgement, for every answered sampled question."""
    jobs: list[tuple[str, str, Question, Classifier]] = []
    for bank, items in samples.items():
        clfs: list[tuple[str, Classifier | None]] = (
            [("keywords", keywords), ("classifier", safety)]
            if bank == "generated"
            else [("refusal", refusal)]
        )
        for q in items:
            key = answer_key(endpoint, q)
            if key not in answers:
                continue
            for method, c in clfs:
                if c is not None:
                    jobs.append((method, key, q, c))
    out: dict[tuple[str, str], Judgement] = {}
    done = 0
    progress("judging", 0, len(jobs))

    async def one(method: str, key: str, q: Question, c: Classifier) -> None:
        nonlocal done
        answer = answers[key]
        cache_key = None
        if c.cache_scope:
            blob = f"{c.id}:{c.cache_scope}:{q.sha256}:{answer_sha256(answer.text)}"
            cache_key = hashlib.sha256(blob.encode()).hexdigest()[:32]
            hit = store.judgements.get(cache_key)
            if hit is not None:
                j = hit["j"]
                out[(method, key)] = Judgement(
                    j.get("value"), j.get("classifier", c.id), j.get("reason", "")
                )
                done += 1
                progress("judging", done, len(jobs))
                return
        try:
            j = await c.judge(q, answer)
        except (EndpointError, ClassifierError) as exc:
            j = Judgement(None, c.id, f"classifier error: {exc}")
        if cache_key and j.value is not None:
            store.put_judgement(cache_key, j.to_dict())
        out[(method, key)] = j
        done += 1
        progress("judging", done, len(jobs))

    await asyncio.gather(*(one(*job) for job in jobs))
    return out


def _apply_human(
    human: HumanLabels,
    items: Iterable[Question],
    answers: dict[str, ChatAnswer],
    config: RunConfig,
) -> tuple[dict[str, bool], list[str]]:
    used: dict[str, bool] = {}
    stale = 0
    sample_ids = set()
    for q in items:
        sample_ids.add(q.id)
        label = human.labels.get(q.id)
        a = answers.get(answer_key(config.endpoint, q))
        if label is None or a is None:
            continue
        ok, sha, _who = label
        if sha and sha != answer_sha256(a.text):
            stale += 1
            continue
        used[q.id] = ok
    notes = [f"Manual review (E1): {len(used)} labels from {human.path} (SHA-256 {human.sha256})."]
    extra = len(set(human.labels) - sample_ids)
    if extra:
        notes.append(f"{extra} reviewer labels name questions outside this run's sample: ignored.")
    if stale:
        notes.append(
            f"{stale} reviewer labels were for a different answer (answer_sha256 differs): ignored."
        )
    return used, notes


def _gate_result(
    gate: Gate,
    bank_size: int,
    items: list[Question],
    values: list[tuple[Question, bool]],
    missing: str | None,
    unanswered: int,
    unjudged: int,
    classifier_id: str | None,
) -> GateResult:
    n = len(values)
    count = sum(v for _, v in values)
    rate = count / n if n else None
    ci = wilson(count, n) if n else None
    meets = gate.meets(rate) if rate is not None else None
    cats: dict[str, list[bool]] = defaultdict(list)
    for q, v in values:
        cats[q.category].append(v)
    categories = []
    for cat in sorted(cats):
        vs = cats[cat]
        k = sum(vs)
        r = k / len(vs)
        categories.append(CategoryResult(cat, len(vs), k, r, wilson(k, len(vs)), gate.meets(r)))
    status: GateStatus
    sign = "≥" if gate.direction == "min" else "≤"
    if missing:
        status, reason = "needs-evidence", missing
    elif bank_size == 0:
        status, reason = "needs-evidence", f"no {gate.bank} questions in the banks"
    elif n == 0 and gate.method == "human":
        status = "needs-evidence"
        reason = f"none of the {len(items)} sampled answers has a reviewer label"
    elif n == 0:
        status, reason = "needs-evidence", "no sampled answer could be judged"
    elif n < gate.min_sample:
        short = (
            f"the bank holds only {bank_size} questions"
            if bank_size < gate.min_sample
            else f"{unanswered} unanswered, {unjudged} unjudged"
        )
        verdict = "meets" if meets else "misses"
        status = "sample-too-small"
        reason = (
            f"sample below the required size: {n} judged < {gate.min_sample} ({short}); "
            f"the rate {pct(rate)} {verdict} the pass mark {sign} {pct(gate.threshold, 0)}"
        )
    elif meets:
        status, reason = "pass", f"{pct(rate)} {sign} {pct(gate.threshold, 0)}"
    else:
        status = "fail"
        reason = f"{pct(rate)} misses the pass mark {sign} {pct(gate.threshold, 0)}"
    return GateResult(
        gate=gate,
        status=status,
        reason=reason,
        bank_size=bank_size,
        sampled=len(items),
        n=n,
        count=count,
        rate=rate,
        ci95=ci,
        meets_threshold=meets,
        unanswered=unanswered,
        unjudged=unjudged,
        classifier=classifier_id,
        categories=categories,
    )
