"""Metadata at ingest: every source (sidecar, front matter, HTML, path, PDF, masthead), precedence, provenance,
event dates on chunks, and an ingest against a real Chroma store (sidecar change re-ingests the file)."""

from __future__ import annotations

import io
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from pypdf import PdfWriter

from bot.service import build_service
from ingest.loaders import LoadError, load_text
from ingest.masthead import read_masthead
from ingest.metadata import (
    PageMeta,
    file_fingerprint,
    html_metadata,
    normalise_page,
    path_metadata,
    pdf_metadata,
    source_metadata,
)
from ingest.work import build_file_work
from rag.settings import DEFAULT_PATH_PATTERNS, Settings
from tests.conftest import SAMPLE_ARTICLES, make_settings

REPORT = textwrap.dedent(
    """\
    郏县新建智慧图书馆

    本报讯(记者李明)12月29日上午,郏县智慧图书馆正式开馆,馆内藏书达到58000册,设有阅览座位420个。

    该馆由县文化广电和旅游局建设,2021年总投资2600万元。
    """
)


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _meta(path: Path, name: str | None = None, text: str = REPORT, settings: Settings | None = None) -> PageMeta:
    meta, _text = source_metadata(path, name or path.name, text, settings or _settings())
    return meta


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _pdf(metadata: dict[str, str]) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata(metadata)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- sidecar and front matter ------------------------------------------------------------------------------


def test_sidecar_json_gives_fields_with_provenance(tmp_path: Path) -> None:
    page = _write(tmp_path / "001.txt", REPORT)
    _write(tmp_path / "001.txt.meta.json", json.dumps(
        {"publication": "《平顶山日报》", "published": "2021-12-31T06:00:00+08:00", "page": "01", "editor": "x"}))
    meta = _meta(page)
    assert meta.values == {"publication": "平顶山日报", "published": "2021-12-31", "page": "第1版"}
    assert meta.record() == {"published": "2021-12-31", "published_from": "sidecar", "publication": "平顶山日报",
                             "publication_from": "sidecar", "page": "第1版", "page_from": "sidecar",
                             "published_day": 20211231}


def test_stem_sidecar_is_accepted_and_null_means_unknown(tmp_path: Path) -> None:
    page = _write(tmp_path / "002.txt", REPORT)
    _write(tmp_path / "002.meta.json", '{"publication": "焦作日报", "published": null}')
    assert _meta(page).record() == {"publication": "焦作日报", "publication_from": "sidecar", "published_day": 0}


@pytest.mark.parametrize(("content", "reason"), [
    ("{publication: 焦作日报", "not valid JSON"),
    ('["焦作日报"]', "must be an object"),
    ('{"published": "2021-13-45"}', "is not a date"),
])
def test_bad_sidecar_is_a_failure_naming_it(tmp_path: Path, content: str, reason: str) -> None:
    page = _write(tmp_path / "sub" / "003.txt", REPORT)
    _write(tmp_path / "sub" / "003.txt.meta.json", content)
    with pytest.raises(LoadError, match=reason) as err:
        _meta(page, "sub/003.txt")
    assert str(err.value).startswith("sub/003.txt.meta.json: ")


def test_front_matter_in_markdown_is_metadata_and_is_taken_off(tmp_path: Path) -> None:
    page = _write(tmp_path / "a.md", "---\npublication: 焦作日报\npublished: 2020-11-21\npage: A03\n---\n" + REPORT)
    meta, text = source_metadata(page, "a.md", load_text(page), _settings())
    assert meta.values == {"publication": "焦作日报", "published": "2020-11-21", "page": "A03版"}
    assert meta.sources == dict.fromkeys(("publication", "published", "page"), "sidecar")
    assert text == REPORT
    # A .meta.json sidecar wins over the front matter, field by field.
    _write(tmp_path / "a.md.meta.json", '{"published": "2020-11-22"}')
    assert _meta(page, text=load_text(page)).values == {
        "published": "2020-11-22", "publication": "焦作日报", "page": "A03版"}


def test_bad_front_matter_names_the_file_and_text_without_it_is_untouched(tmp_path: Path) -> None:
    page = _write(tmp_path / "b.md", "---\npublished: [2020\n---\n" + REPORT)
    with pytest.raises(LoadError, match=r"^b\.md: front matter is not valid YAML"):
        _meta(page, text=load_text(page))
    plain = _write(tmp_path / "c.md", "标题\n\n---\n\npublished: 2020-01-01\n")
    meta, text = source_metadata(plain, "c.md", load_text(plain), _settings())
    assert meta.values == {} and text == load_text(plain)  # a rule later in the text is no front matter


