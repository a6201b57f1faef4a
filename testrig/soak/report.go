//go:build linux

package main

import (
	"fmt"
	"slices"
	"time"
)

// report prints results and counts the checks that failed.
type report struct {
	name   string // the run: local or production
	failed []string
}

// check prints one expectation and its verdict.
func (r *report) check(what string, ok bool, format string, args ...any) {
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
		r.failed = append(r.failed, what)
	}
	fmt.Printf("  %s  %s: %s\n", verdict, what, fmt.Sprintf(format, args...))
}

// info prints a figure that is not a check.
func (r *report) info(format string, args ...any) { fmt.Printf("        "+format+"\n", args...) }

// phase prints a phase's heading.
func (r *report) phase(format string, args ...any) {
	fmt.Printf("\n== %s: %s\n", r.name, fmt.Sprintf(format, args...))
}

// latencies are the percentiles of a set of samples.
type latencies struct {
	n             int
	p50, p99, max time.Duration
}

func latencyOf(samples []sample) latencies {
	d := make([]time.Duration, len(samples))
	for i, s := range samples {
		d[i] = s.latency()
	}
	slices.Sort(d)
	if len(d) == 0 {
		return latencies{}
	}
	return latencies{n: len(d), p50: percentile(d, 0.50), p99: percentile(d, 0.99), max: d[len(d)-1]}
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// throughput prints requests/s and latency, overall and per operation.
func (r *report) throughput(samples []sample, elapsed time.Duration) {
	all := latencyOf(samples)
	r.info("%d requests in %.1f s = %.0f requests/s; latency p50 %s, p99 %s, max %s",
		all.n, elapsed.Seconds(), float64(all.n)/elapsed.Seconds(), ms(all.p50), ms(all.p99), ms(all.max))
	byOp := map[string][]sample{}
	var ops []string
	for _, s := range samples {
		if _, ok := byOp[s.op]; !ok {
			ops = append(ops, s.op)
		}
		byOp[s.op] = append(byOp[s.op], s)
	}
	for _, op := range ops {
		l := latencyOf(byOp[op])
		r.info("  %-9s %7d  p50 %9s  p99 %9s  max %9s", op, l.n, ms(l.p50), ms(l.p99), ms(l.max))
	}
}

// countErrors counts answers that were not the expected ones, except those
// excused says are expected (503 during a fault), 5xx answers, and 500s
// (excused or not, none is expected); firsts are a few distinct examples.
func countErrors(samples []sample, excused func(sample) bool) (errs, fivexx, internal int, firsts []string) {
	for _, s := range samples {
		if s.status >= 500 && !excused(s) {
			fivexx++
		}
		if s.status == 500 {
			internal++
		}
		if s.problem != "" && !excused(s) {
			errs++
			if e := s.op + ": " + s.problem; len(firsts) < 5 && !slices.Contains(firsts, e) {
				firsts = append(firsts, e)
			}
		}
	}
	return errs, fivexx, internal, firsts
}

// errorsCheck is the "0 errors and 0 5xx" expectation.
func (r *report) errorsCheck(what string, samples []sample, excused func(sample) bool) {
	errs, fivexx, internal, firsts := countErrors(samples, excused)
	r.check(what, errs == 0 && fivexx == 0, "%d errors, %d 5xx (%d of them 500)", errs, fivexx, internal)
	for _, f := range firsts {
		r.info("e.g. %s", f)
	}
}

// ledgerCheck is the "no acknowledged write lost" expectation.
func (r *report) ledgerCheck(what string, res ledgerResult) {
	r.check(what, len(res.problems) == 0,
		"%d files: %d complete (%d downloaded intact), %d pending, %d deleted, %d pending or complete (completion unanswered), %d deleted or not (delete unanswered); %d problems",
		res.files, res.complete, res.downloaded, res.pending, res.deleted, res.maybe, res.unanswered, len(res.problems))
	for i, p := range res.problems {
		if i == 5 {
			r.info("... and %d more", len(res.problems)-5)
			break
		}
		r.info("e.g. %s", p)
	}
}
