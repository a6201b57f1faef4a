//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is the Dropp under load: its base URL and the bearer token the
// workers send, over one shared pool of keep-alive connections.
type target struct {
	base  string
	token string
	http  *http.Client
}

// newTarget makes the client. Each worker sends one request at a time, so
// conns workers use conns connections to Dropp (and as many to the object
// store in production mode).
func newTarget(base, token string, conns int) *target {
	tr := &http.Transport{
		MaxIdleConnsPerHost: 2 * conns,
		DisableCompression:  true,
		IdleConnTimeout:     90 * time.Second,
	}
	return &target{base: base, token: token, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// sample is one request as the client saw it.
type sample struct {
	op         string
	api        bool // to Dropp's JSON API; the others go to the upload and download URLs it hands out
	start, end time.Time
	status     int    // 0 when no complete answer arrived (refused, reset, cut, timed out)
	code       string // the "error" code of a non-2xx JSON answer
	problem    string // why the answer is not the expected one; "" when it is
	idleConn   bool   // sent on a kept-alive connection that was idle
	answered   bool   // some byte of an answer arrived
}

func (s sample) latency() time.Duration { return s.end.Sub(s.start) }

// unavailable is Dropp's documented answer while MongoDB is away.
func (s sample) unavailable() bool {
	return s.api && s.status == http.StatusServiceUnavailable && s.code == "unavailable"
}

// fileState is what the client was told about a file: the ledger of
// acknowledged writes checked at the end.
type fileState int

const (
	statePending       fileState = iota // create acknowledged; no completion acknowledged
	stateMaybeComplete                  // complete sent but its answer lost or 503: pending or complete
	stateComplete                       // complete acknowledged
	stateDeleted                        // delete acknowledged
	stateUnknown                        // delete sent but its answer lost or 503: may exist or not
)

// fileRecord is one file the load created, with the bytes it uploaded.
type fileRecord struct {
	id      string
	state   fileState
	content []byte
}

// load is one run of workers against a target, with its stop conditions.
type load struct {
	t       *target
	until   time.Time
	termAt  atomic.Pointer[time.Time] // set when dropp was sent SIGTERM
	wg      sync.WaitGroup
	workers []*worker
}

// startLoad starts conns workers that loop over the mixed traffic until
// the given time (a request in flight then is finished, never cancelled).
func startLoad(t *target, conns int, d time.Duration) *load {
	l := &load{t: t, until: time.Now().Add(d)}
	for i := range conns {
		w := newWorker(l, i)
		l.workers = append(l.workers, w)
		l.wg.Go(w.run)
	}
	return l
}

// wait waits for the workers and gathers their samples and files.
func (l *load) wait() ([]sample, []*fileRecord) {
	l.wg.Wait()
	var samples []sample
	var files []*fileRecord
	for _, w := range l.workers {
		samples = append(samples, w.samples...)
		files = append(files, w.files...)
	}
	return samples, files
}

// worker is one client connection's worth of traffic.
type worker struct {
	l       *load
	id, n   int
	rnd     *rand.Rand
	data    []byte // file contents are slices of it
	samples []sample
	files   []*fileRecord // every file it created
	live    []*fileRecord // those it has not tried to delete yet, oldest first
}

func newWorker(l *load, id int) *worker {
	rnd := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	return &worker{l: l, id: id, rnd: rnd, data: data}
}

// run loops until the load's end; after SIGTERM, until the first request
// without an answer (the listener is closed: nothing more to learn).
func (w *worker) run() {
	for time.Now().Before(w.l.until) {
		if w.l.termAt.Load() != nil && len(w.samples) > 0 && w.samples[len(w.samples)-1].status == 0 {
			return
		}
		w.iteration()
	}
}

// liveFiles is how many files each worker keeps: beyond it, each iteration
// deletes its oldest file. Like a drop box emptied by its reader, it keeps
// the user's file count (and so a list's cost on FerretDB, which sorts in
// memory instead of using the index) from growing with the run's length.
const liveFiles = 4

// iteration is one file's life: create, upload, complete, list, download
// and fetch, then the deletion of the worker's oldest file beyond
// liveFiles. It stops at the first answer that is not the expected one.
func (w *worker) iteration() {
	w.n++
	size := 1 + w.rnd.IntN(8<<10)
	off := w.rnd.IntN(len(w.data) - size)
	f := &fileRecord{content: w.data[off : off+size]}
	var created struct {
		File   struct{ ID string }
		Upload uploadForm
	}
	body := fmt.Sprintf(`{"filename":"soak-%d-%d.bin","size":%d,"content_type":"application/octet-stream"}`, w.id, w.n, size)
	if !w.callJSON("create", "POST", "/upload/", body, http.StatusCreated, &created) {
		return
	}
	f.id = created.File.ID
	w.files, w.live = append(w.files, f), append(w.live, f)
	if !w.upload("upload", created.Upload, f.content) ||
		!w.complete(f) ||
		!w.callJSON("list", "GET", "/list/?limit=20", "", http.StatusOK, &struct{ Files []any }{}) ||
		!w.download(f) {
		return
	}
	if len(w.live) > liveFiles {
		w.delete(w.live[0])
		w.live = w.live[1:]
	}
}

// complete asks for completion and notes in the ledger what the answer
// proves.
func (w *worker) complete(f *fileRecord) bool {
	var done struct{ File struct{ Status string } }
	ok := w.callJSON("complete", "POST", "/upload/"+f.id+"/complete", "", http.StatusOK, &done)
	switch st := w.last().status; {
	case ok:
		f.state = stateComplete
	case st == http.StatusConflict || st == http.StatusNotFound:
		// a definite refusal: still pending
	default:
		f.state = stateMaybeComplete
	}
	return ok
}

// download gets a download URL and fetches it; the bytes must be the ones
// uploaded.
func (w *worker) download(f *fileRecord) bool {
	var dl struct{ URL string }
	if !w.callJSON("download", "GET", "/download/"+f.id, "", http.StatusOK, &dl) {
		return false
	}
	return w.fetch(dl.URL, f.content)
}

// fetch GETs a download URL and compares the bytes.
func (w *worker) fetch(u string, want []byte) bool {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		w.note("fetch", "bad download URL "+u)
		return false
	}
	status, got := w.call("fetch", false, req, http.StatusOK)
	if status == http.StatusOK && !bytes.Equal(got, want) {
		w.mark(fmt.Sprintf("content differs: got %d bytes, want %d", len(got), len(want)))
		return false
	}
	return status == http.StatusOK
}

// delete deletes a file and notes what the answer proves.
func (w *worker) delete(f *fileRecord) {
	req, _ := http.NewRequest("DELETE", w.l.t.base+"/files/"+f.id, nil)
	switch status, _ := w.call("delete", true, req, http.StatusNoContent); status {
	case http.StatusNoContent:
		f.state = stateDeleted
	case http.StatusNotFound:
		// a definite answer, and a wrong one: the ledger check will tell
	default:
		f.state = stateUnknown
	}
}

// uploadForm is the {"url","fields"} of POST /upload/.
type uploadForm struct {
	URL    string
	Fields map[string]string
}

// upload posts the bytes to the form as clients must: every field, then
// the file last.
func (w *worker) upload(op string, form uploadForm, content []byte) bool {
	body, contentType := multipartBody(form.Fields, content)
	req, err := http.NewRequest("POST", form.URL, bytes.NewReader(body))
	if err != nil {
		w.note(op, "bad upload URL "+form.URL)
		return false
	}
	req.Header.Set("Content-Type", contentType)
	status, _ := w.call(op, false, req, http.StatusNoContent)
	return status == http.StatusNoContent
}

// multipartBody is an upload form's body: its fields (sorted), file last.
func multipartBody(fields map[string]string, content []byte) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		mw.WriteField(k, fields[k])
	}
	part, _ := mw.CreateFormFile("file", "soak.bin")
	part.Write(content)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// callJSON sends an API request (body, if any, as JSON) and decodes the
