"""Reusable read-side queries: the ticket list, search and the dashboard's numbers.

The admin console and the API both read through these, so both list the same tickets
with the same number of queries.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from django.utils import timezone

from tickets.models import (
    Attachment,
    Contact,
    Message,
    OutboundEmail,
    ProcessingRun,
    Ticket,
)

# These expressions must stay character-for-character equal to the expression indexes of
# migration 0002, otherwise PostgreSQL cannot use the indexes.
TICKET_DOCUMENT_SQL = (
    "to_tsvector('russian'::regconfig, "
    "subject || ' ' || full_name || ' ' || company || ' ' || device_type || ' ' || device_serial"
    " || ' ' || email || ' ' || summary)"
)
MESSAGE_DOCUMENT_SQL = "to_tsvector('russian'::regconfig, subject || ' ' || left(body_text, 100000))"
PHONE_KEY_SQL = "right(regexp_replace(phone, '[^0-9]', '', 'g'), 10)"

# Statuses that wait for staff (the "open backlog").
OPEN_STATUSES = (
    Ticket.Status.NEW, Ticket.Status.PROCESSING, Ticket.Status.DRAFT_READY, Ticket.Status.CUSTOMER_REPLIED,
)

_NUMBER_RE = re.compile(r"^#?\s*(\d{1,9})$")


def ticket_list(queryset: QuerySet[Ticket] | None = None) -> QuerySet[Ticket]:
    """Tickets for list views: the related rows one join away, heavy text columns deferred."""
    queryset = Ticket.objects.all() if queryset is None else queryset
    return queryset.select_related("contact", "assignee").defer(
        "llm_response", "llm_sources", "masked_text", "summary", "processing_error",
    )


def ticket_detail(queryset: QuerySet[Ticket] | None = None) -> QuerySet[Ticket]:
    """One ticket with everything its page shows, in a fixed number of queries."""
    queryset = Ticket.objects.all() if queryset is None else queryset
    return queryset.select_related("contact", "assignee").prefetch_related(
        Prefetch("messages", queryset=Message.objects.defer("raw").order_by("received_at", "id")
                 .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))),
        Prefetch("outbound_emails", queryset=OutboundEmail.objects.select_related("requested_by").order_by("-created_at")),
        Prefetch("processing_runs", queryset=ProcessingRun.objects.order_by("-created_at")),
    )


def ticket_search(queryset: QuerySet[Ticket], query: str) -> QuerySet[Ticket]:
    """Full-text search (PostgreSQL, ``russian`` configuration: «датчики» finds «датчик»)
    over the ticket's fields and its mails, plus exact matches for what operators paste:
    ticket numbers (``42``, ``#42``), serial numbers, phone numbers and e-mail addresses."""
    query = (query or "").strip()[:200]
    if not query:
        return queryset
    # One IN over a UNION: every branch uses its own index, then a single hash semi-join.
    branches = [
        f"SELECT id FROM tickets_ticket WHERE {TICKET_DOCUMENT_SQL} @@ websearch_to_tsquery('russian'::regconfig, %s)",
        "SELECT ticket_id FROM tickets_message WHERE ticket_id IS NOT NULL AND "
        f"{MESSAGE_DOCUMENT_SQL} @@ websearch_to_tsquery('russian'::regconfig, %s)",
        "SELECT id FROM tickets_ticket WHERE UPPER(device_serial::text) = UPPER(%s)",
    ]
    params: list = [query, query, query]
    match = _NUMBER_RE.match(query)
    if match:
        branches.append("SELECT id FROM tickets_ticket WHERE number = %s")
        params.append(int(match.group(1)))
    if "@" in query:
        branches.append("SELECT id FROM tickets_ticket WHERE UPPER(email::text) = UPPER(%s)")
        branches.append("SELECT t.id FROM tickets_ticket t JOIN tickets_contact c ON c.id = t.contact_id "
                        "WHERE UPPER(c.email::text) = UPPER(%s)")
        params += [query, query]
    digits = re.sub(r"\D", "", query)
    if len(digits) >= 6 and len(digits) >= len(query.replace(" ", "")) // 2:
        branches.append(f"SELECT id FROM tickets_ticket WHERE {PHONE_KEY_SQL} = %s")
        params.append(digits[-10:])
    return queryset.filter(pk__in=RawSQL(" UNION ".join(branches), params))


def contact_list(queryset: QuerySet[Contact] | None = None) -> QuerySet[Contact]:
    queryset = Contact.objects.all() if queryset is None else queryset
    return queryset.annotate(
        ticket_count=Count("tickets", distinct=True),
        open_ticket_count=Count("tickets", filter=Q(tickets__status__in=OPEN_STATUSES), distinct=True),
    )


# --- dashboard -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DateRange:
    start: dt.date
    end: dt.date  # inclusive

    @classmethod
    def last_days(cls, days: int = 30) -> "DateRange":
        today = timezone.localdate()
        return cls(today - dt.timedelta(days=days - 1), today)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """Aware datetimes in the site's time zone: [start 00:00, end+1 00:00)."""
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(self.start, dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return start, end

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def ticket_stats(date_range: DateRange | None = None) -> dict:
    """The dashboard's numbers for tickets created (and replies requested) in ``date_range``."""
    date_range = date_range or DateRange.last_days(30)
    start, end = date_range.bounds()
    tickets = Ticket.objects.filter(created_at__gte=start, created_at__lt=end)
    tz = timezone.get_current_timezone()

    per_day_rows = dict(
        tickets.annotate(day=TruncDate("created_at", tzinfo=tz)).order_by().values("day")
        .annotate(n=Count("id")).values_list("day", "n")
    )
    totals = tickets.aggregate(
        total=Count("id"),
        negative=Count("id", filter=Q(sentiment=Ticket.Sentiment.NEGATIVE)),
        neutral=Count("id", filter=Q(sentiment=Ticket.Sentiment.NEUTRAL)),
        positive=Count("id", filter=Q(sentiment=Ticket.Sentiment.POSITIVE)),
        unknown=Count("id", filter=Q(sentiment="")),
        answered=Count("id", filter=Q(first_response_at__isnull=False)),
    )
    devices = list(
        tickets.exclude(device_type="").order_by().values("device_type").annotate(count=Count("id"))
        .order_by("-count", "device_type")[:10]
    )
    by_status = dict(tickets.order_by().values("status").annotate(n=Count("id")).values_list("status", "n"))
    replies = dict(
        OutboundEmail.objects.filter(created_at__gte=start, created_at__lt=end).order_by().values("status")
        .annotate(n=Count("id")).values_list("status", "n")
    )
    # The backlog is "now", not "in the range": everything that waits for staff.
    open_backlog = Ticket.objects.filter(status__in=OPEN_STATUSES).count()
    median, p90 = _first_response_percentiles(start, end)
    return {
        "from": date_range.start,
        "to": date_range.end,
        "total": totals["total"],
        "per_day": [{"date": day, "count": per_day_rows.get(day, 0)} for day in date_range.days()],
        "sentiment": {key: totals[key] for key in ("negative", "neutral", "positive", "unknown")},
        "top_device_types": devices,
        "by_status": {value: by_status.get(value, 0) for value in Ticket.Status.values},
        "open_backlog": open_backlog,
        "answered": totals["answered"],
        "median_first_response_seconds": median,
        "p90_first_response_seconds": p90,
        "replies": {value: replies.get(value, 0) for value in OutboundEmail.Status.values},
    }


def _first_response_percentiles(start: dt.datetime, end: dt.datetime) -> tuple[float | None, float | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.9) WITHIN GROUP (ORDER BY s) "
            "FROM (SELECT EXTRACT(EPOCH FROM (first_response_at - created_at)) AS s FROM tickets_ticket "
            "WHERE created_at >= %s AND created_at < %s AND first_response_at IS NOT NULL) t",
            [start, end],
        )
        median, p90 = cursor.fetchone()
    return (round(float(median), 1) if median is not None else None,
            round(float(p90), 1) if p90 is not None else None)


def has_unsent_reply() -> Exists:
    """Annotation helper: the ticket has a reply queued or being sent."""
    return Exists(OutboundEmail.objects.filter(
        ticket=OuterRef("pk"), status__in=(OutboundEmail.Status.QUEUED, OutboundEmail.Status.SENDING)))


# --- mail HTML for display -----------------------------------------------------------------------

INTENT_LABELS = {
    "malfunction": "Неисправность",
    "calibration": "Поверка/калибровка",
    "documents": "Документы",
    "spare_parts": "Запчасти",
    "warranty": "Гарантия",
    "consultation": "Консультация",
    "thanks": "Благодарность",
    "other": "Другое",
}

INLINE_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
INLINE_IMAGES_MAX_BYTES = 3 * 1024 * 1024
_STYLE_PROPERTIES = {
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family", "text-align",
    "text-decoration", "vertical-align", "white-space", "border", "border-collapse", "padding", "margin",
    "width", "height", "line-height",
}
_DATA_IMAGE_RE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$")
_CID_RE = re.compile(r"""(src\s*=\s*["']?)cid:([^"'\s>]+)""", re.IGNORECASE)
# A policy for the iframe document itself: even if the sanitiser missed something, the mail
# cannot run scripts or load anything except the embedded (data:) images.
MAIL_FRAME_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'"


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "src":
        # Only embedded images: remote images would tell the sender the mail was read.
        return value if tag == "img" and _DATA_IMAGE_RE.match(value) else None
    if attr == "href":
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        return value if scheme in ("http", "https", "mailto", "tel") else None
    return value


_cleaner = None


def _get_cleaner():
    global _cleaner
    if _cleaner is None:
        import nh3

        attributes = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
        for tag in ("p", "div", "span", "table", "td", "th", "tr", "font", "a", "img", "li", "ul", "ol", "blockquote", "h1", "h2", "h3"):
            attributes.setdefault(tag, set()).add("style")
        attributes.setdefault("font", set()).update({"color", "face", "size"})
        attributes.setdefault("a", set()).add("title")
        tags = set(nh3.ALLOWED_TAGS) | {"font"}
        _cleaner = nh3.Cleaner(
            tags=tags,
            clean_content_tags={"script", "style"},
            attributes=attributes,
            attribute_filter=_attribute_filter,
            url_schemes={"http", "https", "mailto", "tel", "data"},
            filter_style_properties=_STYLE_PROPERTIES,
            set_tag_attribute_values={"a": {"target": "_blank"}},
            link_rel="noopener noreferrer nofollow",
        )
    return _cleaner


def inline_image_data_urls(message: Message) -> dict[str, str]:
    """``cid`` → ``data:`` URL for the message's inline images (bounded in total size)."""
    import base64

    urls, budget = {}, INLINE_IMAGES_MAX_BYTES
    for attachment in message.attachments.all():
        if not attachment.content_id or attachment.content_type.lower() not in INLINE_IMAGE_TYPES:
            continue
        if attachment.size > budget:
            continue
        try:
            with attachment.file.open("rb") as fh:
                data = fh.read(budget + 1)
        except OSError:
            continue
        budget -= len(data)
        cid = attachment.content_id.strip().strip("<>")
        urls[cid] = f"data:{attachment.content_type.lower()};base64,{base64.b64encode(data).decode()}"
    return urls


def mail_html_safe(html: str, cid_urls: dict[str, str] | None = None) -> str:
    """Sanitised mail HTML (nh3): no scripts, handlers, frames, forms, styles sheets, remote
    resources or ``javascript:`` links; ``cid:`` images become embedded ``data:`` URLs."""
    if not html:
        return ""
    if cid_urls:
        html = _CID_RE.sub(lambda m: m.group(1) + cid_urls.get(m.group(2).strip("<>"), ""), html)
    return _get_cleaner().clean(html)


def mail_frame_document(safe_html: str) -> str:
    """A whole document for an ``<iframe sandbox srcdoc>``: the sanitised HTML under a strict CSP."""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{MAIL_FRAME_CSP}">'
        '<style>body{font:14px/1.45 Arial,sans-serif;margin:8px;color:#222;word-wrap:break-word}'
        'img{max-width:100%;height:auto}</style></head>'
        f"<body>{safe_html}</body></html>"
    )
