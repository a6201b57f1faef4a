//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// slowRequests is how many deliberately slow requests are in flight when
// dropp gets SIGTERM, besides the load's own.
const slowRequests = 4

// slowBodyTime is how long each slow request takes to send its body.
const slowBodyTime = 3 * time.Second

// shutdownRun is what happened around dropp's SIGTERM.
type shutdownRun struct {
	samples   []sample
	files     []*fileRecord
	termAt    time.Time
	exitAfter time.Duration
	exitErr   error
}

// runShutdown runs the load, starts slow requests whose bodies take 3 s to
// send, and sends dropp SIGTERM 1.5 s into them. localObjects adds slow
// uploads through dropp's own upload endpoint to the slow API requests.
func runShutdown(p *droppProc, t *target, conns int, localObjects bool) shutdownRun {
	l := startLoad(t, conns, 15*time.Second)
	time.Sleep(2 * time.Second)
	slow := make([]*worker, slowRequests)
	var wg sync.WaitGroup
	for i := range slow {
		slow[i] = newWorker(l, 1000+i)
		wg.Go(func() {
			if localObjects && i%2 == 1 {
				slow[i].slowUpload()
			} else {
				slow[i].slowCreate()
			}
		})
	}
	time.Sleep(slowBodyTime / 2)
	res := shutdownRun{termAt: time.Now()}
	l.termAt.Store(&res.termAt)
	res.exitAfter, res.exitErr = p.terminate(30 * time.Second)
	wg.Wait()
	res.samples, res.files = l.wait()
	for _, w := range slow {
		res.samples, res.files = append(res.samples, w.samples...), append(res.files, w.files...)
	}
	return res
}

// checkShutdown checks that every request in flight at SIGTERM got its
// whole answer (requests after it may be refused), and a clean exit.
func (r *report) checkShutdown(res shutdownRun) {
	termAt := res.termAt
	var inFlight, cut, raced int
	var cuts, slowAnswers []string
	for _, s := range res.samples {
		if !s.start.Before(termAt) {
			continue
		}
		if s.end.After(termAt) {
			inFlight++
		}
		if strings.HasPrefix(s.op, "slow-") {
			slowAnswers = append(slowAnswers, fmt.Sprintf("%s %d after %s", s.op, s.status, ms(s.latency())))
		}
		switch {
		case s.status != 0:
		case keepAliveRace(s, termAt):
			raced++
			cuts = append(cuts, fmt.Sprintf("(keep-alive race) %s sent %s before SIGTERM: %s", s.op, ms(termAt.Sub(s.start)), s.problem))
		default:
			cut++
			cuts = append(cuts, fmt.Sprintf("%s started %s before SIGTERM: %s", s.op, ms(termAt.Sub(s.start)), s.problem))
		}
	}
	r.check("SIGTERM: no in-flight request cut", cut == 0,
		"%d requests in flight at SIGTERM, %d of them slow; %d cut; %d lost to the keep-alive race", inFlight, len(slowAnswers), cut, raced)
	r.info("slow requests answered: %s", strings.Join(slowAnswers, ", "))
	for i, c := range cuts {
		if i == 5 {
			break
		}
		r.info("e.g. %s", c)
	}
	r.check("SIGTERM: clean exit", res.exitErr == nil, "exited %.2f s after SIGTERM, status %v",
		res.exitAfter.Seconds(), exitStatus(res.exitErr))
}

func exitStatus(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// slowCreate is POST /upload/ with a JSON body sent over slowBodyTime.
func (w *worker) slowCreate() {
	body := fmt.Sprintf(`{"filename":"slow-%d.bin","size":1000,"content_type":"application/octet-stream"}`, w.id)
	req, _ := http.NewRequest("POST", w.l.t.base+"/upload/", dribble([]byte(body)))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	status, got := w.call("slow-create", true, req, http.StatusCreated)
	var created struct{ File struct{ ID string } }
	if status == http.StatusCreated && json.Unmarshal(got, &created) == nil {
		w.files = append(w.files, &fileRecord{id: created.File.ID, state: statePending})
	}
}

// slowUpload creates a file normally, then uploads 64 KiB to the local
// upload endpoint over slowBodyTime.
func (w *worker) slowUpload() {
	var created struct {
		File   struct{ ID string }
		Upload uploadForm
	}
	size := len(w.data)
	body := fmt.Sprintf(`{"filename":"slow-%d.bin","size":%d,"content_type":"application/octet-stream"}`, w.id, size)
	if !w.callJSON("create", "POST", "/upload/", body, http.StatusCreated, &created) {
		return
	}
	w.files = append(w.files, &fileRecord{id: created.File.ID, state: statePending})
	form, contentType := multipartBody(created.Upload.Fields, w.data[:size])
	req, _ := http.NewRequest("POST", created.Upload.URL, dribble(form))
	req.ContentLength = int64(len(form))
	req.Header.Set("Content-Type", contentType)
	w.call("slow-upload", false, req, http.StatusNoContent)
}

// dribble is a body that arrives in 10 pieces over slowBodyTime.
func dribble(b []byte) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		step := (len(b) + 9) / 10
		for len(b) > 0 {
			n := min(step, len(b))
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
			time.Sleep(slowBodyTime / 10)
		}
		pw.Close()
	}()
	return pr
}

// raceWindow bounds how long before SIGTERM a request can have been sent
// and still not have been seen by the server, on this busy machine.
const raceWindow = 100 * time.Millisecond

// keepAliveRace tells a request the server never saw from one it cut: sent
// on an idle kept-alive connection just before SIGTERM, without any answer.
// Shutdown closes the connections it sees idle, and bytes that arrived but
// were not yet read make that close a reset. HTTP/1.1 allows this race
// (RFC 9112, section 9.3.1: clients retry idempotent requests; Go's client
// does not retry a POST), so it is counted apart and not failed.
func keepAliveRace(s sample, termAt time.Time) bool {
	return s.idleConn && !s.answered && termAt.Sub(s.start) < raceWindow
}