// expected answer into v.
func (w *worker) callJSON(op, method, path, body string, want int, v any) bool {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, w.l.t.base+path, r)
	if err != nil {
		w.note(op, err.Error())
		return false
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	status, got := w.call(op, true, req, want)
	if status != want {
		return false
	}
	if err := json.Unmarshal(got, v); err != nil {
		w.mark("answer is not the documented JSON: " + err.Error())
		return false
	}
	return true
}

// call sends one request, reads the whole answer and records the sample;
// it returns the status (0 without a complete answer) and the body.
func (w *worker) call(op string, api bool, req *http.Request, want int) (int, []byte) {
	if api {
		req.Header.Set("Authorization", "Bearer "+w.l.t.token)
	}
	s := sample{op: op, api: api, start: time.Now()}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn:              func(c httptrace.GotConnInfo) { s.idleConn = c.Reused && c.WasIdle },
		GotFirstResponseByte: func() { s.answered = true },
	}))
	resp, err := w.l.t.http.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	s.end = time.Now()
	switch {
	case err != nil:
		s.problem = err.Error()
	case resp.StatusCode != want:
		s.status, s.code = resp.StatusCode, errorCode(body)
		s.problem = fmt.Sprintf("%d %s (want %d)", s.status, s.code, want)
	default:
		s.status = resp.StatusCode
	}
	w.samples = append(w.samples, s)
	return s.status, body
}

// errorCode is the "error" of Dropp's JSON error shape, or a marker.
func errorCode(body []byte) string {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return "(not the JSON error shape)"
	}
	return e.Error
}

func (w *worker) last() *sample { return &w.samples[len(w.samples)-1] }

// mark records that the last answer, though of the expected status, was
// wrong.
func (w *worker) mark(problem string) { w.last().problem = problem }

// note records a failure that happened before any request was sent.
func (w *worker) note(op, problem string) {
	now := time.Now()
	w.samples = append(w.samples, sample{op: op, start: now, end: now, problem: problem})
}
