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

  const state = { cursor: null, sharesSupported: false, multipartSupported: true, shareFile: null, shareFiles: [], batch: null };

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

  // formatSize and formatDate write sizes and times as every Dropp page
  // does (the share and admin pages get them from humanSize and humanTime
  // in Go): binary units with one decimal ("30.0 MiB", "512 bytes"), and
  // UTC times ("7 Dec 2026 14:05 UTC"), so one file reads the same
  // everywhere, whoever's clock looks at it.
  function formatSize(n) {
    if (n === null || n === undefined) return "size unknown";
    if (n < 1024) return n === 1 ? "1 byte" : `${n} bytes`;
    let div = 1024, exp = 0;
    for (let m = Math.floor(n / 1024); m >= 1024 && exp < 5; m = Math.floor(m / 1024)) { div *= 1024; exp++; }
    return `${(n / div).toFixed(1)} ${"KMGTPE"[exp]}iB`;
  }

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
      // end shows how the upload ended; Cancel becomes Dismiss.
      end(msg) {
        this.ended = true;
        status.textContent = msg;
        cancel.textContent = "Dismiss";
        cancel.ariaLabel = `Dismiss ${file.name}`;
      },
      fail(msg) { li.classList.add("failed"); this.end(msg); },
      // succeed shows the upload done, and takes the line away soon after.
      succeed(how) {
        bar.value = 100;
        this.end(how ? `100% · done (${how})` : "100% · done");
        setTimeout(() => li.remove(), 4000);
      },
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

  // ---- One writer per upload ----
  // A file dropped twice, in one tab or in two, must not get two writers:
  // they would race on the same parts, one would fail, and a failure must
  // never cost the file the other one completed. So each upload runs under
  // a Web Lock named after the file (name, size, date: what a reload can
  // know it by), which every tab of this browser shares and which a tab
  // that goes away releases. A drop of a file this tab uploads now follows
  // that upload; one that another tab uploads waits for that tab, then
  // finishes what it left, if anything. Without Web Locks (a page served
  // over plain HTTP from another host) only this tab's uploads are known.

  const locks = navigator.locks;
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("dropp.uploads") : null;
  const COMPLETED_KEY = "dropp.completed"; // localStorage: uploads completed lately, for tabs that waited
  const COMPLETED_FOR = 10 * 60 * 1000; // ms a completion is remembered
  const running = new Map(); // file key → the outcome of this tab's upload of it

  const fileKey = (file) => JSON.stringify([file.name, file.size, file.lastModified]);
  const resumeKey = (r) => JSON.stringify([r.name, r.size, r.modified]);
  const lockName = (key) => `dropp.upload ${key}`;

  // uploadFile starts the upload of a dropped or chosen file, or follows
  // the one this tab runs already.
  function uploadFile(file) {
    const key = fileKey(file);
    const row = uploadRow(file);
    row.cancel.addEventListener("click", () => {
      if (row.ended) { row.li.remove(); return; }
      row.cancelled = true;
      if (row.xhr) row.xhr.abort();
      if (row.stopWaiting) row.stopWaiting();
      row.li.remove();
    });
    const ongoing = running.get(key);
    if (ongoing) {
      follow(row, file, ongoing);
      return;
    }
    const outcome = uploadAlone(key, row, file);
    running.set(key, outcome);
    outcome.then(() => {
      running.delete(key);
      changed();
    });
  }

  // follow shows on row how the upload this tab runs already ends.
  async function follow(row, file, ongoing) {
    row.say("Already uploading above: this line shows how it ends.");
    const o = await ongoing;
    if (row.cancelled) return;
    if (o.status === "done") row.succeed();
    else if (o.status === "failed") row.fail(`Failed: ${o.message}`);
    else row.end("The upload above was cancelled.");
  }

  // uploadAlone runs upload(row, file) as the file's only writer in this
  // browser: at once if no tab uploads it, else once that tab is done, and
  // only if it left something to do. It resolves with the outcome.
  async function uploadAlone(key, row, file) {
    if (!locks) return upload(row, file);
    const since = Date.now();
    let first;
    try {
      first = await locks.request(lockName(key), { ifAvailable: true }, (lock) => (lock ? upload(row, file) : null));
    } catch (e) {
      return upload(row, file); // locks refused here (a sandboxed frame): this tab alone, as without them
    }
    if (first) return first;
    row.say("Uploading in another tab: this line waits for it, and takes over if that tab stops.");
    // How that tab ends is known three ways, since neither its message nor
    // its localStorage writes are sure to arrive before its lock is
    // released: its message, its record of completions, and, for the
    // multipart upload it runs, the server itself.
    // Its resume record, read now (it forgets it once complete) and again
    // once its lock is free (it may not have written it yet now).
    const seenBefore = findResume(file);
    let heard = null;
    const hear = (ev) => { if (ev.data && ev.data.key === key && ev.data.completed) heard = ev.data.completed; };
    if (channel) channel.addEventListener("message", hear);
    const stop = new AbortController();
    row.stopWaiting = () => stop.abort();
    try {
      return await locks.request(lockName(key), { signal: stop.signal }, async () => {
        row.stopWaiting = null;
        if (row.cancelled) return { status: "cancelled" };
        let done = heard || completedSince(key, since);
        const seen = seenBefore || findResume(file);
        if (!done && seen && (await fileStatus({ id: seen.id, multipart: true })) === "complete") {
          forgetResume(seen.id);
          loadFiles(true).catch(() => {});
          done = { id: seen.id };
        }
        if (!done) return upload(row, file);
        row.succeed("uploaded in another tab");
        return { status: "done", file: done };
      });
    } catch (e) {
      return { status: "cancelled" }; // Cancel stopped the wait
    } finally {
      if (channel) channel.removeEventListener("message", hear);
    }
  }

  // upload sends file and completes it, resuming this browser's unfinished
  // upload of it if there is one. It never rejects: it resolves with the
  // outcome, {status: "done" | "failed" | "cancelled"}.
  async function upload(row, file) {
    changed(); // other tabs: this one is running it now
    const job = { id: null, multipart: false, created: false, completeSent: false };
    try {
      row.say("Starting…");
      let created;
      const resume = await usableResume(file);
      if (resume) {
        created = { file: { id: resume.id }, upload: { method: "multipart", part_size: resume.part_size, part_count: resume.part_count } };
      } else {
        created = await createUpload(file);
        job.created = true;
      }
      job.id = created.file.id;
      job.multipart = created.upload.method === "multipart";
      if (row.cancelled) throw new ApiError(-1, "Cancelled.");
      await sendBytes(row, file, created);
      if (row.cancelled) throw new ApiError(-1, "Cancelled.");
      row.say("Finishing…");
      job.completeSent = true;
      const done = await api("POST", `/upload/${job.id}/complete`, { size: file.size });
      finished(file, done.file);
      row.succeed();
      return { status: "done", file: done.file };
    } catch (e) {
      return afterFailure(row, file, job, e);
    }
  }

  // afterFailure settles a failed or cancelled upload. The file's state is
  // asked again first: an upload whose complete was answered too late is
  // complete, not failed. Only a file this upload created, never completed
  // and the server still has pending is deleted: a one-request upload that
  // failed (it starts again from zero), or any that was cancelled. A
  // multipart upload that failed stays, to be resumed.
  async function afterFailure(row, file, job, e) {
    const cancelled = row.cancelled || e.status === -1;
    const status = job.id ? await fileStatus(job) : "none";
    if (status === "complete") {
      forgetResume(job.id);
      loadFiles(true).catch(() => {});
      if (!cancelled) row.succeed();
      return { status: "done" };
    }
    if (status === "pending" && job.created && !job.completeSent && (cancelled || !job.multipart)) {
      forgetResume(job.id);
      api("DELETE", `/files/${job.id}`).catch(() => {});
    }
    if (cancelled) return { status: "cancelled" };
    row.fail(`Failed: ${e.message}`);
    announce(`${file.name} failed: ${e.message}`);
    return { status: "failed", message: e.message };
  }

  // fileStatus is what the server says of the upload now: "pending",
  // "complete", "gone", or "unknown". Only this tab knows a one-request
  // upload's form, so one it never completed is pending.
  async function fileStatus(job) {
    if (!job.multipart) return job.completeSent ? "unknown" : "pending";
    try {
      await api("GET", `/upload/${job.id}/parts`);
      return "pending";
    } catch (e) {
      if (e.status === 404) return "gone";
      if (e.status === 409 && /already complete/.test(e.message)) return "complete";
      return "unknown";
    }
  }

  // finished tells this tab's list and the other tabs that file f is
  // complete, and forgets it as unfinished.
  function finished(file, f) {
    forgetResume(f.id);
    const list = completedList().filter((c) => c.key !== fileKey(file));
    list.push({ key: fileKey(file), at: Date.now(), file: f });
    try { localStorage.setItem(COMPLETED_KEY, JSON.stringify(list)); } catch (e) { /* storage full or off */ }
    if (channel) channel.postMessage({ completed: f, key: fileKey(file) });
    addFileRow(f);
    noteBatchFile(file, f);
    announce(`${file.name} uploaded.`);
    loadUsage().catch(() => {});
  }

  function completedList() {
    let list;
    try { list = JSON.parse(localStorage.getItem(COMPLETED_KEY) || "[]"); } catch (e) { list = []; }
    return list.filter((c) => c.at > Date.now() - COMPLETED_FOR);
  }

  // completedSince is the file that another tab completed from key since
  // the time since, if one did.
  function completedSince(key, since) {
    const c = completedList().find((c) => c.key === key && c.at >= since);
    return c ? c.file : null;
  }

  // changed tells the other tabs that an upload started or ended here, so
  // that they show what is unfinished anew; and shows it here.
  function changed() {
    if (channel) channel.postMessage({ changed: true });
    showResumeNote();
  }

  function listenToOtherTabs() {
    if (!channel) return;
    channel.onmessage = (ev) => {
      const f = ev.data && ev.data.completed;
      if (f) {
        addFileRow(f);
        loadUsage().catch(() => {});
      }
      showResumeNote();
    };
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
    const cut = (resumeList().find((r) => r.id === id) || {}).sending;
    rememberResume(file, id, up);
    const have = await api("GET", `/upload/${id}/parts`);
    const done = new Set((have.parts || []).map((p) => p.part_number));
    // The part that was on its way when the page went away is sent again
    // even if listed: a store may keep a cut-off part at its full size
    // (versitygw pads it with zeros), which would complete a corrupt file.
    if (cut) done.delete(cut);
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
        markSending(id, p.part_number);
        await send(row, p.method || "PUT", p.url, blob, p.headers, (sent) => row.progress(sentBefore + sent, file.size));
        markSending(id, null);
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

  function rememberResume(file, id, up) {
    const list = resumeList().filter((r) => r.id !== id);
    list.push({ id, name: file.name, size: file.size, modified: file.lastModified, part_size: up.part_size, part_count: up.part_count });
    saveResumeList(list);
  }

  // markSending notes in upload id's entry the part on its way (null: none).
  function markSending(id, partNumber) {
    saveResumeList(resumeList().map((r) => (r.id === id ? { ...r, sending: partNumber } : r)));
  }

  function forgetResume(id) {
    saveResumeList(resumeList().filter((r) => r.id !== id));
    showResumeNote();
  }

  const findResume = (file) => resumeList().find((r) => resumeKey(r) === fileKey(file));

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

  // showResumeNote names the remembered uploads that no tab runs now: one
  // that a tab runs (it holds the file's lock) is not unfinished.
  let noteSeq = 0;
  async function showResumeNote() {
    const seq = ++noteSeq;
    const held = new Set();
    for (const key of running.keys()) held.add(lockName(key));
    if (locks && resumeList().length) {
      try {
        for (const l of (await locks.query()).held || []) held.add(l.name);
      } catch (e) { /* no answer: this tab's own uploads are still known */ }
    }
    if (seq !== noteSeq) return; // a newer call shows the newer state
    const list = resumeList().filter((r) => !held.has(lockName(resumeKey(r))));
    const note = $("resume-note");
    note.hidden = list.length === 0;
    note.textContent = list.length ? `Unfinished: ${list.map((r) => r.name).join(", ")}. Drop or choose the same file again to resume where it stopped.` : "";
  }

  // A tab that closes or reloads mid-upload says nothing as it goes, so
  // the note is looked at again now and then.
  const NOTE_EVERY = 3000; // ms

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
    state.batch = files.length > 1 && state.sharesSupported ? { want: new Set(files.map(fileKey)), done: [] } : null;
    $("drop-offer").hidden = true;
  }

  function noteBatchFile(file, f) {
    const b = state.batch;
    if (!b || !b.want.delete(fileKey(file))) return;
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
    wireDrop();
    wireShareDialog();
    listenToOtherTabs();
    showResumeNote();
    setInterval(showResumeNote, NOTE_EVERY);
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
