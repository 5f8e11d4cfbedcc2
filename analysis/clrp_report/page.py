"""The report's HTML page: a status line first (an unfinished campaign says so
before anything else), the tables overview, then one section per figure with
its caption and the CSV of its numbers. Static HTML and PNGs, no scripts, so
it opens from disk anywhere."""
from __future__ import annotations

import html
import os
import pathlib

import pandas as pd

from .load import incomplete

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}
.status{padding:.8em 1em;border-radius:6px;font-weight:600;margin:1em 0}
.unfinished{background:#fde2e1;border:2px solid #c0392b}
.finished{background:#e3f4e1;border:2px solid #2e7d32}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.empty{color:#888;font-style:italic}
img{max-width:100%;border:1px solid #ddd}.note{color:#555}figure{margin:0}
"""


def status_html(tables: pd.DataFrame) -> str:
    planned, stored, failed = (int(tables[c].sum()) for c in ("planned", "committed", "failed"))
    answered, items = int(tables["evaluated"].sum()), int(tables["planned_evaluations"].sum())
    open_ = tables[incomplete(tables)]
    if len(open_):
        which = ", ".join(f"{r.model}/{r.checkpoint}/{r.benchmark} ({r.committed}/{r.planned}"
                          + (f", items {r.evaluated}/{r.planned_evaluations}" if r.planned_evaluations else "")
                          + ")" for r in open_.head(6).itertuples())
        more = f" and {len(open_) - 6} more" if len(open_) > 6 else ""
        evaluating = (f"; {answered} of {items} benchmark items are answered (the failures are explained once "
                      "every item is)" if answered < items else "")
        return (f'<div class="status unfinished" id="status">UNFINISHED CAMPAIGN: {stored} of {planned} planned '
                f"cases are stored ({failed} failed){evaluating}; {len(open_)} of {len(tables)} tables are "
                f"incomplete: {html.escape(which)}{more}. Figures describe the stored cases only; run the campaign "
                f"again with --resume (or merge the other array tasks' stores) for the full report.</div>")
    return (f'<div class="status finished" id="status">Finished campaign: {stored} cases in {len(tables)} tables'
            f"{f', {failed} could not be explained' if failed else ''}.</div>")


def findings_html(findings: pd.DataFrame) -> str:
    """The headline findings (findings.py), each a sentence written from the numbers, with the
    figure it comes from."""
    if findings.empty:
        return ('<section id="findings"><h2>Findings</h2><p class="empty">No finding yet: the store holds no '
                "explained failure with faithfulness curves or outcomes.</p></section>")
    items = "".join(f'<li>{html.escape(r.text)} <span class=note>({html.escape(r.source)}; '
                    f'<a href="data/findings.csv">data/findings.csv</a>)</span></li>' for r in findings.itertuples())
    return f'<section id="findings"><h2>Findings</h2><ul>{items}</ul></section>'


def tables_html(tables: pd.DataFrame) -> str:
    rows = []
    for r, open_ in zip(tables.itertuples(), incomplete(tables)):
        cls = ' class="empty"' if r.committed == 0 else ""
        note = "incomplete" if open_ else ("empty" if r.committed == 0 else "")
        rows.append(f"<tr{cls}><td class=l>{html.escape(r.model)}</td><td class=l>{html.escape(r.checkpoint)}</td>"
                    f"<td class=l>{html.escape(r.benchmark)}</td><td>{r.committed}</td><td>{r.planned}</td>"
                    f"<td>{r.failed}</td><td>{r.layers}</td><td class=l>{note}</td></tr>")
    return ("<table><tr><th class=l>model</th><th class=l>checkpoint</th><th class=l>benchmark</th>"
            "<th>stored</th><th>planned</th><th>failed</th><th>layers</th><th class=l></th></tr>"
            + "".join(rows) + "</table>")


def frame_html(df: pd.DataFrame, columns: list[str]) -> str:
    """A small table of `columns` of `df` (numbers to 3 significant digits; text left-aligned)."""
    if df.empty:
        return ""
    head = "".join(f"<th{' class=l' if df[c].dtype == object else ''}>{html.escape(c)}</th>" for c in columns)
    rows = []
    for r in df[columns].itertuples(index=False):
        cells = []
        for v in r:
            if isinstance(v, str):
                cells.append(f"<td class=l>{html.escape(v)}</td>")
            else:
                cells.append(f"<td>{'' if pd.isna(v) else f'{v:.3g}'}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def section(title: str, anchor: str, caption: str, image: str | None, csv: str | None, why_empty: str) -> str:
    body = f'<section id="{anchor}"><h2>{html.escape(title)}</h2>'
    if image:
        body += f'<figure><img src="{image}" alt="{html.escape(title)}"><figcaption class=note>{caption}'
        body += f' Numbers: <a href="{csv}">{csv}</a>.' if csv else ""
        body += "</figcaption></figure>"
    else:
        body += f'<p class="empty">{html.escape(why_empty)}</p>'
    return body + "</section>"


def links_html(files: list[pathlib.Path], out_dir: pathlib.Path, what: str, where: pathlib.Path | None) -> str:
    if not files:
        return f'<p class="empty">No {what} found{f" in {html.escape(str(where))}" if where else ""}.</p>'
    items = "".join(f'<li><a href="{html.escape(os.path.relpath(p, out_dir))}">'
                    f'{html.escape(os.path.relpath(p, where) if where else p.name)}</a></li>' for p in files[:500])
    more = f"<p class=note>… and {len(files) - 500} more.</p>" if len(files) > 500 else ""
    return f"<ul>{items}</ul>{more}"


def page(title: str, parts: list[str]) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>" + "".join(parts) + "</body></html>")
