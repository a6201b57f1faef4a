// Dropp's web page: lists, uploads, downloads, shares and deletes the
// signed-in user's files through the public JSON API, with the session
// cookie. No framework, no build step. Text from the server is only ever
// set with textContent, never parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE_SIZE = 50;
  const MULTIPART_FROM = 16 * 1024 * 1024; // bytes; smaller files go in one request
  const PART_BATCH = 10; // part URLs asked for at a time: few, so none expires before its turn
  const RESUME_KEY = "dropp.multipart"; // localStorage: unfinished multipart uploads

  const state = { cursor: null, sharesSupported: false, multipartSupported: true, shareFile: null };

  // apiError is an API failure, with the API's own words.
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

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
      throw new ApiError(resp.status, (data && data.message) || `The server answered HTTP ${resp.status}.`);
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

  function formatSize(n) {
    if (n === null || n === undefined) return "size unknown";
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let i = 0;
    let v = n;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return i === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
  }

  const formatDate = (s) => new Date(s).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

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
    state.shareFile = f;
    $("share-name").textContent = f.filename;
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
    try {
      const data = await api("POST", `/files/${state.shareFile.id}/shares`, body);
      const url = data.share.url;
      let copied = false;
      try { await navigator.clipboard.writeText(url); copied = true; } catch (e) { copied = false; }
      showShareResult(copied ? `Link copied: ${url}` : `Link (copy it now, it is shown once): ${url}`);
      $("share-result").dataset.url = url;
      await listShares();
    } catch (e) {
      showShareResult(`Could not create a link: ${e.message}`);
    }
  }

  // ---- Uploading ----

  // uploadRow is one upload's line: name, progress bar, status and cancel.
  function uploadRow(file) {
    const bar = el("progress", { max: 100, value: 0 });
    bar.setAttribute("aria-label", `Upload of ${file.name}`);
    const status = el("span", { className: "status", textContent: "Starting…" });
    const cancel = el("button", { type: "button", className: "secondary", textContent: "Cancel", ariaLabel: `Cancel the upload of ${file.name}` });
    const li = el("li", {}, el("span", { className: "name", textContent: file.name }), cancel, bar, status);
    $("uploads").append(li);
    const started = performance.now();
    return {
      li, cancel, cancelled: false, xhr: null,
      progress(sent, total) {
        const pct = total ? Math.floor((sent / total) * 100) : 100;
        bar.value = pct;
        const secs = (performance.now() - started) / 1000;
        const speed = secs > 0.2 ? ` · ${formatSize(Math.round(sent / secs))}/s` : "";
        status.textContent = `${pct}%${speed}`;
      },
      say(msg) { status.textContent = msg; },
      fail(msg) { li.classList.add("failed"); status.textContent = msg; cancel.textContent = "Dismiss"; cancel.ariaLabel = `Dismiss ${file.name}`; },
    };
  }

  // send makes one XMLHttpRequest (fetch cannot report upload progress)
  // and resolves with it once answered; onProgress gets bytes sent.
  function send(row, method, url, body, headers, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      row.xhr = xhr;
      xhr.open(method, url);
      for (const [k, v] of Object.entries(headers || {})) {
        if (k.toLowerCase() !== "content-length" && k.toLowerCase() !== "host") xhr.setRequestHeader(k, v);
      }
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve(xhr) : reject(new ApiError(xhr.status, storageMessage(xhr))));
      xhr.onerror = () => reject(new ApiError(0, "The upload could not reach the storage (network down, or the bucket's CORS rule is missing)."));
      xhr.onabort = () => reject(new ApiError(-1, "Cancelled."));
      xhr.send(body);
    });
  }

  // storageMessage is the object store's reason in words: Dropp's local
  // store answers JSON, S3 answers XML.
  function storageMessage(xhr) {
    const text = xhr.responseText || "";
    try {
      const j = JSON.parse(text);
      if (j && j.message) return j.message;
    } catch (e) { /* not JSON */ }
    const m = /<Message>([^<]*)<\/Message>/.exec(text);
    return m ? `The storage refused the upload: ${m[1]}` : `The storage answered HTTP ${xhr.status}.`;
  }

  async function createUpload(file) {
    const body = { filename: file.name, size: file.size };
    if (file.type) body.content_type = file.type;
    if (state.multipartSupported && file.size > MULTIPART_FROM) {
      try {
        return await api("POST", "/upload/", { ...body, multipart: true });
      } catch (e) {
        if (!(e.status === 400 && /multipart/.test(e.message) && /unknown/.test(e.message))) throw e;
        state.multipartSupported = false; // an older server: one request it is
      }
    }
    return api("POST", "/upload/", body);
  }

  async function uploadFile(file) {
    const row = uploadRow(file);
    let fileID = null;
    row.cancel.addEventListener("click", async () => {
      if (row.li.classList.contains("failed") || row.done) { row.li.remove(); return; }
      row.cancelled = true;
      if (row.xhr) row.xhr.abort();
      if (fileID) {
        forgetResume(fileID);
        api("DELETE", `/files/${fileID}`).catch(() => {});
      }
      row.li.remove();
    });
    try {
      const resume = await usableResume(file);
      let created;
      if (resume) {
        fileID = resume.id;
        created = { file: { id: resume.id }, upload: { method: "multipart", part_size: resume.part_size, part_count: resume.part_count } };
      } else {
        created = await createUpload(file);
        fileID = created.file.id;
      }
      if (row.cancelled) { // before the file had an id for Cancel to delete
        forgetResume(fileID);
        api("DELETE", `/files/${fileID}`).catch(() => {});
        return;
      }
      await sendBytes(row, file, created);
      if (row.cancelled) return;
      row.say("Finishing…");
      const done = await api("POST", `/upload/${fileID}/complete`, { size: file.size });
      forgetResume(fileID);
      row.progress(file.size, file.size);
      row.say("100% · done");
      row.done = true;
      row.cancel.textContent = "Dismiss";
      row.cancel.ariaLabel = `Dismiss ${file.name}`;
      addFileRow(done.file);
      announce(`${file.name} uploaded.`);
      loadUsage().catch(() => {});
      setTimeout(() => row.li.remove(), 4000);
    } catch (e) {
      if (row.cancelled || e.status === -1) return;
      row.fail(`Failed: ${e.message}`);
      announce(`${file.name} failed: ${e.message}`);
      // A one-request upload starts again from zero, so its pending record
      // would only clutter the list; a multipart one stays to be resumed.
      if (fileID && !findResume(file)) api("DELETE", `/files/${fileID}`).catch(() => {});
    }
  }

  // sendBytes sends the file the way the server's answer says: a form
  // POST (also when "method" is absent, as older servers answer), a PUT,
  // or parts.
  function sendBytes(row, file, created) {
    const up = created.upload;
    const onProgress = (sent) => row.progress(sent, file.size);
    switch (up.method || "POST") {
      case "POST": {
        const form = new FormData();
        for (const [k, v] of Object.entries(up.fields || {})) form.append(k, v);
        form.append("file", file); // last, after every field
        return send(row, "POST", up.url, form, {}, onProgress);
      }
      case "PUT":
        return send(row, "PUT", up.url, file, up.headers, onProgress);
      case "multipart":
        return sendParts(row, file, created.file.id, up);
    }
    return Promise.reject(new ApiError(0, `This page cannot upload with method "${up.method}".`));
  }

  // sendParts uploads the parts the server does not have yet, remembering
  // each one done so a reload can resume.
  async function sendParts(row, file, id, up) {
    rememberResume(file, id, up);
    const have = await api("GET", `/upload/${id}/parts`);
    const done = new Set((have.parts || []).map((p) => p.part_number));
    const partBytes = (n) => Math.min(up.part_size, file.size - (n - 1) * up.part_size);
    let sentBefore = 0;
    for (const n of done) sentBefore += partBytes(n);
    const todo = [];
    for (let n = 1; n <= up.part_count; n++) if (!done.has(n)) todo.push(n);
    for (let i = 0; i < todo.length; i += PART_BATCH) {
      const batch = todo.slice(i, i + PART_BATCH);
      const urls = await api("POST", `/upload/${id}/parts`, { part_numbers: batch });
      for (const p of urls.parts) {
        if (row.cancelled) return;
        const start = (p.part_number - 1) * up.part_size;
        const blob = file.slice(start, start + partBytes(p.part_number));
        await send(row, p.method || "PUT", p.url, blob, p.headers, (sent) => row.progress(sentBefore + sent, file.size));
        sentBefore += blob.size;
      }
    }
  }

  // ---- Resuming multipart uploads after a reload ----
  // A page cannot reopen a file by itself after a reload, so the upload is
  // remembered by name, size and date, and resumes when the same file is
  // dropped or picked again.

  function resumeList() {
    try { return JSON.parse(localStorage.getItem(RESUME_KEY) || "[]"); } catch (e) { return []; }
  }

  function saveResumeList(list) {
    try { localStorage.setItem(RESUME_KEY, JSON.stringify(list)); } catch (e) { /* storage full or off */ }
  }

  const sameFile = (r, file) => r.name === file.name && r.size === file.size && r.modified === file.lastModified;

  function rememberResume(file, id, up) {
    const list = resumeList().filter((r) => r.id !== id);
    list.push({ id, name: file.name, size: file.size, modified: file.lastModified, part_size: up.part_size, part_count: up.part_count });
    saveResumeList(list);
  }

  function forgetResume(id) {
    saveResumeList(resumeList().filter((r) => r.id !== id));
    showResumeNote();
  }

  const findResume = (file) => resumeList().find((r) => sameFile(r, file));

  // usableResume is the remembered multipart upload of file, if the server
  // still has it (it may have expired or been deleted meanwhile).
  async function usableResume(file) {
    const r = findResume(file);
    if (!r) return null;
    try {
      await api("GET", `/upload/${r.id}/parts`);
      return r;
    } catch (e) {
      if (e.status !== 404 && e.status !== 409) throw e;
      forgetResume(r.id);
      return null;
    }
  }

  function showResumeNote() {
    const list = resumeList();
    const note = $("resume-note");
    note.hidden = list.length === 0;
    note.textContent = list.length ? `Unfinished: ${list.map((r) => r.name).join(", ")}. Drop or choose the same file again to resume where it stopped.` : "";
  }

  // ---- Wiring ----

  function startUploads(files) {
    showError("");
    for (const f of files) uploadFile(f);
  }

  function wireDrop() {
    const zone = $("drop");
    const input = $("file-input");
    input.addEventListener("change", () => {
      startUploads(Array.from(input.files));
      input.value = "";
    });
    // Dropping anywhere on the page uploads; the zone shows where.
    document.addEventListener("dragover", (e) => {
      if (!e.dataTransfer || !Array.from(e.dataTransfer.types).includes("Files")) return;
      e.preventDefault();
      zone.classList.add("over");
    });
    document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) zone.classList.remove("over"); });
    document.addEventListener("drop", (e) => {
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      e.preventDefault();
      zone.classList.remove("over");
      startUploads(Array.from(e.dataTransfer.files));
    });
  }

  function wireShareDialog() {
    $("share-form").addEventListener("submit", createShare);
    $("share-close").addEventListener("click", () => $("share-dialog").close());
  }

  async function start() {
    wireDrop();
    wireShareDialog();
    showResumeNote();
    $("more").addEventListener("click", () => loadFiles(false).catch((e) => showError(e.message)));
    await detectShares();
    try {
      await loadFiles(true);
    } catch (e) {
      showError(`Could not list your files: ${e.message}`);
    }
    loadUsage().catch(() => {});
    document.body.dataset.ready = "1"; // for tests: the first list is in
  }

  start();
})();