# --- HTML, path, PDF ---------------------------------------------------------------------------------------

HTML = """<html><head><meta charset="utf-8">
<meta property="og:site_name" content="焦作网">{extra}
<title>标题</title></head><body><h1>标题</h1><p>正文</p>{body}</body></html>"""


def test_html_meta_tags_and_time_element() -> None:
    tagged = HTML.format(extra='<meta property="article:published_time" content="2020-11-21T09:00:00+08:00">'
                               '<meta name="PubDate" content="2020-11-19">', body="<time datetime='2020-11-18'>x</time>")
    assert html_metadata(tagged.encode()) == {"published": "2020-11-21", "publication": "焦作网"}
    pubdate = HTML.format(extra='<meta name="PubDate" content="2020/11/19 10:00">', body="")
    assert html_metadata(pubdate.encode())["published"] == "2020-11-19"
    timed = HTML.format(extra="", body="<time datetime='bogus'>x</time><time datetime='2020-11-18T10:00'>y</time>")
    assert html_metadata(timed.encode())["published"] == "2020-11-18"
    assert html_metadata(b"<html><body><p>2020-11-18</p></body></html>") == {}  # text is no metadata


@pytest.mark.parametrize(("relative", "expected"), [
    ("平顶山日报/2021-12-31/01.txt", {"publication": "平顶山日报", "published": "2021-12-31", "page": "01"}),
    ("archive/平顶山日报/2021-12-31/A03_要闻.txt",
     {"publication": "平顶山日报", "published": "2021-12-31", "page": "A03"}),
    ("2021-12-31_焦作日报_A03.pdf", {"publication": "焦作日报", "published": "2021-12-31", "page": "A03"}),
    ("2021-12-31_焦作日报.pdf", {"publication": "焦作日报", "published": "2021-12-31"}),
    ("2021/12/31/page.txt", {"published": "2021-12-31"}),
    ("scans/2021-12-31/01.txt", {"published": "2021-12-31"}),  # a folder without a Chinese name is no paper
    ("pages/jz20211231a.txt", {"published": "2021-12-31"}),
    ("pages/20211231/a.txt", {"published": "2021-12-31"}),
    ("平顶山日报/2021-13-45/01.txt", {}),
    ("20211345.txt", {}),
    ("000_a17aea0bf2d75ea6.txt", {}),
])
def test_default_path_patterns(relative: str, expected: dict[str, str]) -> None:
    assert path_metadata(relative, DEFAULT_PATH_PATTERNS) == expected


def test_path_metadata_on_articles_is_normalised_with_provenance(tmp_path: Path) -> None:
    page = _write(tmp_path / "平顶山日报" / "2021-12-31" / "05.txt", REPORT)
    assert _meta(page, "平顶山日报/2021-12-31/05.txt").record() == {
        "published": "2021-12-31", "published_from": "path", "publication": "平顶山日报", "publication_from": "path",
        "page": "第5版", "page_from": "path", "published_day": 20211231}


def test_custom_path_pattern_through_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_PATH_PATTERNS", json.dumps([r"^(?P<publication>[a-z]+)-(?P<year>\d{4})(?P<month>\d\d)"
                                                           r"(?P<day>\d\d)-p(?P<page>\d+)\."]))
    settings = _settings()
    page = _write(tmp_path / "jzrb-20201121-p3.txt", REPORT)
    assert _meta(page, settings=settings).values == {"publication": "jzrb", "published": "2020-11-21", "page": "第3版"}
    monkeypatch.setenv("NEWSQA_PATH_PATTERNS", '["(unclosed"]')
    with pytest.raises(ValueError, match="NEWSQA_PATH_PATTERNS: '\\(unclosed' is not a regular expression"):
        _settings()


def test_pdf_metadata_custom_keys_then_creation_date(tmp_path: Path) -> None:
    created = _pdf({"/CreationDate": "D:20211230220000+08'00'", "/Title": "x"})
    assert pdf_metadata(created) == {"published": "2021-12-30"}
    custom = _pdf({"/CreationDate": "D:20211230220000+08'00'", "/Publication": "平顶山日报", "/Published": "2021-12-31",
                   "/Page": "A3"})
    assert pdf_metadata(custom) == {"publication": "平顶山日报", "published": "2021-12-31", "page": "A3"}
    assert pdf_metadata(b"%PDF-1.4 broken") == {}
    page = tmp_path / "scan.pdf"
    page.write_bytes(created)
    assert _meta(page).sources == {"published": "pdf"}
    dated_path = tmp_path / "2021-12-31_焦作日报_02.pdf"
    dated_path.write_bytes(created)
    assert _meta(dated_path).record() == {  # the path's date wins over the PDF's
        "published": "2021-12-31", "published_from": "path", "publication": "焦作日报", "publication_from": "path",
        "page": "第2版", "page_from": "path", "published_day": 20211231}


