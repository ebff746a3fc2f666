// newsqa web page: start-up and navigation.
//
// Plain modern JavaScript (ES modules, fetch, streams), no framework and no build step: the page is a handful of
// views over a small REST API, so a framework would add a vendored dependency and a second way to render without
// saving much code; and building the DOM with textContent everywhere keeps the rule that untrusted text (answers,
// titles, article text) is never parsed as HTML easy to check. Everything is served from this origin under a
// Content-Security-Policy without inline scripts.
import { setupAdmin } from "./admin.js";
import { ApiError, apiJson, describeError, keys } from "./api.js";
import { loadArchive, setupArchive } from "./archive.js";
import { setupChat } from "./chat.js";
import { applyLabels, t } from "./i18n.js";
import { setupPanel } from "./panel.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["chat", "archive", "admin", "settings"];

function show(view) {
  for (const name of VIEWS) {
    $(`view-${name}`).hidden = name !== view;
    const tab = $(`tab-${name}`);
    if (name === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (view === "archive") loadArchive(0);
}

function notice(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = !text;
}

async function loadPublications() {
  let rows;
  try {
    ({ data: { publications: rows } } = await apiJson("/v1/publications"));
  } catch (err) {
    if (err instanceof ApiError && (err.code === "missing_api_key" || err.code === "invalid_api_key")) {
      document.dispatchEvent(new CustomEvent("newsqa:auth", { detail: describeError(err) }));
    } else {
      notice(describeError(err));
    }
    return;
  }
  notice("");
  for (const select of [$("publication"), $("archive-publication")]) {
    const keep = select.value;
    const all = document.createElement("option");
    all.value = "";
    all.textContent = t("filters.allPublications");
    const options = rows.filter((p) => p.publication).map((p) => {
      const option = document.createElement("option");
      option.value = p.publication;
      const range = p.first ? `，${p.first} – ${p.last}` : "";
      option.textContent = t("filters.publicationOption", { name: p.publication, count: p.articles, range });
      return option;
    });
    select.replaceChildren(all, ...options);
    select.value = keep;
  }
}

function setupSettings() {
  const input = $("api-key");
  input.value = keys.api();
  $("settings-form").addEventListener("submit", (event) => {
    event.preventDefault();
    keys.setApi(input.value.trim());
    $("settings-status").textContent = t("settings.saved");
    loadPublications();
  });
  $("settings-clear").addEventListener("click", () => {
    input.value = "";
    keys.setApi("");
    $("settings-status").textContent = t("settings.cleared");
  });
  document.addEventListener("newsqa:auth", (event) => {
    notice(event.detail);
    show("settings");
    $("settings-status").textContent = event.detail;
    input.focus();
  });
}

function start() {
  applyLabels();
  document.title = t("app.title");
  for (const name of VIEWS) $(`tab-${name}`).addEventListener("click", () => show(name));
  setupPanel();
  setupChat();
  setupArchive();
  setupAdmin();
  setupSettings();
  show("chat");
  // ready once the publication lists are filled (or their request failed): a filter read before then is empty
  loadPublications().finally(() => { document.body.dataset.ready = "true"; });
}

start();
