"""Render the sample manuals (``manuals.py``) to PDF with a Cyrillic TrueType font.

Run once, commit the PDFs: the site and the tests read the PDFs and need no fonts.

    pip install reportlab==5.1.0
    python knowledge/sample_kb/make_pdfs.py [--font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian: fonts-dejavu-core


def render(manual: dict, out: Path, font_path: str) -> None:
    from reportlab import rl_config
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    rl_config.invariant = 1  # same bytes on every run: stable hashes, quiet diffs
    if "KB" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("KB", font_path))
    styles = {
        "h1": ParagraphStyle("h1", fontName="KB", fontSize=15, leading=19, spaceAfter=8),
        "h2": ParagraphStyle("h2", fontName="KB", fontSize=12.5, leading=16, spaceBefore=4, spaceAfter=6),
        "p": ParagraphStyle("p", fontName="KB", fontSize=10.5, leading=14, spaceAfter=5),
    }

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("KB", 8)
        canvas.drawString(20 * mm, 10 * mm, f"{manual['title']} — стр. {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(out), pagesize=A4, title=manual["title"], author="Энигма (демонстрационная база знаний)",
        leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
    )
    story = []
    for number, page in enumerate(manual["pages"]):
        if number:
            story.append(PageBreak())
        for kind, text in page:
            story.append(Paragraph(text, styles[kind]))
        story.append(Spacer(1, 4))
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


def check(manual: dict, out: Path) -> None:
    """Each manual page must land on its own PDF page (questions.json relies on it)."""
    from pypdf import PdfReader

    reader = PdfReader(str(out))
    if len(reader.pages) != len(manual["pages"]):
        raise SystemExit(f"{out.name}: {len(reader.pages)} PDF pages for {len(manual['pages'])} manual pages")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--font", default=DEFAULT_FONT)
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from manuals import MANUALS

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for manual in MANUALS:
        target = out_dir / manual["file"]
        render(manual, target, args.font)
        check(manual, target)
        print(f"{target}: {len(manual['pages'])} pages")


if __name__ == "__main__":
    main()