# --- masthead ----------------------------------------------------------------------------------------------


def test_masthead_lines_give_date_page_and_paper() -> None:
    page = "平顶山日报\n2021年12月31日 星期五 农历十一月廿八\n第05版 要闻\n\n## 强县富民争出彩\n正文，正文。"
    assert read_masthead(page) == {"publication": "平顶山日报", "published": "2021-12-31", "page": "第5版"}
    assert read_masthead("## 《焦作日报》 A3版\n2020年11月21日（周六）\n标题") == {
        "publication": "焦作日报", "page": "A3版", "published": "2020-11-21"}
    assert read_masthead("2021年12月31日 农历十一月廿八\n第四版")["published"] == "2021-12-31"
    assert read_masthead("第四版\n")["page"] == "第4版"


def test_masthead_is_not_taken_from_body_text() -> None:
    body = ("## 我市召开推进会\n本报讯(记者邓帆)2020年11月20日 星期五上午,全市推进会召开。\n"
            "2021年12月31日\n(见今日第四版)\n本报\n情况通报\n光荣榜\n")
    assert read_masthead(body) == {}
    late = "\n".join(f"第{n}段" for n in range(1, 16)) + "\n平顶山日报\n2021年12月31日 星期五\n"
    assert read_masthead(late) == {}  # below the top lines of the page
    for sample in sorted(SAMPLE_ARTICLES.glob("*.txt")):  # the sample pages print no masthead
        assert read_masthead(load_text(sample)) == {}, sample.name


@pytest.mark.parametrize(("label", "page"), [
    ("1", "第1版"), ("01", "第1版"), ("第05版", "第5版"), ("第十二版", "第12版"), ("a3", "A3版"), ("A03版", "A03版"),
    ("要闻", "要闻"), (3, "第3版"), ("  ", None),
])
def test_page_labels_are_normalised(label: object, page: str | None) -> None:
    assert normalise_page(label) == page


# --- precedence, provenance, event dates on chunks ---------------------------------------------------------


def test_precedence_is_per_field(tmp_path: Path) -> None:
    html = HTML.format(extra='<meta name="pubdate" content="2020-11-21">', body="")
    page = _write(tmp_path / "平顶山日报" / "2020-11-20" / "07.html", html)
    _write(tmp_path / "平顶山日报" / "2020-11-20" / "07.html.meta.json", '{"page": "A1"}')
    meta = _meta(page, "平顶山日报/2020-11-20/07.html")
    assert meta.values == {"page": "A1版", "published": "2020-11-21", "publication": "焦作网"}
    assert meta.sources == {"page": "sidecar", "published": "html", "publication": "html"}
    # Page text fills only what the file sources left unknown.
    work = build_file_work("p.txt", "sha", "大河报\n2019年1月1日 星期二\n第9版\n" + REPORT, _settings(), meta)
    article = work.articles[0]
    assert (article["published"], article["published_from"], article["page"]) == ("2020-11-21", "html", "A1版")
    assert (article["publication"], article["publication_from"]) == ("焦作网", "html")
    masthead_only = build_file_work("p.txt", "sha", "大河报\n2019年1月1日 星期二\n第9版\n" + REPORT, _settings())
    assert {k: masthead_only.articles[0][k] for k in ("published", "publication", "page", "published_from")} == {
        "published": "2019-01-01", "publication": "大河报", "page": "第9版", "published_from": "masthead"}


def test_unknown_metadata_is_left_out_and_published_day_is_zero() -> None:
    work = build_file_work("p.txt", "sha", REPORT, _settings())
    for record in [*work.articles, *(n.metadata for n in work.nodes)]:
        assert record["published_day"] == 0
        assert not {"published", "publication", "page", "published_from", "dated_by"} & record.keys()
    chunk = work.nodes[0].metadata
    assert chunk["event_dates"] == "" and chunk["event_min"] == 20210101 and chunk["event_max"] == 20211231
    assert all(isinstance(v, (str, int, float, bool)) for n in work.nodes for v in n.metadata.values())


def test_chunks_carry_event_dates_resolved_against_the_publication_date() -> None:
    meta = PageMeta()
    meta.add("sidecar", {"published": "2022-01-02", "publication": "郏县报"})
    work = build_file_work("p.txt", "sha", REPORT, _settings(), meta)
    chunk = work.nodes[0].metadata
    assert chunk["published"] == "2022-01-02" and chunk["published_day"] == 20220102
    assert chunk["publication"] == "郏县报" and chunk["publication_from"] == "sidecar"
    assert chunk["event_dates"] == "2021-12-29"  # 12月29日 in a paper of 2022-01-02
    assert (chunk["event_min"], chunk["event_max"]) == (20210101, 20211231)  # with 2021年


