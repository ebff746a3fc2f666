// The admin view: upload a page file (POST /v1/uploads, multipart), start an ingest (POST /v1/ingest) and follow
// its progress and per-file errors (GET /v1/ingest/{job_id}). Needs the admin key, kept in sessionStorage only.
import { apiJson, describeError, keys } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 700;

function listOf(entries) {
  return entries.map(([file, message]) => {
    const li = document.createElement("li");
    const name = document.createElement("code");
    name.textContent = file;
    li.append(name, document.createTextNode("：" + message));
    return li;
  });
}

function showJob(job) {
  const progress = $("ingest-progress");
  const text = $("ingest-status");
  const parts = [t(`admin.state.${job.state}`)];
  if (job.progress) {
    progress.max = Math.max(1, job.progress.total);
    progress.value = job.progress.done;
    parts.push(t("admin.progress", { done: job.progress.done, total: job.progress.total,
      current: job.progress.current || "" }));
  }
  if (job.summary) {
    const s = job.summary;
    progress.value = progress.max;
    parts.push(t("admin.summary", { new: s.files_new, changed: s.files_changed, unchanged: s.files_unchanged,
      failed: s.files_failed, chunks: s.chunks_added, seconds: s.seconds.toFixed(1) }));
    $("ingest-failures").replaceChildren(...listOf(Object.entries(s.failures || {})));
    $("ingest-failures-box").hidden = !Object.keys(s.failures || {}).length;
    $("ingest-warnings").replaceChildren(...listOf(Object.entries(s.warnings || {})));
    $("ingest-warnings-box").hidden = !Object.keys(s.warnings || {}).length;
  }
  if (job.error) parts.push(job.error.message);
  text.textContent = parts.join(" ");
  text.dataset.state = job.state;
}

async function follow(jobId) {
  for (;;) {
    const { data: job } = await apiJson(`/v1/ingest/${jobId}`, { admin: true });
    showJob(job);
    if (job.done) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export function setupAdmin() {
  const keyInput = $("admin-key");
  keyInput.value = keys.admin();
  keyInput.addEventListener("change", () => keys.setAdmin(keyInput.value.trim()));
  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    keys.setAdmin(keyInput.value.trim());
    const status = $("upload-status");
    const file = $("upload-file").files[0];
    if (!file) {
      status.textContent = t("admin.noFile");
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    const folder = $("upload-folder").value.trim();
    if (folder) form.append("folder", folder);
    status.dataset.state = "";
    try {
      const { data } = await apiJson("/v1/uploads", { method: "POST", form, admin: true });
      status.textContent = t("admin.uploaded", data);
      status.dataset.state = "ok";
    } catch (err) {
      status.textContent = describeError(err);
      status.dataset.state = "error";
    }
  });
  $("ingest-start").addEventListener("click", async () => {
    keys.setAdmin(keyInput.value.trim());
    const text = $("ingest-status");
    $("ingest-failures-box").hidden = true;
    $("ingest-warnings-box").hidden = true;
    try {
      const { data: job } = await apiJson("/v1/ingest", { method: "POST", admin: true });
      text.textContent = t("admin.ingestStarted", { id: job.job_id });
      await follow(job.job_id);
    } catch (err) {
      text.textContent = describeError(err);
      text.dataset.state = "error";
    }
  });
}
