// The archive view: articles by date and publication (GET /v1/articles), newest first, page by page.
import { apiJson, describeError } from "./api.js";
import { t } from "./i18n.js";
import { openArticle } from "./panel.js";

const $ = (id) => document.getElementById(id);
const LIMIT = 20;
let offset = 0;

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text || "";
  return td;
}

export async function loadArchive(newOffset = offset) {
  offset = Math.max(0, newOffset);
  const params = new URLSearchParams({ offset: String(offset), limit: String(LIMIT) });
  for (const name of ["since", "until", "publication"]) {
    const value = $(`archive-${name}`).value.trim();
    if (value) params.set(name, value);
  }
  const status = $("archive-status");
  let page;
  try {
    ({ data: page } = await apiJson(`/v1/articles?${params}`));
  } catch (err) {
    status.textContent = describeError(err);
    return;
  }
  const rows = page.items.map((item) => {
    const tr = document.createElement("tr");
    const title = document.createElement("td");
    const link = document.createElement("a");
    link.href = `#article-${item.article_id}`;
    link.textContent = item.title || item.source;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      openArticle(item.article_id, null, link);
    });
    title.append(link);
    tr.append(cell(item.published || t("archive.undated")), cell(item.publication), cell(item.page), title);
    return tr;
  });
  $("archive-rows").replaceChildren(...rows);
  const pages = Math.max(1, Math.ceil(page.total / LIMIT));
  status.textContent = page.total
    ? t("archive.pageInfo", { page: Math.floor(offset / LIMIT) + 1, pages, total: page.total })
    : t("archive.empty");
  $("archive-prev").disabled = offset === 0;
  $("archive-next").disabled = offset + LIMIT >= page.total;
}

export function setupArchive() {
  $("archive-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadArchive(0);
  });
  $("archive-prev").addEventListener("click", () => loadArchive(offset - LIMIT));
  $("archive-next").addEventListener("click", () => loadArchive(offset + LIMIT));
}
