"""Demo data for the service: users, providers and filings, inspected items (files the
library makes and labels itself, kept in the blob directory), review jobs, a decision and a
complaint, spread over the last two weeks so the dashboard has something to show.

``synthlabel demo-data [--database-url URL]`` runs :func:`seed`; ``make serve-demo`` seeds a
SQLite file and starts the service on it. Seeding a database that already has the demo admin
adds nothing (it says so).
"""

from __future__ import annotations

import csv
import io
import math
import struct
import tempfile
import wave
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synthlabel.service.auth import Actor, create_user
from synthlabel.service.db.engine import make_engine, session_factory, session_scope
from synthlabel.service.db.migrate import upgrade
from synthlabel.service.db.models import (
    ContentRecord,
    Finding,
    Inspection,
    ReviewJob,
    ReviewQueue,
    User,
)
from synthlabel.service.db.types import utcnow
from synthlabel.service.settings import Settings
from synthlabel.service.web import flows

ADMIN = ("admin", "admin-demo-pass")
REVIEWER = ("reviewer", "reviewer-demo-pass")
DEMO_PRODUCER = "001191110000MA0000000H10001"  # a made-up subject code with a valid check digit
PROVIDER_COLUMNS = (
    "provider_name,credit_code,provider_kind,contact,provider_code,service_name,service_url,"
    "algorithm_name,filing_no,filing_kind,filing_status,security_assessment_status,valid_from,"
    "valid_to"
)
PROVIDER_ROWS = [
    ("甲智能科技有限公司", "91110108MA00000001", "generation", "compliance@jia.example",
     DEMO_PRODUCER, "甲绘图", "https://draw.jia.example", "甲文生图算法",
     "网信算备110108000000001240001号", "生成合成类", "filed", "passed", "2024-03-01",
     "2027-02-28"),
    ("甲智能科技有限公司", "91110108MA00000001", "generation", "compliance@jia.example",
     DEMO_PRODUCER, "甲语音", "https://voice.jia.example", "甲语音合成算法",
     "网信算备110108000000002240002号", "生成合成类", "filed", "passed", "2024-06-15",
     "2027-06-14"),
    ("乙网络传播有限公司", "91310115MA00000002", "platform", "legal@yi.example", "",
     "乙短视频", "https://video.yi.example", "乙推荐算法", "网信算备310115000000003240003号",
     "个性化推送类", "filed", "not_required", "2023-11-01", "2026-10-31"),
    ("丙数据服务有限公司", "91440300MA00000003", "both", "ops@bing.example", "", "丙写作助手",
     "https://write.bing.example", "丙大模型", "网信算备440300000000004250001号", "生成合成类",
     "pending", "pending", "", ""),
    ("Delta Media Ltd", "", "platform", "trust@delta.example", "", "Delta Clips",
     "https://clips.delta.example", "", "", "", "", "", "", ""),
]  # fmt: skip


def providers_csv() -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(PROVIDER_COLUMNS.split(","))
    writer.writerows(PROVIDER_ROWS)
    return buf.getvalue().encode()


@dataclass
class Seeded:
    created: bool
    users: list[tuple[str, str, str]] = field(default_factory=list)  # name, role, password
    items: int = 0
    jobs: int = 0
    complaint_ticket: str | None = None
    blob_dir: str = ""


def blob_root(settings: Settings) -> Path:
    """Where stored copies live: the ``blob_dir`` setting, else ``<db>.blobs`` beside SQLite."""
    configured = getattr(settings, "blob_dir", None)
    if configured is not None:
        return Path(configured)
    from synthlabel.service.settings import default_secret_file

    secret_file = default_secret_file(settings.database_url)
    return secret_file.with_name(secret_file.name.removesuffix(".secret") + ".blobs")


# --- sample files ---------------------------------------------------------------------------


