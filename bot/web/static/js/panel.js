// The side panel showing one article (GET /v1/articles/{id}) with the cited passage highlighted and scrolled into
// view. The article text is untrusted: it is only ever inserted as text nodes.
import { apiJson, describeError } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let opener = null;
let request = 0;

/** Where `needle` sits in `text` ([start, end) in text's indices), ignoring whitespace; null when absent. */
export function locate(text, needle) {
  if (!needle) return null;
  const exact = text.indexOf(needle);
  if (exact >= 0) return [exact, exact + needle.length];
  const map = [];
  let squeezed = "";
  for (let i = 0; i < text.length; i++) {
    if (!/\s/.test(text[i])) {
      map.push(i);
      squeezed += text[i];
    }
  }
  const target = needle.replace(/\s+/g, "");
  if (!target) return null;
  const at = squeezed.indexOf(target);
  if (at < 0) return null;
  return [map[at], map[at + target.length - 1] + 1];
}

function metaLine(item) {
  const parts = [];
  if (item.publication) parts.push(`《${item.publication}》`);
  if (item.published) parts.push(item.published);
  if (item.page) parts.push(item.page);
  return parts.join(" ");
}

/** Paragraphs of `text` as <p> elements, the characters of each [start, end) of `ranges` wrapped in <mark>s. */
function paragraphs(text, ranges) {
  const out = [];
  const line = /[^\n]+/g;
  let match;
  while ((match = line.exec(text))) {
    const start = match.index;
    const end = start + match[0].length;
    if (!match[0].trim()) continue;
    const p = document.createElement("p");
    let at = start;
    for (const [a0, b0] of ranges) {
      const a = Math.max(a0, at);
      const b = Math.min(b0, end);
      if (a >= b) continue;
      p.append(document.createTextNode(text.slice(at, a)));
      const mark = document.createElement("mark");
      mark.className = "cited";
      mark.textContent = text.slice(a, b);
      p.append(mark);
      at = b;
    }
    p.append(document.createTextNode(text.slice(at, end)));
    out.push(p);
  }
  return out;
}

/** The clauses of `sentence` (split at Chinese and Latin punctuation) long enough to locate on their own. */
const MIN_CLAUSE_CHARS = 6;
function clausesOf(sentence) {
  return sentence.split(/[，,；;。！？!?：:（）()]/).map((c) => c.trim()).filter((c) => c.length >= MIN_CLAUSE_CHARS);
}

/**
 * The ranges of `text` to highlight: every one of `sentences` found in it; else their clauses found in it (a
 * reprint with another byline holds the cited clauses but not the whole sentence); else `passage` when found.
 */
function rangesFor(text, sentences, passage) {
  let found = sentences.map((s) => locate(text, s)).filter(Boolean);
  if (!found.length) found = sentences.flatMap(clausesOf).map((c) => locate(text, c)).filter(Boolean);
  if (!found.length && passage) {
    const range = locate(text, passage);
    if (range) found.push(range);
  }
  found.sort((x, y) => x[0] - y[0]);
  const merged = [];
  for (const r of found) {
    const prev = merged[merged.length - 1];
    if (prev && r[0] <= prev[1]) prev[1] = Math.max(prev[1], r[1]);
    else merged.push([...r]);
  }
  return merged;
}

/**
 * Open article `articleId` in the panel with the cited sentences highlighted (`cite.sentences`: the answer's
 * sentences citing it, found in the article verbatim when the answer is extractive; else the cited passage
 * `cite.passage`). Focus moves to the panel's title and returns to `from` when the panel closes.
 */
export async function openArticle(articleId, cite, from) {
  const mine = ++request;
  opener = from || document.activeElement;
  const panel = $("panel");
  const body = $("panel-body");
  const note = $("panel-note");
  $("panel-title").textContent = t("panel.loading");
  $("panel-meta").textContent = "";
  note.textContent = "";
  body.replaceChildren();
  panel.hidden = false;
  document.body.classList.add("panel-open");
  $("panel-title").focus();
  let article;
  try {
    ({ data: article } = await apiJson(`/v1/articles/${encodeURIComponent(articleId)}`));
  } catch (err) {
    if (mine === request) $("panel-title").textContent = describeError(err);
    return;
  }
  if (mine !== request) return;
  $("panel-title").textContent = article.title || article.article_id;
  $("panel-meta").textContent = [metaLine(article), t("panel.source", { source: article.source })]
    .filter(Boolean).join(" · ");
  const ranges = cite ? rangesFor(article.text, cite.sentences || [], cite.passage) : [];
  body.replaceChildren(...paragraphs(article.text, ranges));
  if (cite) note.textContent = ranges.length ? t("panel.highlight") : t("panel.notFound");
  const first = body.querySelector("mark.cited");
  if (first) scrollWithin(panel, first);
}

/** Scroll `panel` (not the page) so that `target` sits in its upper third. */
function scrollWithin(panel, target) {
  let top = 0;
  for (let node = target; node && node !== panel; node = node.offsetParent) top += node.offsetTop;
  panel.scrollTop = Math.max(0, top - panel.clientHeight / 3);
}

export function closePanel() {
  $("panel").hidden = true;
  document.body.classList.remove("panel-open");
  if (opener && document.contains(opener)) opener.focus();
  opener = null;
}

export function setupPanel() {
  $("panel-close").addEventListener("click", closePanel);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("panel").hidden) closePanel();
  });
}

export { metaLine };