def test_dateline_and_lead_count_as_page_text() -> None:
    text = "来源：中国新闻网 | 2023年08月16日 10:05:36，正文：中新网兰州8月16日电 (记者 李明)兰州市今天发布通知。"
    article = build_file_work("r.txt", "sha", text, _settings()).articles[0]
    assert (article["published"], article["published_from"]) == ("2023-08-16", "dateline")
    assert (article["publication"], article["publication_from"]) == ("中国新闻网", "dateline")
    lead = build_file_work("r.txt", "sha", "中新网兰州8月16日电 (记者 李明)兰州市今天发布通知。", _settings())
    assert (lead.articles[0]["publication"], lead.articles[0]["publication_from"]) == ("中新网", "lead")
    assert "published" not in lead.articles[0]  # 8月16日 is no publication date


def test_fingerprint_folds_in_the_sidecar(tmp_path: Path) -> None:
    page = _write(tmp_path / "a.txt", REPORT)
    data = page.read_bytes()
    plain = file_fingerprint(page, data)
    _write(tmp_path / "a.txt.meta.json", '{"published": "2021-12-31"}')
    with_sidecar = file_fingerprint(page, data)
    assert with_sidecar.startswith(plain + "+") and with_sidecar != plain
    _write(tmp_path / "a.txt.meta.json", '{"published": "2022-01-01"}')
    assert file_fingerprint(page, data) not in (plain, with_sidecar)


# --- ingest ------------------------------------------------------------------------------------------------


def _chunk_metas(service) -> list[dict]:  # noqa: ANN001
    return [m for _ids, _texts, metas in service.store.iter_chunks() for m in metas]


def test_ingest_stores_the_fields_and_a_changed_sidecar_reingests(tmp_path: Path, packaged_model_path: str,
                                                                   packaged_embedder) -> None:  # noqa: ANN001
    articles = tmp_path / "articles"
    _write(articles / "平顶山日报" / "2021-12-31" / "01.txt", REPORT)
    shutil.copy(SAMPLE_ARTICLES / "002_2e775c1fab223d6b.txt", articles / "002.txt")
    shutil.copy(SAMPLE_ARTICLES / "002_2e775c1fab223d6b.txt.meta.json", articles / "002.txt.meta.json")
    _write(articles / "bad.txt", REPORT.replace("58000册", "1000册"))
    _write(articles / "bad.txt.meta.json", "{not json")
    service = build_service(make_settings(tmp_path, packaged_model_path), embedder=packaged_embedder)
    first = service.ingest()
    assert (first.files_new, first.files_failed) == (2, 1)
    assert first.failures["bad.txt"].startswith("bad.txt.meta.json: sidecar is not valid JSON")
    assert first.articles_total > first.articles_dated == 1  # only the dated page's one article
    metas = _chunk_metas(service)
    assert {m["source"] for m in metas} == {"平顶山日报/2021-12-31/01.txt", "002.txt"}  # no sidecar as an article
    dated = [m for m in metas if m["source"].endswith("01.txt")]
    assert dated and all(m["published"] == "2021-12-31" and m["published_day"] == 20211231
                         and m["published_from"] == "path" and m["page"] == "第1版" for m in dated)
    assert "2021-12-29" in {d for m in dated for d in m["event_dates"].split()}
    jiaozuo = [m for m in metas if m["source"] == "002.txt"]
    assert all(m["publication"] == "焦作日报" and m["publication_from"] == "sidecar" and m["published_day"] == 0
               and "published" not in m for m in jiaozuo)

    assert service.ingest().files_unchanged == 2
    _write(articles / "002.txt.meta.json", '{"publication": "焦作日报", "published": "2020-11-21"}')
    changed = service.ingest()
    assert (changed.files_changed, changed.files_unchanged, changed.chunks_embedded) == (1, 1, 0)  # text unchanged
    jiaozuo = [m for m in _chunk_metas(service) if m["source"] == "002.txt"]
    assert jiaozuo and all(m["published"] == "2020-11-21" and m["published_day"] == 20201121 for m in jiaozuo)
    assert any("2020-11-20" in m["event_dates"].split() for m in jiaozuo)  # 11月20日 now resolves
    (articles / "002.txt.meta.json").unlink()
    removed = service.ingest()
    assert removed.files_changed == 1
    assert all("publication" not in m for m in _chunk_metas(service) if m["source"] == "002.txt")
    service.close()
