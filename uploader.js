// Dropp's uploader, shared by the owner's web page (app.js, which loads it
// as /uploader.js) and the file request page (request.html, which inlines
// it so that its CSP allows it by hash). It sends a file the way the
// server's answer to "create" says (a form, a PUT, or parts straight to
// the storage), completes it, and resumes an unfinished multipart upload
// of the same file after a failure or a reload. What differs between the
// pages (the routes' base path, the API call, extra fields, what the page
// shows once a file is in) comes in newUploader's options.
"use strict";

const DroppUploader = (() => {
  const MULTIPART_FROM = 16 * 1024 * 1024; // bytes; smaller files go in one request
  const PART_BATCH = 10; // part URLs asked for at a time: few, so none expires before its turn
  const COMPLETED_FOR = 10 * 60 * 1000; // ms a completion is remembered, for tabs that waited
  const NOTE_EVERY = 3000; // ms: a tab that closes or reloads mid-upload says nothing as it goes
  const AT_ONCE = 3; // uploads a page runs at once; the rest wait their turn
  const RETRIES = 10; // tries again of an API call turned away for now (429, or 503 with Retry-After)

  // ApiError is an API or storage failure, with the server's own words;
  // status -1 is a cancel, 0 no answer. retryAfter is the answer's
  // Retry-After header, if any.
  class ApiError extends Error {
    constructor(status, message, retryAfter) { super(message); this.status = status; this.retryAfter = retryAfter || null; }
  }

  // turnedAway tells an answer that means "not now, nothing was done":
  // the rate limit (429), or a server shedding load (503 with Retry-After).
  const turnedAway = (e) => e.status === 429 || (e.status === 503 && e.retryAfter !== null);

  // retrying calls api, and again after the Retry-After delay (1 to 30 s)
  // while it is turned away, a few times. A drop of many files to a
  // request link made far more calls than its rate limit allows a minute,
  // and each file refused after its bytes were sent stayed pending,
  // holding the request's room (review 13). The call's first argument is
  // the AbortSignal of its upload's Cancel, which ends the wait at once:
  // before, a file cancelled while it waited kept its slot, and the files
  // after it waited their turn, up to 30 s a try.
  function retrying(api) {
    return async (stop, ...args) => {
      for (let tries = 0; ; tries++) {
        try {
          return await api(...args);
        } catch (e) {
          if (!turnedAway(e) || tries >= RETRIES) throw e;
          const wait = Math.min(Math.max(Number(e.retryAfter) || 1, 1), 30);
          await pause(wait * 1000, stop);
        }
      }
    };
  }

  // pause resolves after ms, or rejects as a cancel (ApiError -1) as soon
  // as stop aborts.
  function pause(ms, stop) {
    return new Promise((resolve, reject) => {
      const cancel = () => {
        clearTimeout(timer);
        reject(new ApiError(-1, "Cancelled."));
      };
      const timer = setTimeout(() => {
        stop.removeEventListener("abort", cancel);
        resolve();
      }, ms);
      if (stop.aborted) cancel();
      else stop.addEventListener("abort", cancel, { once: true });
    });
  }

  // slots lets n tasks run at once; the others wait in order.
  function slots(n) {
    let free = n;
    const waiting = [];
    return async (task) => {
      if (free > 0) free--;
      else await new Promise((resolve) => waiting.push(resolve));
      try {
        return await task();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else free++;
      }
    };
  }

  // formatSize writes sizes as every Dropp page does (the share and admin
  // pages get them from humanSize in Go): binary units with one decimal
  // ("30.0 MiB", "512 bytes"), so one file reads the same everywhere.
  function formatSize(n) {
    if (n === null || n === undefined) return "size unknown";
    if (n < 1024) return n === 1 ? "1 byte" : `${n} bytes`;
    let div = 1024, exp = 0;
    for (let m = Math.floor(n / 1024); m >= 1024 && exp < 5; m = Math.floor(m / 1024)) { div *= 1024; exp++; }
    return `${(n / div).toFixed(1)} ${"KMGTPE"[exp]}iB`;
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

  // uploadRow is one upload's line in list: name, progress bar, status
  // and cancel; doneText is what it says once the file is in.
  function uploadRow(list, file, doneText) {
    const make = (tag, props) => Object.assign(document.createElement(tag), props);
    const bar = make("progress", { max: 100, value: 0 });
    bar.setAttribute("aria-label", `Upload of ${file.name}`);
    const status = make("span", { className: "status", textContent: "Starting…" });
    const cancel = make("button", { type: "button", className: "secondary", textContent: "Cancel", ariaLabel: `Cancel the upload of ${file.name}` });
    const li = make("li");
    li.append(make("span", { className: "name", textContent: file.name }), cancel, bar, status);
    list.append(li);
    const started = performance.now();
    return {
      li, cancel, cancelled: false, xhr: null,
      stop: new AbortController(), // aborted by Cancel: ends the upload's waits
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
        li.dataset.done = "1";
        this.end(how ? `${doneText} (${how})` : doneText);
        setTimeout(() => li.remove(), 4000);
      },
    };
  }

  // fileKey names a file by what a reload can know it by: name, size and
  // date. Two different files can share it (two folders' report.txt with
  // the same length and time): what tells them apart is their bytes
  // (partSum), and, within one drop, batchKeys.
  const fileKey = (file) => JSON.stringify([file.name, file.size, file.lastModified]);

  // batchKeys names each file of one drop or choice: its fileKey, and for
  // the second and later files that share one, that key numbered. The
  // files of one drop are always different files (a system never lists one
  // file twice), so none of them may follow or wait for another.
  function batchKeys(files) {
    const seen = new Map();
    return files.map((file) => {
      const key = fileKey(file), n = (seen.get(key) || 0) + 1;
      seen.set(key, n);
      return n === 1 ? key : `${key}#${n}`;
    });
  }

  // partSum is the SHA-256 (hex) of a part's bytes: the resume record
  // notes it for each part sent, and a resume keeps a stored part only if
  // the file dropped again has the same bytes there. It is null where it
  // cannot be had (no Web Crypto on plain HTTP from another host, a part
  // too big to read at once): such a part is sent again on a resume.
  async function partSum(blob) {
    if (!(self.crypto && crypto.subtle)) return null;
    try {
      const d = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
      return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
    } catch (e) {
      return null;
    }
  }

  // scopeName tells one page's uploads from another's in the storage,
  // locks and messages that all pages of this origin share, without
  // writing the path itself (a request link's token) there.
  function scopeName(base) {
    let h = 0x811c9dc5; // FNV-1a
    for (let i = 0; i < base.length; i++) h = Math.imul(h ^ base.charCodeAt(i), 0x01000193) >>> 0;
    return base ? `dropp.request.${h.toString(16)}` : "dropp";
  }

  // wireDrop uploads, with start(files), what is chosen with input or
  // dropped anywhere on the page; zone shows where.
  function wireDrop(zone, input, start) {
    input.addEventListener("change", () => {
      start(Array.from(input.files));
      input.value = "";
    });
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
      start(Array.from(e.dataTransfer.files));
    });
  }

  // newUploader makes the uploader of one page. opts:
  //   base     the path the upload routes hang under ("" or "/r/{token}")
  //   api      (method, path, body) → the JSON answer, or throws ApiError
  //   list     the element upload lines go in; note: the "Unfinished" line
  //   announce (msg) tells a screen reader how an upload ended
  //   doneText what a line says once its file is in
  //   fields   () → extra fields of the create body (optional)
  //   discard  (id) deletes a pending file this page created (optional:
  //            a page that may not delete leaves it to the sweeper)
  //   done     (file, f) once this tab completed file as record f
  //   elsewhere (f) once another tab completed f (f is null when only the
  //            server knows: the page reads its state again)
  function newUploader(opts) {
    const base = opts.base;
    const scope = scopeName(base);
    const RESUME_KEY = `${scope}.multipart`; // localStorage: unfinished multipart uploads
    const COMPLETED_KEY = `${scope}.completed`; // localStorage: uploads completed lately
    const fields = opts.fields || (() => ({}));
    const api = retrying(opts.api);
    const inTurn = slots(AT_ONCE); // a drop of hundreds of files sends a few at a time
    let multipartSupported = true;

    async function createUpload(row, file) {
      const body = { filename: file.name, size: file.size, ...fields() };
      if (file.type) body.content_type = file.type;
      if (multipartSupported && file.size > MULTIPART_FROM) {
        try {
          return await api(row.stop.signal, "POST", `${base}/upload/`, { ...body, multipart: true });
        } catch (e) {
          if (!(e.status === 400 && /multipart/.test(e.message) && /unknown/.test(e.message))) throw e;
          multipartSupported = false; // an older server: one request it is
        }
      }
      return api(row.stop.signal, "POST", `${base}/upload/`, body);
    }

    // ---- One writer per upload ----
    // A file dropped twice, in one tab or in two, must not get two writers:
    // they would race on the same parts, one would fail, and a failure must
    // never cost the file the other one completed. So each upload runs
    // under a Web Lock named after the file's key (batchKeys: name, size,
    // date, and its place among same-named files of its drop), which
    // every tab of this browser shares and which a tab that goes away
    // releases. A drop of a file this tab uploads now follows that upload;
    // one that another tab uploads waits for that tab, then finishes what
    // it left, if anything. Without Web Locks (a page served over plain
    // HTTP from another host) only this tab's uploads are known.

    const locks = navigator.locks;
    const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(`${scope}.uploads`) : null;
    const running = new Map(); // file key → the outcome of this tab's upload of it

    // resumeKey is the key of the file an unfinished upload was of (older
    // records name only the file).
    const resumeKey = (r) => r.key || JSON.stringify([r.name, r.size, r.modified]);
    const lockName = (key) => `${scope}.upload ${key}`;

    // uploadFiles starts the uploads of the files of one drop or choice,
    // and returns their outcomes.
    function uploadFiles(files) {
      const keys = batchKeys(files);
      return files.map((file, i) => uploadFile(file, keys[i]));
    }

    // uploadFile starts the upload of a dropped or chosen file, or follows
    // the one this tab runs already of the same key (an earlier drop). It
    // resolves with the outcome.
    function uploadFile(file, key) {
      const row = uploadRow(opts.list, file, opts.doneText);
      row.cancel.addEventListener("click", () => {
        if (row.ended) { row.li.remove(); return; }
        row.cancelled = true;
        row.stop.abort();
        if (row.xhr) row.xhr.abort();
        row.li.remove();
      });
      const ongoing = running.get(key);
      if (ongoing) return follow(row, ongoing);
      row.say("Waiting for the uploads above…");
      const outcome = inTurn(() => (row.cancelled ? { status: "cancelled" } : uploadAlone(key, row, file)));
      running.set(key, outcome);
      outcome.then(() => {
        running.delete(key);
        changed();
      });
      return outcome;
    }

    // follow shows on row how the upload this tab runs already ends.
    async function follow(row, ongoing) {
      row.say("Already uploading above: this line shows how it ends.");
      const o = await ongoing;
      if (row.cancelled) return o;
      if (o.status === "done") row.succeed();
      else if (o.status === "failed") row.fail(`Failed: ${o.message}`);
      else row.end("The upload above was cancelled.");
      return o;
    }

    // uploadAlone runs upload(row, file) as the file's only writer in this
    // browser: at once if no tab uploads it, else once that tab is done,
    // and only if it left something to do. It resolves with the outcome.
    async function uploadAlone(key, row, file) {
      if (!locks) return upload(row, file, key);
      const since = Date.now();
      let first;
      try {
        first = await locks.request(lockName(key), { ifAvailable: true }, (lock) => (lock ? upload(row, file, key) : null));
      } catch (e) {
        return upload(row, file, key); // locks refused here (a sandboxed frame): this tab alone, as without them
      }
      if (first) return first;
      row.say("Uploading in another tab: this line waits for it, and takes over if that tab stops.");
      // How that tab ends is known three ways, since neither its message
      // nor its localStorage writes are sure to arrive before its lock is
      // released: its message, its record of completions, and, for the
      // multipart upload it runs, the server itself.
      // Its resume records, read now (it forgets one once complete) and
      // again once its lock is free (it may not have written it yet now).
      const seenBefore = findResume(key);
      let heard = null;
      const hear = (ev) => { if (ev.data && ev.data.key === key && ev.data.completed) heard = ev.data.completed; };
      if (channel) channel.addEventListener("message", hear);
      try {
        return await locks.request(lockName(key), { signal: row.stop.signal }, async () => {
          if (row.cancelled) return { status: "cancelled" };
          let done = heard || completedSince(key, since);
          const seen = new Map([...seenBefore, ...findResume(key)].map((r) => [r.id, r]));
          for (const r of done ? [] : seen.values()) {
            if ((await fileStatus(row, { id: r.id, multipart: true })) !== "complete" || !(await sameBytes(file, r, notedParts(r)))) continue;
            forgetResume(r.id);
            opts.elsewhere(null);
            done = { id: r.id };
            break;
          }
          if (!done) return upload(row, file, key);
          row.succeed("uploaded in another tab");
          return { status: "done", file: done };
        });
      } catch (e) {
        return { status: "cancelled" }; // Cancel stopped the wait
      } finally {
        if (channel) channel.removeEventListener("message", hear);
      }
    }

    // upload sends file and completes it, resuming this browser's
    // unfinished upload of it if there is one. It never rejects: it
    // resolves with the outcome, {status: "done" | "failed" | "cancelled"}.
    async function upload(row, file, key) {
      changed(); // other tabs: this one is running it now
      const job = { id: null, multipart: false, created: false, completeSent: false };
      try {
        row.say(findResume(key).length ? "Checking what was sent before…" : "Starting…");
        let created;
        const resume = await usableResume(row, file, key);
        if (resume && resume.complete) {
          opts.elsewhere(null); // the page reads its files again
          row.succeed("uploaded before");
          return { status: "done" };
        }
        if (resume) {
          const r = resume.record;
          created = { file: { id: r.id }, upload: { method: "multipart", part_size: r.part_size, part_count: r.part_count }, have: resume.have };
        } else {
          created = await createUpload(row, file);
          job.created = true;
        }
        job.id = created.file.id;
        job.multipart = created.upload.method === "multipart";
        if (row.cancelled) throw new ApiError(-1, "Cancelled.");
        await sendBytes(row, file, key, created);
        if (row.cancelled) throw new ApiError(-1, "Cancelled.");
        row.say("Finishing…");
        job.completeSent = true;
        const done = await api(row.stop.signal, "POST", `${base}/upload/${job.id}/complete`, { size: file.size });
        finished(file, key, done.file);
        row.succeed();
        return { status: "done", file: done.file };
      } catch (e) {
        return afterFailure(row, file, job, e);
      }
    }

    // afterFailure settles a failed or cancelled upload. The file's state
    // is asked again first: an upload whose complete was answered too late
    // is complete, not failed. Only a file this upload created, never
    // completed and the server still has pending is discarded: a
    // one-request upload that failed (it starts again from zero), or any
    // that was cancelled. A multipart upload that failed stays, to be
    // resumed; one whose file is gone (deleted meanwhile) is forgotten.
    // A cancelled upload this tab created and never completed is not
    // asked about: it is pending, or gone, and discarded either way, and
    // asking could answer "unknown" after a 429 (the cancel ends its wait).
    async function afterFailure(row, file, job, e) {
      const cancelled = row.cancelled || e.status === -1;
      const ours = job.created && !job.completeSent;
      const status = !job.id ? "none" : cancelled && ours ? "pending" : await fileStatus(row, job);
      if (status === "complete") {
        forgetResume(job.id);
        opts.elsewhere(null);
        if (!cancelled) row.succeed();
        return { status: "done" };
      }
      if (status === "pending" && ours && (cancelled || !job.multipart)) {
        forgetResume(job.id);
        if (opts.discard) opts.discard(job.id);
      }
      if (status === "gone") forgetResume(job.id);
      if (cancelled) return { status: "cancelled" };
      row.fail(`Failed: ${e.message}`);
      opts.announce(`${file.name} failed: ${e.message}`);
      return { status: "failed", message: e.message };
    }

    // fileStatus is what the server says of the upload now: "pending",
    // "complete", "gone", or "unknown". Only this tab knows a one-request
    // upload's form, so one it never completed is pending.
    async function fileStatus(row, job) {
      if (!job.multipart) return job.completeSent ? "unknown" : "pending";
      try {
        await api(row.stop.signal, "GET", `${base}/upload/${job.id}/parts`);
        return "pending";
      } catch (e) {
        if (e.status === 404) return "gone";
        if (e.status === 409 && /already complete/.test(e.message)) return "complete";
        return "unknown";
      }
    }

    // finished tells the page and the other tabs that file f, uploaded
    // under key, is complete, and forgets it as unfinished.
    function finished(file, key, f) {
      forgetResume(f.id);
      const list = completedList().filter((c) => c.key !== key);
      list.push({ key, at: Date.now(), file: f });
      try { localStorage.setItem(COMPLETED_KEY, JSON.stringify(list)); } catch (e) { /* storage full or off */ }
      if (channel) channel.postMessage({ completed: f, key });
      opts.announce(`${file.name} uploaded.`);
      opts.done(file, f);
    }

    function completedList() {
      let list;
      try { list = JSON.parse(localStorage.getItem(COMPLETED_KEY) || "[]"); } catch (e) { list = []; }
      return list.filter((c) => c.at > Date.now() - COMPLETED_FOR);
    }

    // completedSince is the file that another tab completed from key
    // since the time since, if one did.
    function completedSince(key, since) {
      const c = completedList().find((c) => c.key === key && c.at >= since);
      return c ? c.file : null;
    }

    // changed tells the other tabs that an upload started or ended here,
    // so that they show what is unfinished anew; and shows it here.
    function changed() {
      if (channel) channel.postMessage({ changed: true });
      showResumeNote();
    }

    // sendBytes sends the file the way the server's answer says: a form
    // POST (also when "method" is absent, as older servers answer), a PUT,
    // or parts.
    function sendBytes(row, file, key, created) {
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
          return sendParts(row, file, key, created.file.id, up, created.have || new Set());
      }
      return Promise.reject(new ApiError(0, `This page cannot upload with method "${up.method}".`));
    }

    // sendParts uploads the parts of upload id but those in have (the
    // stored parts a resume found to hold this file's bytes), remembering
    // each one done, and its SHA-256, so a reload can resume.
    async function sendParts(row, file, key, id, up, have) {
      rememberResume(file, key, id, up);
      let sentBefore = 0;
      for (const n of have) sentBefore += partBlob(file, up, n).size;
      const todo = [];
      for (let n = 1; n <= up.part_count; n++) if (!have.has(n)) todo.push(n);
      for (let i = 0; i < todo.length; i += PART_BATCH) {
        const batch = todo.slice(i, i + PART_BATCH);
        const urls = await api(row.stop.signal, "POST", `${base}/upload/${id}/parts`, { part_numbers: batch });
        for (const p of urls.parts) {
          if (row.cancelled) return;
          const blob = partBlob(file, up, p.part_number);
          // Until it is answered, the part is noted as unsent: one cut off
          // by a reload is sent again even if the store lists it (a store
          // may keep a cut-off part at full size, versitygw pads it with
          // zeros, which would complete a corrupt file).
          markSent(id, p.part_number, null);
          const sum = partSum(blob);
          await send(row, p.method || "PUT", p.url, blob, p.headers, (sent) => row.progress(sentBefore + sent, file.size));
          markSent(id, p.part_number, await sum);
          sentBefore += blob.size;
        }
      }
    }

    // ---- Resuming multipart uploads after a reload ----
    // A page cannot reopen a file by itself after a reload, so the upload
    // is remembered by the file's key (name, size and date), with the
    // SHA-256 of each part sent, and resumes when the same file is dropped
    // or picked again: the same key, and the same bytes in every stored
    // part it keeps. Another file of that name, size and date (two exports
    // of a fixed-size format, files copied with their times) has other
    // bytes, and gets an upload of its own.

    // partBlob is part n of file in upload up.
    const partBlob = (file, up, n) => file.slice((n - 1) * up.part_size, Math.min(n * up.part_size, file.size));

    // allParts is every part number of the upload of record r.
    const allParts = (r) => Array.from({ length: r.part_count }, (_, i) => i + 1);

    // notedParts is the part numbers of record r whose SHA-256 is noted.
    const notedParts = (r) => allParts(r).filter((n) => r.sums && r.sums[n]);

    // sameBytes tells whether file holds, in each of the parts numbered,
    // the bytes record r's upload was sent (a part without a noted SHA-256
    // is not known, and is not the same).
    async function sameBytes(file, r, parts) {
      for (const n of parts) {
        const noted = r.sums && r.sums[n];
        if (!noted || noted !== (await partSum(partBlob(file, r, n)))) return false;
      }
      return true;
    }

    function resumeList() {
      try { return JSON.parse(localStorage.getItem(RESUME_KEY) || "[]"); } catch (e) { return []; }
    }

    function saveResumeList(list) {
      try { localStorage.setItem(RESUME_KEY, JSON.stringify(list)); } catch (e) { /* storage full or off */ }
    }

    // rememberResume notes the upload id of file as unfinished, keeping
    // the SHA-256s noted of its parts sent before.
    function rememberResume(file, key, id, up) {
      const before = resumeList().find((r) => r.id === id);
      const list = resumeList().filter((r) => r.id !== id);
      list.push({ id, key, name: file.name, size: file.size, modified: file.lastModified, part_size: up.part_size, part_count: up.part_count, sums: (before && before.sums) || {} });
      saveResumeList(list);
    }

    // markSent notes in upload id's entry the SHA-256 of part n as sent
    // (null: not sent, or on its way).
    function markSent(id, n, sum) {
      saveResumeList(resumeList().map((r) => (r.id === id ? { ...r, sums: { ...r.sums, [n]: sum } } : r)));
    }

    function forgetResume(id) {
      saveResumeList(resumeList().filter((r) => r.id !== id));
      showResumeNote();
    }

    // findResume lists the unfinished uploads remembered under key.
    const findResume = (key) => resumeList().filter((r) => resumeKey(r) === key);

    // usableResume finds the unfinished upload of file that the server
    // still has (it may have expired or been deleted meanwhile), and the
    // stored parts of it that hold this file's bytes: {record, have}. An
    // upload with a stored part of other bytes was another file's, and is
    // left alone, to be resumed with that file. An upload already complete
    // (its complete went through, though the page heard an error) is
    // {complete} if every part of it was this file's, and forgotten; one
    // whose parts are joined already, all this file's, is only completed.
    async function usableResume(row, file, key) {
      for (const r of findResume(key)) {
        let listed;
        try {
          listed = ((await api(row.stop.signal, "GET", `${base}/upload/${r.id}/parts`)).parts || []).map((p) => p.part_number);
        } catch (e) {
          if (e.status !== 404 && e.status !== 409) throw e;
          const joined = e.status === 409 && /already (joined|complete)/.test(e.message);
          const whole = joined && (await sameBytes(file, r, allParts(r)));
          // Joined by a complete whose record was not written: complete again.
          if (whole && /already joined/.test(e.message)) return { record: r, have: new Set(allParts(r)) };
          forgetResume(r.id);
          if (whole) return { complete: r };
          continue;
        }
        const noted = listed.filter((n) => notedParts(r).includes(n));
        if (await sameBytes(file, r, noted)) return { record: r, have: new Set(noted) };
      }
      return null;
    }

    // showResumeNote names the remembered uploads that no tab runs now:
    // one that a tab runs (it holds the file's lock) is not unfinished.
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
      opts.note.hidden = list.length === 0;
      opts.note.textContent = list.length ? `Unfinished: ${list.map((r) => r.name).join(", ")}. Drop or choose the same file again to resume where it stopped.` : "";
    }

    // start listens to the other tabs and keeps the note up to date.
    function start() {
      if (channel) {
        channel.onmessage = (ev) => {
          const f = ev.data && ev.data.completed;
          if (f) opts.elsewhere(f);
          showResumeNote();
        };
      }
      showResumeNote();
      setInterval(showResumeNote, NOTE_EVERY);
    }

    // forget (id) stops naming the upload of file id unfinished: the page
    // deleted it.
    return { uploadFiles, forget: forgetResume, start };
  }

  return { ApiError, formatSize, wireDrop, newUploader };
})();
