// ragkit chat page: ask, show the answer with its sources, send feedback. No build step, no
// dependencies. All server text is inserted with textContent (never as HTML).
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.includes("-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  if (text !== null) node.textContent = text;
  return node;
}

// A server started with an API key answers 401: the page then asks for the key, keeps it for
// this tab only (sessionStorage) and sends it as a bearer token.
const KEY_STORE = "ragkit-api-key";

function authHeaders(headers = {}) {
  const key = sessionStorage.getItem(KEY_STORE);
  return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
}

function needKey(message) {
  $("key-form").hidden = false;
  $("key-message").textContent = message;
  $("api-key").focus();
}

async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: authHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (response.status === 401) needKey((data && data.error) || "this server needs an API key");
  if (!response.ok) {
    const message = (data && data.error) || `request failed (${response.status})`;
    throw new Error(message);
  }
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function showSource(source) {
  $("source-title").textContent = `[${source.number}] ${source.location}`;
  const meta = $("source-meta");
  meta.replaceChildren();
  const rows = [
    ["file", source.file],
    ["page", source.page],
    ["lines", source.lines],
    ["symbol", source.symbol],
    ["section", (source.heading || []).join(" › ")],
    ["score", typeof source.score === "number" ? source.score.toFixed(3) : null],
    ["cited", source.cited ? "yes" : "no"],
  ];
  for (const [key, value] of rows) {
    if (value === null || value === undefined || value === "") continue;
    meta.append(el("dt", {}, key), el("dd", { "data-field": key }, String(value)));
  }
  $("source-text").textContent = source.text;
  $("source-view").hidden = false;
}

// Answer text with [n] / [n, m] markers turned into buttons that open source n.
function renderAnswerText(container, text, sources) {
  const byNumber = new Map(sources.map((s) => [s.number, s]));
  const pattern = /\[(\d+(?:\s*[,;]\s*\d+)*)\]/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    container.append(document.createTextNode(text.slice(last, match.index)));
    const numbers = match[1].split(/\s*[,;]\s*/).map(Number);
    container.append("[");
    numbers.forEach((n, i) => {
      if (i) container.append(", ");
      const source = byNumber.get(n);
      if (source) {
        const button = el("button", { type: "button", class: "cite", title: source.location }, String(n));
        button.addEventListener("click", () => showSource(source));
        container.append(button);
      } else {
        container.append(String(n));
      }
    });
    container.append("]");
    last = match.index + match[0].length;
  }
  container.append(document.createTextNode(text.slice(last)));
}

function feedbackStatus(node, promise, okText) {
  node.textContent = "sending…";
  node.classList.remove("failed");
  return promise
    .then(() => { node.textContent = okText; })
    .catch((err) => { node.textContent = `not saved: ${err.message}`; node.classList.add("failed"); throw err; });
}

function renderThumbs(exchange, data) {
  const bar = el("div", { class: "feedback" });
  const up = el("button", { type: "button", class: "thumb thumb-up", title: "this answer is good" }, "good answer");
  const down = el("button", { type: "button", class: "thumb thumb-down", title: "this answer is wrong or unhelpful" }, "bad answer");
  const status = el("span", { class: "feedback-status", "aria-live": "polite" });
  const send = (rating, button) => {
    up.disabled = down.disabled = true;
    button.setAttribute("aria-pressed", "true");
    feedbackStatus(status, postJSON("/feedback", { answer_id: data.id, rating }), "thanks, feedback saved")
      .catch(() => { up.disabled = down.disabled = false; button.setAttribute("aria-pressed", "false"); });
  };
  up.addEventListener("click", () => send(1, up));
  down.addEventListener("click", () => send(-1, down));
  bar.append(up, down, status);
  exchange.append(bar);
}

function renderSources(exchange, data) {
  if (!data.sources.length) return;
  const list = el("ol", { class: "sources" });
  for (const source of data.sources) {
    const item = el("li", { class: "source" + (source.cited ? " cited" : ""), "data-chunk-id": source.chunk_id });
    const link = el("button", { type: "button", class: "source-link", title: source.snippet },
      `[${source.number}] ${source.location}${source.cited ? " (cited)" : ""}`);
    link.addEventListener("click", () => showSource(source));
    const yes = el("button", { type: "button", class: "mark mark-relevant", title: "this source is relevant" }, "relevant");
    const no = el("button", { type: "button", class: "mark mark-irrelevant", title: "this source is not relevant" }, "not relevant");
    const status = el("span", { class: "feedback-status", "aria-live": "polite" });
    const mark = (relevant) => {
      yes.setAttribute("aria-pressed", String(relevant));
      no.setAttribute("aria-pressed", String(!relevant));
      const body = { answer_id: data.id, sources: [{ chunk_id: source.chunk_id, relevant }] };
      feedbackStatus(status, postJSON("/feedback", body), "saved").catch(() => {});
    };
    yes.addEventListener("click", () => mark(true));
    no.addEventListener("click", () => mark(false));
    item.append(link, yes, no, status);
    list.append(item);
  }
  exchange.append(list);
}

function renderAnswer(exchange, answerNode, data) {
  exchange.setAttribute("data-answer-id", data.id);
  answerNode.classList.remove("pending");
  answerNode.replaceChildren();
  renderAnswerText(answerNode, data.answer, data.sources);
  const t = data.timings || {};
  const parts = [data.mode];
  if (typeof t.total === "number") parts.push(`pipeline ${t.total.toFixed(2)} s`);
  if (typeof t.request === "number") parts.push(`request ${t.request.toFixed(2)} s`);
  exchange.append(el("div", { class: "meta timings" }, parts.join(" · ")));
  renderSources(exchange, data);
  renderThumbs(exchange, data);
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) { showError("Type a question first."); return; }
  showError("");
  const mode = $("mode").value;
  const exchange = el("div", { class: "exchange" });
  exchange.append(el("div", { class: "question" }, question));
  const answerNode = el("div", { class: "answer pending" }, "thinking…");
  exchange.append(answerNode);
  $("messages").append(exchange);
  $("ask-button").disabled = true;
  try {
    const data = await postJSON("/ask", { question, mode });
    renderAnswer(exchange, answerNode, data);
    $("question").value = "";
  } catch (err) {
    exchange.remove();
    showError(err.message);
  } finally {
    $("ask-button").disabled = false;
    $("question").focus();
  }
}

async function checkHealth() {
  try {
    const response = await fetch("/health", { headers: authHeaders() });
    const data = await response.json();
    if (response.status === 401) {
      $("health").textContent = "API key needed";
      needKey(data.error);
      return;
    }
    $("key-form").hidden = true;
    $("health").textContent = data.index ? `index: ${data.index}` : "closed-book only";
  } catch (_) {
    $("health").textContent = "server unreachable";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("ask-form").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); }
  });
  $("source-close").addEventListener("click", () => { $("source-view").hidden = true; });
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
    $("api-key").value = "";
    checkHealth();
  });
  checkHealth();
});
