// Talking to the newsqa REST API of this same origin: the keys (API key in localStorage, admin key in
// sessionStorage), JSON requests with clear errors, and the SSE answer stream of POST /v1/ask/stream.
import { t } from "./i18n.js";

const API_KEY = "newsqa.apiKey";
const ADMIN_KEY = "newsqa.adminKey";

export const keys = {
  api: () => localStorage.getItem(API_KEY) || "",
  setApi: (value) => (value ? localStorage.setItem(API_KEY, value) : localStorage.removeItem(API_KEY)),
  admin: () => sessionStorage.getItem(ADMIN_KEY) || "",
  setAdmin: (value) => (value ? sessionStorage.setItem(ADMIN_KEY, value) : sessionStorage.removeItem(ADMIN_KEY)),
};

/** An error answer of the API: HTTP status, machine code (error.code) and a message for people. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The message shown for an error: a label for known codes, else the server's message. */
export function describeError(err) {
  if (err instanceof ApiError) {
    const label = `error.${err.code}`;
    const text = t(label, { message: err.message });
    return text === label ? t("error.generic", { message: err.message }) : text;
  }
  return t("error.network");
}

function headers(admin, extra = {}) {
  const key = admin ? keys.admin() : keys.api();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function errorOf(response) {
  let code = "http_" + response.status;
  let message = response.statusText || String(response.status);
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    /* not JSON: keep the status text */
  }
  return new ApiError(response.status, code, message);
}

/** fetch() a JSON route; resolves to {data, requestId}; rejects with ApiError (or TypeError when offline). */
export async function apiJson(path, { method = "GET", body, admin = false, form } = {}) {
  const init = { method, headers: headers(admin, { Accept: "application/json" }) };
  if (form) {
    init.body = form;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorOf(response);
  return { data: await response.json(), requestId: response.headers.get("X-Request-ID") };
}

/**
 * Ask through POST /v1/ask/stream. Calls on.citations({question, citations}), on.delta(text), on.done(answer)
 * as the server-sent events arrive; resolves to the answer's request id (used as the answer id for feedback).
 * Rejects with ApiError before the stream starts or on an in-band `error` event.
 */
export async function streamAsk(body, on, signal) {
  const response = await fetch("/v1/ask/stream", {
    method: "POST",
    headers: headers(false, { "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await errorOf(response);
  const requestId = response.headers.get("X-Request-ID");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, cut), on);
      buffer = buffer.slice(cut + 2);
    }
    if (done) break;
  }
  return requestId;
}

function dispatch(block, on) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return;
  const payload = JSON.parse(data.join("\n"));
  if (event === "citations") on.citations(payload);
  else if (event === "answer") on.delta(payload.delta);
  else if (event === "done") on.done(payload);
  else if (event === "error") {
    const err = payload.error || {};
    throw new ApiError(500, err.code || "stream_error", err.message || "stream error");
  }
}
