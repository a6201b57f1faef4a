// Dropp's web page: lists, uploads, downloads, shares and deletes the
// signed-in user's files through the public JSON API, with the session
// cookie. No framework, no build step. Text from the server is only ever
// set with textContent, never parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE_SIZE = 50;

  const state = { cursor: null, sharesSupported: false, shareFile: null, shareFiles: [], batch: null };

  const { ApiError, formatSize } = DroppUploader; // uploader.js

  // api calls the JSON API with the session cookie; a non-2xx answer throws
  // an ApiError with the API's message; a 401 goes to the sign-in page.
  async function api(method, path, body) {
    const opts = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, "Dropp could not be reached. Check your connection and try again.");
    }
    if (resp.status === 401) {
      location.assign("/login/");
      throw new ApiError(401, "You are signed out.");
    }
    let data = null;
    if (resp.status !== 204) {
      try { data = await resp.json(); } catch (e) { data = null; }
    }
    if (!resp.ok) {
      throw new ApiError(resp.status, (data && data.message) || `The server answered HTTP ${resp.status}.`, resp.headers.get("Retry-After"));
    }
    return data;
  }

  // routeMissing tells an API error meaning "this server has no such
  // feature" (an older Dropp) from a real failure.
  const routeMissing = (e) => e.status === 405 || (e.status === 404 && e.message === "no such route");

  // announce tells a screen reader how an upload ended (the progress
  // itself is not announced: it changes many times a second).
  function announce(msg) { $("announce").textContent = msg; }

  function showError(msg) {
    const el = $("error");
    el.textContent = msg;
    el.hidden = !msg;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const c of children) node.append(c);
    return node;
  }

  // formatDate writes times as every Dropp page does (the share and admin
  // pages get them from humanTime in Go): UTC ("7 Dec 2026 14:05 UTC"), so
  // one file reads the same everywhere, whoever's clock looks at it.
  // (formatSize, from uploader.js, writes sizes the same way.)
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function formatDate(s) {
    const d = new Date(s);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
  }

  // ---- Usage ----

  async function loadUsage() {
    const me = await api("GET", "/me");
    const u = me && me.usage;
    if (!u) return; // a server without quotas
    const parts = [`${formatSize(u.bytes)} in ${u.files} file${u.files === 1 ? "" : "s"}`];
    if (u.quota_bytes !== null && u.quota_bytes !== undefined) parts[0] = `${formatSize(u.bytes)} of ${formatSize(u.quota_bytes)} used`;
    if (u.quota_files !== null && u.quota_files !== undefined) parts.push(`${u.files} of ${u.quota_files} files`);
    $("usage").textContent = parts.join(" · ");
    $("usage").hidden = false;
  }

  // ---- The file list ----

  async function loadFiles(reset) {
    if (reset) state.cursor = null;
    let q = `/list/?limit=${PAGE_SIZE}`;
    if (state.cursor) q += `&cursor=${encodeURIComponent(state.cursor)}`;
    const data = await api("GET", q);
    if (reset) $("files").replaceChildren();
    for (const f of data.files) if (!$(`file-${f.id}`)) $("files").append(fileRow(f));
    state.cursor = data.next_cursor;
    $("more").hidden = !state.cursor;
    $("empty").hidden = $("files").children.length > 0;
  }

  function fileRow(f) {
    const li = el("li", { id: `file-${f.id}` });
    li.dataset.id = f.id;
    li.dataset.created = f.created_at;
    const status = el("span", { className: f.status === "complete" ? "" : "pending", textContent: f.status });
    li.append(
      el("span", { className: "name", textContent: f.filename }),
      el("span", { className: "meta" }, `${formatSize(f.size)} · `, status, ` · ${formatDate(f.created_at)}`),
    );
    if (f.request_id) li.append(requestNote(f)); // see "File requests"
    const actions = el("span", { className: "actions" });
    if (f.status === "complete") {
      actions.append(el("a", { className: "button secondary", href: `/download/${f.id}?redirect=1`, textContent: "Download", ariaLabel: `Download ${f.filename}` }));
      if (state.sharesSupported) {
        const share = el("button", { type: "button", className: "secondary", textContent: "Share", ariaLabel: `Share ${f.filename}` });
        share.addEventListener("click", () => openShare(f));
        actions.append(share);
      }
    }
    const del = el("button", { type: "button", className: "danger", textContent: "Delete", ariaLabel: `Delete ${f.filename}` });
    del.addEventListener("click", () => deleteFile(f, li));
    actions.append(del);
    li.append(actions);
    decorateFileRow(li, f); // drops and previews, below
    return li;
  }

  // addFileRow shows a just-completed file where the list, newest first
  // (then by id, as the server orders them), would have it.
  function addFileRow(f) {
    const old = $(`file-${f.id}`);
    if (old) old.remove();
    const after = Array.from($("files").children).find((li) => comesBefore(f, li));
    $("files").insertBefore(fileRow(f), after || null);
    $("empty").hidden = true;
  }

  // comesBefore tells whether file f comes before the file of row li in the
  // list. Times are compared as instants, not as text: RFC 3339 drops the
  // fraction's trailing zeros, so "…:05.5Z" sorts after "…:05.51Z" as text.
  function comesBefore(f, li) {
    const t = Date.parse(f.created_at), rowT = Date.parse(li.dataset.created);
    return t !== rowT ? t > rowT : f.id > li.dataset.id;
  }

  async function deleteFile(f, li) {
    if (!confirm(`Delete "${f.filename}"? This cannot be undone.`)) return;
    try {
      await api("DELETE", `/files/${f.id}`);
      uploader.forget(f.id); // an unfinished upload of it is no more
      li.remove();
      $("empty").hidden = $("files").children.length > 0;
      showError("");
      loadUsage().catch(() => {});
    } catch (e) {
      showError(`Could not delete "${f.filename}": ${e.message}`);
    }
  }

  // ---- Sharing ----

  async function detectShares() {
    try {
      await api("GET", "/files/00000000-0000-4000-8000-000000000000/shares");
      state.sharesSupported = true;
    } catch (e) {
      state.sharesSupported = !routeMissing(e) && e.status !== 0;
    }
  }

  async function openShare(f) {
    await openDrop([f]);
  }

  // openDrop opens the share dialog for one file or several (a drop).
  async function openDrop(files) {
    state.shareFile = files[0];
    state.shareFiles = files;
    $("share-name").textContent = files.length === 1 ? files[0].filename : `${files.length} files`;
    $("share-result").hidden = true;
    $("share-dialog").showModal();
    await listShares();
  }

  async function listShares() {
    const f = state.shareFile;
    const list = $("share-list");
    try {
      const data = await api("GET", `/files/${f.id}/shares`);
      list.replaceChildren();
      for (const s of data.shares) list.append(shareRow(s));
      if (!data.shares.length) list.append(el("li", { textContent: "No live links." }));
    } catch (e) {
      list.replaceChildren(el("li", { className: "error", textContent: e.message }));
    }
  }

  function shareRow(s) {
    let desc = `Expires ${formatDate(s.expires_at)}`;
    desc += s.max_downloads ? ` · ${s.downloads} of ${s.max_downloads} downloads` : ` · ${s.downloads} downloads`;
    desc += protectionWords(s);
    const revoke = el("button", { type: "button", className: "danger", textContent: "Revoke", ariaLabel: `Revoke the link that ${desc.toLowerCase()}` });
    revoke.addEventListener("click", async () => {
      try {
        await api("DELETE", `/shares/${s.id}`);
        await listShares();
      } catch (e) {
        showShareResult(`Could not revoke: ${e.message}`);
      }
    });
    return el("li", {}, el("span", { className: "meta", textContent: desc }), revoke);
  }

  function showShareResult(msg) {
    $("share-result").textContent = msg;
    $("share-result").hidden = false;
  }

  async function createShare(ev) {
    ev.preventDefault();
    const body = { expires_in: Number($("share-expiry").value) };
    const limit = $("share-limit").value.trim();
    if (limit) body.max_downloads = Number(limit);
    Object.assign(body, linkProtection());
    if ($("share-preview").checked) body.allow_preview = true;
    try {
      const files = state.shareFiles;
      const data = files.length > 1
        ? await api("POST", "/shares", { ...body, file_ids: files.map((f) => f.id) })
        : await api("POST", `/files/${state.shareFile.id}/shares`, body);
      const url = data.share.url;
      let copied = false;
      try { await navigator.clipboard.writeText(url); copied = true; } catch (e) { copied = false; }
      showShareResult(copied ? `Link copied: ${url}` : `Link (copy it now, it is shown once): ${url}`);
      $("share-result").dataset.url = url;
      $("share-password").value = "";
      await listShares();
    } catch (e) {
      showShareResult(`Could not create a link: ${e.message}`);
    }
  }

  // ---- Protected links (linkprotect.go) ----

  // linkProtection is the share dialog's password and members-only
  // choice, as fields of the create request.
  function linkProtection() {
    const fields = {};
    const password = $("share-password").value;
    if (password) fields.password = password;
    if ($("share-members").checked) fields.members_only = true;
    return fields;
  }

  // protectionWords says how a listed link is protected.
  function protectionWords(s) {
    return (s.protected ? " · password" : "") + (s.members_only ? " · members only" : "");
  }

  // ---- Uploading (uploader.js) ----

  const uploader = DroppUploader.newUploader({
    base: "",
    api,
    list: $("uploads"),
    note: $("resume-note"),
    announce,
    doneText: "100% · done",
    discard: (id) => api("DELETE", `/files/${id}`).catch(() => {}),
    done(file, f) {
      addFileRow(f);
      noteBatchFile(file, f);
      loadUsage().catch(() => {});
    },
    elsewhere(f) {
      if (f) addFileRow(f);
      else loadFiles(true).catch(() => {});
      loadUsage().catch(() => {});
    },
  });

  // ---- Personal access tokens (tokens.go; docs/tokens.md) ----

  // loadTokens lists the user's tokens; the secret of each was shown once,
  // when it was made, and the server never sends it again.
  async function loadTokens() {
    const list = $("token-list");
    const data = await api("GET", "/tokens");
    list.replaceChildren();
    for (const t of data.tokens) list.append(tokenRow(t));
    if (!data.tokens.length) list.append(el("li", { textContent: "No tokens." }));
  }

  function tokenRow(t) {
    const used = t.last_used_at ? `last used ${formatDate(t.last_used_at)}` : "never used";
    const expires = t.expires_at ? `expires ${formatDate(t.expires_at)}` : "never expires";
    const desc = `${t.scopes.join(", ")} · created ${formatDate(t.created_at)} · ${used} · ${expires}`;
    const revoke = el("button", { type: "button", className: "danger", textContent: "Revoke", ariaLabel: `Revoke the token ${t.name}` });
    revoke.addEventListener("click", async () => {
      if (!confirm(`Revoke the token "${t.name}"? Whatever uses it stops working at once.`)) return;
      try {
        await api("DELETE", `/tokens/${t.id}`);
        showTokenError("");
        await loadTokens();
      } catch (e) {
        showTokenError(`Could not revoke "${t.name}": ${e.message}`);
      }
    });
    return el("li", {}, el("span", { className: "name", textContent: t.name }), el("span", { className: "meta", textContent: desc }), revoke);
  }

  function showTokenError(msg) {
    $("token-error").textContent = msg;
    $("token-error").hidden = !msg;
  }

  async function createToken(ev) {
    ev.preventDefault();
    const scopes = Array.from(document.querySelectorAll('input[name="token-scope"]:checked')).map((c) => c.value);
    const body = { name: $("token-name").value.trim(), scopes, expires_in: Number($("token-expiry").value) };
    try {
      const data = await api("POST", "/tokens", body);
      $("token-secret").textContent = data.token.secret;
      $("token-copied").textContent = "";
      $("token-result").hidden = false;
      $("token-name").value = "";
      showTokenError("");
      await loadTokens();
    } catch (e) {
      showTokenError(`Could not create a token: ${e.message}`);
    }
  }

  async function copyTokenSecret() {
    try {
      await navigator.clipboard.writeText($("token-secret").textContent);
      $("token-copied").textContent = "Copied.";
    } catch (e) {
      $("token-copied").textContent = "Select the token and copy it.";
    }
  }

  // wireTokens shows the Tokens section where the server has tokens (an
  // older Dropp answers "no such route") and lists them.
  async function wireTokens() {
    $("token-form").addEventListener("submit", createToken);
    $("token-copy").addEventListener("click", copyTokenSecret);
    try {
      await loadTokens();
    } catch (e) {
      if (routeMissing(e)) $("tokens").hidden = true;
      else showTokenError(`Could not list your tokens: ${e.message}`);
    }
  }

  // ---- File requests ----
  // The owner's side of file requests (requests.go): create one, list,
  // close, reopen or end them; a file sent through one shows the request's
  // title and the sender's name and note.

  const requestTitles = new Map(); // request id → title, for file rows

  // requestNote is the line under a file that came through a request.
  function requestNote(f) {
    const title = requestTitles.get(f.request_id);
    let text = title ? `Sent through “${title}”` : "Sent through a file request";
    if (f.sender_name) text += ` by ${f.sender_name}`;
    if (f.sender_note) text += `: ${f.sender_note}`;
    return el("span", { className: "via", textContent: text });
  }

  async function loadRequests() {
    let data;
    try {
      data = await api("GET", "/requests?limit=100");
    } catch (e) {
      if (routeMissing(e)) return; // an older server: no requests
      throw e;
    }
    $("requests-section").hidden = false;
    for (const r of data.requests) requestTitles.set(r.id, r.title);
    $("requests").replaceChildren(...data.requests.map(requestRow));
  }

  function requestRow(r) {
    const open = r.closed ? "closed" : `open until ${formatDate(r.expires_at)}`;
    const desc = `${r.files_received} of ${r.max_files} files · ${formatSize(r.bytes_received)} of ${formatSize(r.max_bytes)} · ${open}`;
    const li = el("li", { id: `request-${r.id}` }, el("span", { className: "name", textContent: r.title }), el("span", { className: "meta", textContent: desc }));
    const actions = el("span", { className: "actions" });
    const toggle = el("button", { type: "button", className: "secondary", textContent: r.closed ? "Reopen" : "Close", ariaLabel: `${r.closed ? "Reopen" : "Close"} ${r.title}` });
    toggle.addEventListener("click", () => requestAction("POST", `/requests/${r.id}/${r.closed ? "reopen" : "close"}`));
    const end = el("button", { type: "button", className: "danger", textContent: "End", ariaLabel: `End ${r.title}` });
    end.addEventListener("click", () => {
      if (confirm(`End the request "${r.title}"? Its link stops working; the files it received stay.`)) requestAction("DELETE", `/requests/${r.id}`);
    });
    actions.append(toggle, end);
    li.append(actions);
    return li;
  }

  async function requestAction(method, path) {
    try {
      await api(method, path);
      await loadRequests();
    } catch (e) {
      showError(`Could not change the request: ${e.message}`);
    }
  }

  async function createRequest(ev) {
    ev.preventDefault();
    const body = {
      title: $("request-title").value.trim(),
      max_files: Number($("request-files").value),
      max_bytes: Number($("request-mib").value) * 1024 * 1024,
      expires_in: Number($("request-expiry").value),
    };
    const message = $("request-message").value.trim();
    if (message) body.message = message;
    const result = $("request-result");
    try {
      const data = await api("POST", "/requests", body);
      const url = data.request.url;
      let copied = false;
      try { await navigator.clipboard.writeText(url); copied = true; } catch (e) { copied = false; }
      result.textContent = copied ? `Link copied: ${url}` : `Link (copy it now, it is shown once): ${url}`;
      result.dataset.url = url;
      $("request-form").reset();
      await loadRequests();
    } catch (e) {
      result.textContent = `Could not create the request: ${e.message}`;
      delete result.dataset.url;
    }
    result.hidden = false;
  }

  // ---- Wiring ----

  function startUploads(files) {
    showError("");
    startBatch(files); // several at once: offer a drop when done (below)
    uploader.uploadFiles(files);
  }

  // ---- Drops and previews ----
  // "Select files", checkboxes and "Share selected" make one link to all
  // of them (POST /shares); dropping several files at once offers the same
  // once they are all uploaded. Images, audio, video and PDF can be shown
  // inline: GET /files/{id}/preview gives a URL the browser loads straight
  // from storage, served with the pinned type (the server decides what is
  // shown; PREVIEWS only says which rows get the button).

  const PREVIEWS = {
    "image/png": "img", "image/jpeg": "img", "image/gif": "img", "image/webp": "img",
    "audio/mpeg": "audio", "audio/ogg": "audio", "audio/wav": "audio", "audio/webm": "audio", "audio/flac": "audio", "audio/aac": "audio", "audio/mp4": "audio",
    "video/mp4": "video", "video/webm": "video", "video/ogg": "video", "application/pdf": "pdf",
  };
  const fileRecords = new Map(); // file id → the file as listed

  function previewKind(contentType) {
    return PREVIEWS[(contentType || "").split(";")[0].trim().toLowerCase()] || "";
  }

  function decorateFileRow(li, f) {
    if (f.status !== "complete" || !state.sharesSupported) return;
    fileRecords.set(f.id, f);
    const box = el("input", { type: "checkbox", className: "select", ariaLabel: `Select ${f.filename}` });
    box.addEventListener("change", updateSelection);
    li.prepend(box);
    const kind = previewKind(f.content_type);
    if (!kind) return;
    const show = el("button", { type: "button", className: "secondary", textContent: "Preview", ariaLabel: `Preview ${f.filename}` });
    show.addEventListener("click", () => togglePreview(li, f, kind));
    li.querySelector(".actions").prepend(show);
  }

  async function togglePreview(li, f, kind) {
    const shown = li.querySelector(".preview-box");
    if (shown) { shown.remove(); return; }
    try {
      const data = await api("GET", `/files/${f.id}/preview`);
      li.append(el("div", { className: "preview-box" }, previewNode(kind, data.url, f.filename)));
    } catch (e) {
      showError(`Could not preview "${f.filename}": ${e.message}`);
    }
  }

  function previewNode(kind, url, name) {
    switch (kind) {
      case "img": return el("img", { className: "preview", src: url, alt: name });
      case "video": return el("video", { className: "preview", src: url, controls: true, preload: "metadata" });
      case "audio": return el("audio", { className: "preview", src: url, controls: true, preload: "metadata" });
      default: return el("iframe", { className: "preview", src: url, title: name });
    }
  }

  function selectedFiles() {
    return Array.from(document.querySelectorAll("#files input.select:checked"))
      .map((box) => fileRecords.get(box.closest("li").dataset.id)).filter(Boolean);
  }

  function updateSelection() {
    const n = selectedFiles().length;
    $("share-selected").disabled = n === 0;
    $("share-selected").textContent = n > 1 ? `Share ${n} selected files` : "Share selected";
  }

  function startBatch(files) {
    state.batch = files.length > 1 && state.sharesSupported ? { want: new Set(files), done: [] } : null;
    $("drop-offer").hidden = true;
  }

  function noteBatchFile(file, f) {
    const b = state.batch;
    if (!b || !b.want.delete(file)) return;
    b.done.push(f);
    if (b.want.size > 0) return;
    $("drop-offer-text").textContent = `${b.done.length} files uploaded.`;
    $("drop-offer").hidden = false;
  }

  // Checkboxes show only in selection mode ("Select files"), so the
  // page's tab order stays as it was until someone wants them.
  function toggleSelecting() {
    const on = document.body.classList.toggle("selecting");
    $("select-files").setAttribute("aria-pressed", String(on));
    $("select-files").textContent = on ? "Done selecting" : "Select files";
    $("share-selected").hidden = !on;
    if (!on) for (const box of document.querySelectorAll("#files input.select")) box.checked = false;
    updateSelection();
  }

  function wireDrops() {
    $("drop-actions").hidden = !state.sharesSupported;
    $("select-files").addEventListener("click", toggleSelecting);
    $("share-selected").addEventListener("click", () => openDrop(selectedFiles()));
    $("drop-offer-share").addEventListener("click", () => {
      const b = state.batch;
      $("drop-offer").hidden = true;
      if (b && b.done.length) openDrop(b.done);
    });
  }

  function wireShareDialog() {
    $("share-form").addEventListener("submit", createShare);
    $("share-close").addEventListener("click", () => $("share-dialog").close());
  }

  // ---- Webhooks (webhooks.go): add, list, deliveries, test ----

  async function loadWebhooks() {
    const data = await api("GET", "/webhooks");
    $("webhook-list").replaceChildren(...data.webhooks.map(webhookRow));
  }

  function webhookRow(h) {
    const li = el("li", { id: `webhook-${h.id}` });
    const deliveries = el("ul", { className: "deliveries", hidden: true });
    const test = el("button", { type: "button", className: "secondary", textContent: "Send test" });
    test.addEventListener("click", async () => {
      try {
        await api("POST", `/webhooks/${h.id}/test`);
        await showDeliveries(h, deliveries);
      } catch (e) { showError(`Could not send a test event: ${e.message}`); }
    });
    const show = el("button", { type: "button", className: "secondary", textContent: "Deliveries" });
    show.addEventListener("click", () => showDeliveries(h, deliveries).catch((e) => showError(e.message)));
    const del = el("button", { type: "button", className: "danger", textContent: "Delete" });
    del.addEventListener("click", async () => {
      try {
        await api("DELETE", `/webhooks/${h.id}`);
        li.remove();
      } catch (e) { showError(`Could not delete the webhook: ${e.message}`); }
    });
    li.append(el("span", { className: "name", textContent: h.url }), el("span", { className: "meta", textContent: h.events.join(", ") }),
      el("p", { className: "actions" }, test, show, del), deliveries);
    return li;
  }

  async function showDeliveries(h, ul) {
    const data = await api("GET", `/webhooks/${h.id}/deliveries`);
    ul.replaceChildren(...data.deliveries.map((d) => {
      const parts = [`${d.event}: ${d.status}`, `${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`, formatDate(d.created_at)];
      if (d.last_status !== null) parts.push(`HTTP ${d.last_status}`);
      if (d.last_error) parts.push(d.last_error);
      if (d.next_attempt_at) parts.push(`next try ${formatDate(d.next_attempt_at)}`);
      return el("li", { textContent: parts.join(" · ") });
    }));
    if (!data.deliveries.length) ul.append(el("li", { textContent: "No deliveries yet." }));
    ul.hidden = false;
  }

  async function addWebhook(ev) {
    ev.preventDefault();
    const events = Array.from($("webhook-events").querySelectorAll("input:checked"), (i) => i.value);
    try {
      const data = await api("POST", "/webhooks", { url: $("webhook-url").value, events });
      $("webhook-list").append(webhookRow(data.webhook));
      $("webhook-secret").textContent = `Signing secret (shown once, keep it now): ${data.webhook.secret}`;
      $("webhook-secret").hidden = false;
      $("webhook-form").reset();
    } catch (e) { showError(`Could not add the webhook: ${e.message}`); }
  }

  function wireWebhooks() {
    $("webhook-form").addEventListener("submit", addWebhook);
    loadWebhooks().catch((e) => { if (!routeMissing(e)) showError(`Could not list your webhooks: ${e.message}`); });
  }

  async function start() {
    DroppUploader.wireDrop($("drop"), $("file-input"), startUploads);
    wireShareDialog();
    uploader.start();
    $("more").addEventListener("click", () => loadFiles(false).catch((e) => showError(e.message)));
    await detectShares();
    wireDrops();
    $("request-form").addEventListener("submit", createRequest);
    await loadRequests().catch((e) => showError(`Could not list your file requests: ${e.message}`));
    try {
      await loadFiles(true);
    } catch (e) {
      showError(`Could not list your files: ${e.message}`);
    }
    loadUsage().catch(() => {});
    await wireTokens();
    wireWebhooks();
    document.body.dataset.ready = "1"; // for tests: the first list is in
  }

  start();
})();
