//go:build linux

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// mongoProc is the MongoDB-wire server (FerretDB) the faults are done to.
// scripts/lib/rig.sh started it and keeps its process id in a file; a
// restart is a shell command, since the script knows how it was started.
type mongoProc struct {
	pidFile    string
	restartCmd string
}

// signal sends sig to the server and returns when it was sent.
func (m mongoProc) signal(sig syscall.Signal) (time.Time, error) {
	raw, err := os.ReadFile(m.pidFile)
	if err != nil {
		return time.Time{}, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", m.pidFile, err)
	}
	at := time.Now()
	return at, syscall.Kill(pid, sig)
}

// restart starts the server again and returns once it accepts connections.
func (m mongoProc) restart() (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", m.restartCmd)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	err := cmd.Run()
	return time.Now(), err
}

// outage is one fault: from when it was done to when the server was back
// (restarted and ready, or continued).
type outage struct {
	name        string
	start, back time.Time
}

// recoveryBound is how soon after MongoDB's return Dropp must answer again.
const recoveryBound = 10 * time.Second

// unavailableBound is how soon after MongoDB goes away Dropp must say so.
const unavailableBound = 3 * time.Second

// excuses is true for a 503 "unavailable" that overlaps an outage or the
// recovery time after it: the answer Dropp owes clients then.
func excuses(outages []outage) func(sample) bool {
	return func(s sample) bool {
		for _, o := range outages {
			if s.unavailable() && !s.end.Before(o.start) && !s.start.After(o.back.Add(recoveryBound)) {
				return true
			}
		}
		return false
	}
}

// runFaults runs the load for 55 s while MongoDB is killed (SIGKILL at 5 s,
// restarted at 10 s) and hung (SIGSTOP at 30 s, SIGCONT at 35 s). meter
// counts CPU time across the restart.
func runFaults(t *target, conns int, m mongoProc, meter *cpuMeter) ([]sample, []*fileRecord, []outage, time.Duration, error) {
	begin := time.Now()
	l := startLoad(t, conns, 55*time.Second)
	at := func(d time.Duration) { time.Sleep(time.Until(begin.Add(d))) }
	var outages []outage
	finish := func(err error) ([]sample, []*fileRecord, []outage, time.Duration, error) {
		samples, files := l.wait()
		return samples, files, outages, time.Since(begin), err
	}

	at(5 * time.Second)
	meter.mark() // what FerretDB used until now
	killed, err := m.signal(syscall.SIGKILL)
	if err != nil {
		return finish(fmt.Errorf("SIGKILL MongoDB: %w", err))
	}
	at(10 * time.Second)
	back, err := m.restart()
	if err != nil {
		return finish(fmt.Errorf("restarting MongoDB: %w", err))
	}
	outages = append(outages, outage{"SIGKILL", killed, back})

	at(30 * time.Second)
	stopped, err := m.signal(syscall.SIGSTOP)
	if err != nil {
		return finish(fmt.Errorf("SIGSTOP MongoDB: %w", err))
	}
	at(35 * time.Second)
	continued, err := m.signal(syscall.SIGCONT)
	if err != nil {
		return finish(fmt.Errorf("SIGCONT MongoDB: %w", err))
	}
	outages = append(outages, outage{"SIGSTOP", stopped, continued})
	return finish(nil)
}

// checkOutage reports how Dropp answered through one outage: how soon the
// first 503 came, and how soon after MongoDB's return an API request
// (started after it) succeeded, with no 503 for requests started later
// than recoveryBound after the return (and answered before the next fault).
func (r *report) checkOutage(o outage, next time.Time, samples []sample) {
	lateFrom, lateUntil := o.back.Add(recoveryBound), o.back.Add(recoveryBound+10*time.Second)
	if next.Before(lateUntil) {
		lateUntil = next
	}
	var first503, recovered time.Duration = -1, -1
	var during []sample
	late503 := 0
	for _, s := range samples {
		if !s.api {
			continue
		}
		if !s.start.Before(o.start) && s.start.Before(o.back) {
			during = append(during, s)
		}
		if s.unavailable() && !s.end.Before(o.start) && s.start.Before(o.back) && (first503 < 0 || s.end.Sub(o.start) < first503) {
			first503 = s.end.Sub(o.start)
		}
		if s.status/100 == 2 && !s.start.Before(o.back) && (recovered < 0 || s.end.Sub(o.back) < recovered) {
			recovered = s.end.Sub(o.back)
		}
		// A 503 answered after the next fault began may be that fault's.
		if s.status == http.StatusServiceUnavailable && !s.start.Before(lateFrom) && s.start.Before(lateUntil) && s.end.Before(next) {
			late503++
		}
	}
	l := latencyOf(during)
	r.info("MongoDB %s for %.1f s; API requests started meanwhile: %d, latency p50 %s, p99 %s, max %s",
		o.name, o.back.Sub(o.start).Seconds(), l.n, ms(l.p50), ms(l.p99), ms(l.max))
	r.check(fmt.Sprintf("MongoDB %s: 503 within %v", o.name, unavailableBound), first503 >= 0 && first503 <= unavailableBound,
		"first 503 %s after the fault", seconds(first503))
	r.check(fmt.Sprintf("MongoDB %s: recovery within %v of its return", o.name, recoveryBound),
		recovered >= 0 && recovered <= recoveryBound && late503 == 0,
		"first success %s after the return; %d 503s for requests started from %.0f s after it until %.1f s after it",
		seconds(recovered), late503, recoveryBound.Seconds(), lateUntil.Sub(o.back).Seconds())
}

// seconds shows a measured delay, or that the event never came.
func seconds(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}
