// The chat view: ask (streamed answer), [n] markers linked to source cards, refusals, confidence, 👍/👎 feedback,
// follow-ups within one conversation and a "new conversation" button. Answers and titles are untrusted text: they
// are inserted with textContent / text nodes only.
import { ApiError, apiJson, describeError, streamAsk } from "./api.js";
import { t } from "./i18n.js";
import { metaLine, openArticle } from "./panel.js";

const $ = (id) => document.getElementById(id);
const MARKER = /\[(\d+)\]/g;
let conversationId = newConversationId();
let turns = 0;
let busy = false;

function newConversationId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12)); // randomUUID needs a secure context; this does not
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The archive filter of the form: {since, until, publication} with empty fields left out. */
export function currentFilter() {
  const out = {};
  for (const name of ["since", "until", "publication"]) {
    const value = $(name).value.trim();
    if (value) out[name] = value;
  }
  return out;
}

/** The answer's sentences citing source `id`: the text before each [id] (back to the previous marker). */
function citedSentences(text, id) {
  const out = [];
  let last = 0;
  let pending = "";
  for (const match of text.matchAll(MARKER)) {
    const segment = text.slice(last, match.index).trim();
    if (segment) pending = segment;
    if (Number(match[1]) === id && pending && !out.includes(pending)) out.push(pending);
    last = match.index + match[0].length;
  }
  return out;
}

function openLink(link, articleId, cite) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    openArticle(articleId, cite(), link);
  });
  return link;
}

/** A link to source `citation`: a [n] marker (`sentence`: the text it ends) or the title on its card. */
function citationLink(turn, citation, label, sentence, answerText) {
  const link = el("a", label ? "marker" : "card-title", label || citation.title || citation.source);
  link.href = `#src-${turn}-${citation.id}`;
  if (label) link.setAttribute("aria-label", t("chat.citationLink", { n: citation.id, title: citation.title }));
  return openLink(link, citation.article_id, () => ({
    sentences: label ? [sentence].filter(Boolean) : citedSentences(answerText(), citation.id),
    passage: citation.text,
  }));
}

/** Answer text as text nodes, with each [n] of a known citation turned into a link. */
function renderAnswer(node, text, citations, turn) {
  const byId = new Map(citations.map((c) => [c.id, c]));
  const parts = [];
  let last = 0;
  let sentence = "";
  for (const match of text.matchAll(MARKER)) {
    const citation = byId.get(Number(match[1]));
    const segment = text.slice(last, match.index);
    if (segment.trim()) sentence = segment.trim();
    if (!citation) continue;
    parts.push(document.createTextNode(segment));
    parts.push(citationLink(turn, citation, match[0], sentence));
    last = match.index + match[0].length;
  }
  parts.push(document.createTextNode(text.slice(last)));
  node.replaceChildren(...parts);
}

function renderSources(list, citations, turn, answerText) {
  list.replaceChildren(...citations.map((c) => {
    const card = el("li", "card");
    card.id = `src-${turn}-${c.id}`;
    card.append(el("span", "card-num", `[${c.id}]`), citationLink(turn, c, "", "", answerText));
    const meta = metaLine(c);
    if (meta) card.append(el("span", "card-meta", meta));
    if (c.also && c.also.length) {
      const also = el("span", "card-also", t("chat.also") + "：");
      c.also.forEach((copy, i) => {
        if (i) also.append(document.createTextNode("；"));
        const link = el("a", "also-link", [copy.title, metaLine(copy)].filter(Boolean).join(" "));
        link.href = `#also-${copy.article_id}`;
        also.append(openLink(link, copy.article_id, () => ({
          sentences: citedSentences(answerText(), c.id), passage: c.text })));
      });
      card.append(also);
    }
    return card;
  }));
}

function feedbackBar(answer, answerId) {
  const bar = el("div", "feedback");
  const status = el("span", "feedback-status");
  status.setAttribute("role", "status");
  for (const vote of ["up", "down"]) {
    const button = el("button", "vote", t(`feedback.${vote}`));
    button.type = "button";
    button.dataset.vote = vote;
    button.setAttribute("aria-label", t(`feedback.${vote}Label`));
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", async () => {
      try {
        await apiJson("/v1/feedback", { method: "POST", body: {
          vote, answer, answer_id: answerId || undefined, conversation_id: conversationId, channel: "web" } });
        for (const b of bar.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
        status.textContent = t("feedback.thanks");
      } catch (err) {
        status.textContent = t("feedback.failed", { message: describeError(err) });
      }
    });
    bar.append(button);
  }
  bar.append(status);
  return bar;
}

async function ask(question) {
  const turn = ++turns;
  const item = el("li", "turn");
  const q = el("p", "question");
  q.append(el("span", "who", t("chat.you")), document.createTextNode(question));
  const box = el("div", "answer pending");
  const head = el("p", "answer-head", t("chat.thinking"));
  const text = el("p", "answer-text");
  const meta = el("p", "answer-meta");
  const sources = el("ol", "sources");
  sources.setAttribute("aria-label", t("chat.sources"));
  box.append(head, text, meta, sources);
  box.setAttribute("aria-busy", "true"); // screen readers read the answer once it is complete, not every delta
  item.append(q, box);
  $("log").append(item);
  $("empty").hidden = true;
  item.scrollIntoView({ block: "end" });

  let citations = [];
  let streamed = "";
  try {
    const answerId = await streamAsk({ question, conversation_id: conversationId, ...currentFilter() }, {
      citations(event) {
        citations = event.citations;
        renderSources(sources, citations, turn, () => streamed);
      },
      delta(piece) {
        streamed += piece;
        head.textContent = t("chat.answer");
        renderAnswer(text, streamed, citations, turn);
      },
      done(answer) {
        citations = answer.citations || [];
        box.classList.remove("pending");
        box.removeAttribute("aria-busy");
        if (answer.found) {
          head.textContent = t("chat.answer");
          renderAnswer(text, answer.answer, citations, turn);
          renderSources(sources, citations, turn, () => answer.answer);
        } else {
          box.classList.add("refusal");
          head.textContent = t("chat.refusal");
          text.textContent = answer.answer;
          sources.replaceChildren();
        }
        if (answer.confidence !== null && answer.confidence !== undefined) {
          meta.textContent = t("chat.confidence", { value: Math.round(answer.confidence * 100) });
        }
        box.dataset.answer = "done";
        item.answer = answer;
      },
    });
    if (item.answer) box.append(feedbackBar(item.answer, answerId));
  } catch (err) {
    box.classList.remove("pending");
    box.removeAttribute("aria-busy");
    box.classList.add("failed");
    head.textContent = describeError(err);
    if (err instanceof ApiError && (err.code === "missing_api_key" || err.code === "invalid_api_key")) {
      document.dispatchEvent(new CustomEvent("newsqa:auth", { detail: describeError(err) }));
    }
  }
}

export function setupChat() {
  const form = $("ask-form");
  const input = $("question");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || busy) return;
    busy = true;
    form.setAttribute("aria-busy", "true");
    input.value = "";
    try {
      await ask(question);
    } finally {
      busy = false;
      form.removeAttribute("aria-busy");
    }
  });
  input.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an IME candidate (拼音) must not send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("new-conversation").addEventListener("click", () => {
    conversationId = newConversationId();
    $("log").replaceChildren();
    $("empty").hidden = false;
    $("chat-status").textContent = t("chat.newConversationDone");
    input.focus();
  });
}