def _picture(seed: int, size: tuple[int, int] = (480, 320)) -> Any:
    """A synthetic landscape (sky, sun, hills); ``seed`` varies its colours and shapes."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    hue = (seed * 47) % 120
    horizon = int(h * (0.55 + 0.05 * (seed % 3)))
    for y in range(h):
        t = y / max(1, horizon)
        if y < horizon:
            c = (int(40 + 190 * t), int(70 + 110 * t + hue / 4), int(150 + 60 * (1 - t)))
        else:
            u = (y - horizon) / max(1, h - horizon)
            c = (int(30 + 30 * (1 - u)), int(60 + 40 * (1 - u)), int(100 + 50 * (1 - u)))
        draw.line((0, y, w, y), fill=c)
    sx, sy, r = int(w * (0.25 + 0.1 * (seed % 5))), int(h * 0.35), int(h * 0.1)
    draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=(255, 210 - hue // 3, 140))
    for k in range(2):
        pts = [(0, horizon)]
        for x in range(0, w + 1, 8):
            pts.append((x, horizon - 30 - k * 18 - int(36 * math.sin(x / (60 + 25 * k) + seed))))
        pts.append((w, horizon))
        draw.polygon(pts, fill=(40 + 10 * k, 70 + hue // 2, 80))
    return img.filter(ImageFilter.SMOOTH)


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    _picture(seed).save(buf, "JPEG", quality=88)
    return buf.getvalue()


def _png_with_parameters(seed: int) -> bytes:
    """A PNG with a Stable Diffusion WebUI ``parameters`` chunk (a generator's trace)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(
        "parameters",
        "a lighthouse at dusk, oil painting\nNegative prompt: blurry\nSteps: 28, Sampler: "
        "DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567, Size: 480x320, Model: sd_xl_base_1.0",
    )
    buf = io.BytesIO()
    _picture(seed).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _wav(freq: float = 440.0, seconds: float = 2.0, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(9000 * math.sin(2 * math.pi * freq * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buf.getvalue()


def sample_files() -> list[tuple[str, bytes, bool, int]]:
    """(name, bytes, label it?, days ago) for the demo's items."""
    text = "日落时分，天空从橙色渐变为紫色。\nThe sky turns from orange to violet at sunset.\n"
    files: list[tuple[str, bytes, bool, int]] = []
    for i in range(10):
        files.append((f"landscape-{i + 1}.jpg", _jpeg(i), i % 3 != 2, 13 - i))
    files.append(("lighthouse.png", _png_with_parameters(11), False, 3))
    files.append(("lighthouse-2.png", _png_with_parameters(12), False, 1))
    files.append(("voice.wav", _wav(), True, 2))
    files.append(("tone.wav", _wav(660.0), False, 4))
    files.append(("answer.md", text.encode(), True, 0))
    files.append(("beach.jpg", _jpeg(21), False, 0))
    return files


MIME = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".wav": "audio/wav",
    ".md": "text/markdown",
}


# --- seeding --------------------------------------------------------------------------------


def _label(name: str, data: bytes, index: int) -> bytes:
    import synthlabel

    labelled, _ = synthlabel.label_bytes(
        data, producer=DEMO_PRODUCER, produce_id=f"demo-{index:04d}", visible=True
    )
    return labelled


def _inspect(name: str, data: bytes, workdir: Path) -> Any:
    import synthlabel

    path = workdir / name
    path.write_bytes(data)
    return synthlabel.inspect(path, c2pa=False)


def _store(root: Path, sha: str, ext: str, data: bytes) -> str:
    rel = f"{sha[:2]}/{sha}{ext}"
    dest = root / rel
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(dest)
    return rel


def _add_item(
    s: Session,
    settings: Settings,
    root: Path,
    name: str,
    data: bytes,
    report: Any,
    days_ago: int,
    provider_id: int | None,
) -> ContentRecord:
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    ext = Path(name).suffix.lower()
    created = utcnow() - timedelta(days=days_ago, hours=(len(name) * 7) % 11)
    verdict = report.verdict.value if report.verdict is not None else None
    rec_obj = report.record
    record = None
    if rec_obj is not None:
        record = {
            k: v
            for k, v in {
                "Label": rec_obj.label.value if hasattr(rec_obj.label, "value") else rec_obj.label,
                "ContentProducer": rec_obj.content_producer,
                "ProduceID": rec_obj.produce_id,
                "ContentPropagator": rec_obj.content_propagator,
                "PropagateID": rec_obj.propagate_id,
            }.items()
            if v
        }
    rec = ContentRecord(
        provider_id=provider_id if record else None,
        produce_id=record.get("ProduceID") if record else None,
        sha256=sha,
        media_kind=report.media_kind or None,
        mime=MIME.get(ext),
        size=len(data),
        origin="uploaded",
        source="demo",
        record=record,
        verdict=verdict,
        created_at=created,
        retain_until=created + timedelta(days=settings.retention_days),
        blob_path=_store(root, sha, ext, data),
        filename=name,
    )
    s.add(rec)
    s.flush()
    s.add(
        Inspection(
            content_record_id=rec.id,
            submitted_at=created,
            verdict=verdict or "not_run",
            platform_label=report.verdict.label_value if report.verdict is not None else None,
            source="api",
            report={"file": name, "format": report.format, "compliance": str(report.compliance)},
            findings=[
                Finding(
                    plugin_id=f.detector,
                    kind=f.code,
                    confidence=f.confidence,
                    evidence={
                        "strength": f.strength.value,
                        "summary": f.summary,
                        "location": f.location,
                        "source": f.source,
                    },
                )
                for f in report.evidence
            ],
        )
    )
    return rec


def _queue(s: Session, name: str, kind: str, sla: int) -> ReviewQueue:
    q = s.execute(select(ReviewQueue).where(ReviewQueue.name == name)).scalar_one_or_none()
    if q is None:
        q = ReviewQueue(name=name, kind=kind, sla_hours=sla, is_default=name == "label-check")
        s.add(q)
        s.flush()
    return q


def seed(settings: Settings) -> Seeded:
    """Fill ``settings.database_url`` with the demo data (migrating it first)."""
    from synthlabel.service.api.providers import import_csv
    from synthlabel.service.db.models import Provider

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        factory = session_factory(engine, settings.secret_key)
        root = blob_root(settings)
        result = Seeded(created=False, blob_dir=str(root))
        with session_scope(factory, actor="demo") as s:
            if s.execute(select(User.id).where(User.name == ADMIN[0])).first() is not None:
                return result
            create_user(s, ADMIN[0], "admin", password=ADMIN[1], display_name="演示管理员")
            reviewer = create_user(
                s, REVIEWER[0], "reviewer", password=REVIEWER[1], display_name="审核员小王"
            )
            result.users = [
                (ADMIN[0], "admin", ADMIN[1]),
                (REVIEWER[0], "reviewer", REVIEWER[1]),
            ]
            import_csv(s, providers_csv(), "demo-providers.csv")
            jia = s.execute(
                select(Provider.id).where(Provider.credit_code == "91110108MA00000001")
            ).scalar_one()
        records: list[ContentRecord] = []
        with tempfile.TemporaryDirectory(prefix="synthlabel-demo-") as tmp:
            work = Path(tmp)
            prepared = []
            for index, (name, data, label, days) in enumerate(sample_files()):
                if label:
                    data = _label(name, data, index)
                prepared.append((name, data, _inspect(name, data, work), days))
            with session_scope(factory, actor="demo") as s:
                for name, data, report, days in prepared:
                    records.append(_add_item(s, settings, root, name, data, report, days, jia))
        result.items = len(records)
        with session_scope(factory, actor="demo") as s:
            label_check = _queue(s, "label-check", "review", 48)
            _queue(s, "complaint", "complaint", 72)
            for rec in records:
                if rec.verdict in ("possible", "suspected") or rec.filename in ("beach.jpg",):
                    why = (
                        f"verdict {rec.verdict}" if rec.verdict in ("possible", "suspected") else ""
                    ) or "spot check"
                    s.add(
                        ReviewJob(
                            queue_id=label_check.id,
                            subject_type=flows.SUBJECT_CONTENT,
                            subject_id=rec.id,
                            status="pending",
                            reason=why,
                            created_at=rec.created_at,
                            due_at=rec.created_at + timedelta(hours=48),
                        )
                    )
                    result.jobs += 1
            s.flush()
        # One decision by the reviewer, so the history and the audit log show one.
        with session_scope(factory, actor=f"user:{REVIEWER[0]}") as s:
            who = Actor(reviewer.id, REVIEWER[0], "reviewer", None, "session")
            job = (
                s.execute(
                    select(ReviewJob).where(ReviewJob.status == "pending").order_by(ReviewJob.id)
                )
                .scalars()
                .first()
            )
            if job is not None:
                flows.claim(s, who, job.id)
                flows.decide(
                    s, who, job.id, "label", "生成合成内容未添加标识 / AI image without a label"
                )
        with session_scope(factory, actor="public:web") as s:
            target = next((r for r in records if r.filename == "beach.jpg"), records[-1])
            complaint = flows.file_complaint(
                s,
                category="unlabelled_ai",
                subject_ref=target.id,
                description="这张海滩照片看起来是AI生成的，但没有任何标识。",
                contact="citizen@example.org",
            )
            result.complaint_ticket = complaint.ticket_no
        with session_scope(factory, actor=f"user:{ADMIN[0]}") as s:
            _admin_extras(s, settings, jia)
        result.created = True
        return result
    finally:
        engine.dispose()


def _admin_extras(s: Session, settings: Settings, provider_id: int) -> None:
    """Rows for the admin pages: identity bindings (checked by the built-in verifier; the
    numbers are the standard's published examples), a webhook subscription with one dead
    letter."""
    from synthlabel.service import identity, webhooks
    from synthlabel.service.db.models import WebhookDelivery

    for ref, kind, value in (
        ("user-8841", "resident_id", "11010519491231002X"),
        ("user-8842", "mobile", "+8613800138000"),
        ("user-8843", "resident_id", "110105194912310021"),
    ):
        identity.bind(
            s,
            settings.secret_key,
            subject_ref=ref,
            id_kind=kind,
            value=value,
            provider_id=provider_id,
        )
    sub, _ = webhooks.create_subscription(
        s,
        name="moderation-bus",
        url="https://moderation-bus.example.net/synthlabel",
        secret="demo-webhook-secret-not-for-production",
        event_kinds=["item.*"],
    )
    now = utcnow()
    s.add(
        WebhookDelivery(
            subscription_id=sub.id,
            event_kind="item.decided",
            payload={"item_id": "demo", "verdict": "confirmed"},
            status="dead",
            attempts=8,
            last_error="connection refused",
            next_attempt_at=None,
            created_at=now - timedelta(hours=3),
        )
    )
    s.flush()
