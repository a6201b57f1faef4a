// Command soak puts a built dropp binary under load and faults, and checks
// what issue 7 (item 20) expects; scripts/soak builds and runs it, once in
// local mode and once on FerretDB + versitygw. It lives in the testrig
// module and uses only the standard library.
//
//	soak -name local -dropp ./dropp -data DIR
//	soak -name production -dropp ./dropp -data DIR -mongo-pidfile F -mongo-restart CMD
//
// dropp's mode comes from the inherited environment (MONGODB_URI,
// AWS_S3_BUCKET, ...); sign-in must be local (GOOGLE_CLIENT_ID unset): the
// driver gets its bearer token through the real desktop flow. Phases:
//
//  1. load: -conns workers, each one request at a time on keep-alive
//     connections, for -duration, of mixed create / upload / complete /
//     list / download and fetch / delete; 0 errors and 0 5xx expected.
//  2. faults (with -mongo-pidfile): 55 s of the same load while FerretDB
//     is killed with SIGKILL and restarted, then stopped with SIGSTOP for
//     5 s; 503 within 3 s, recovery within 10 s of its return, no 500.
//  3. SIGTERM to dropp under load, with slow requests in flight: none cut.
//  4. dropp restarted on the same data: every acknowledged write of every
//     phase is still there (the ledger).
//
// It prints PASS or FAIL per expectation and exits 1 when any failed.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	failed, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	name, dropp, data string
	conns             int
	duration          time.Duration
	mongo             mongoProc
	servers           []namedPIDFile // whose CPU time to report
}

func parseOptions() (options, error) {
	var o options
	flag.StringVar(&o.name, "name", "dropp", "label of this run in the output")
	flag.StringVar(&o.dropp, "dropp", "", "dropp binary to run (required)")
	flag.StringVar(&o.data, "data", "", "fresh DATA_DIR for it (required); its log goes next to it")
	flag.IntVar(&o.conns, "conns", 64, "concurrent connections (workers)")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "length of the load phase")
	flag.StringVar(&o.mongo.pidFile, "mongo-pidfile", "", "file holding FerretDB's process id: run the fault phase")
	flag.StringVar(&o.mongo.restartCmd, "mongo-restart", "", "shell command that restarts FerretDB and returns once it is ready")
	flag.Func("cpu", "`name=pidfile` of a server whose CPU time (with its children's) to report; repeatable",
		func(v string) error {
			name, path, ok := strings.Cut(v, "=")
			if !ok {
				return fmt.Errorf("want name=pidfile")
			}
			o.servers = append(o.servers, namedPIDFile{name, path})
			return nil
		})
	flag.Parse()
	switch {
	case o.dropp == "" || o.data == "":
		return o, fmt.Errorf("-dropp and -data are required")
	case (o.mongo.pidFile == "") != (o.mongo.restartCmd == ""):
		return o, fmt.Errorf("-mongo-pidfile and -mongo-restart go together")
	}
	return o, nil
}

// run runs the phases and returns how many checks failed; an error means
// the run itself could not go on.
func run() (int, error) {
	o, err := parseOptions()
	if err != nil {
		return 0, err
	}
	r := &report{name: o.name}
	logPath := filepath.Join(filepath.Dir(o.data), o.name+"-dropp.log")
	p, err := startDropp(o.dropp, o.data, logPath)
	if err != nil {
		return 0, err
	}
	defer p.kill()
	token, err := signInLocal(p.base)
	if err != nil {
		return 0, err
	}
	t := newTarget(p.base, token, o.conns)
	var ledger []*fileRecord
	cpu := cpuWatch{droppPID: func() int { return p.cmd.Process.Pid }, servers: o.servers}

	r.phase("load, %d connections, %v, dropp at %s", o.conns, o.duration, p.base)
	begin, meter := time.Now(), cpu.start()
	samples, files := startLoad(t, o.conns, o.duration).wait()
	r.throughput(samples, time.Since(begin))
	r.cpu(meter)
	r.errorsCheck("load: 0 errors and 0 5xx", samples, func(sample) bool { return false })
	ledger = append(ledger, files...)

	if o.mongo.pidFile != "" {
		r.phase("faults under the same load: MongoDB SIGKILL at 5 s, restarted at 10 s; SIGSTOP at 30 s, SIGCONT at 35 s")
		meter := cpu.start()
		samples, files, outages, elapsed, err := runFaults(t, o.conns, o.mongo, meter)
		ledger = append(ledger, files...)
		if err != nil {
			return 0, err
		}
		r.throughput(samples, elapsed)
		r.cpu(meter)
		for i, o := range outages {
			next := time.Now() // the end of the phase
			if i+1 < len(outages) {
				next = outages[i+1].start
			}
			r.checkOutage(o, next, samples)
		}
		r.errorsCheck("faults: no 500 and no error other than 503 during an outage", samples, excuses(outages))
	}

	r.phase("SIGTERM to dropp under load, with %d slow requests in flight", slowRequests)
	files, err = r.runShutdown(p, t, o.conns, os.Getenv("AWS_S3_BUCKET") == "")
	ledger = append(ledger, files...)
	if err != nil {
		return 0, err
	}

	r.phase("dropp restarted on the same data: acknowledged writes of every phase")
	p, err = startDropp(o.dropp, o.data, logPath)
	if err != nil {
		return 0, err
	}
	defer p.kill()
	t = newTarget(p.base, token, o.conns)
	r.ledgerCheck("no acknowledged write lost", checkLedger(t, ledger, o.conns))
	if _, err := p.terminate(30 * time.Second); err != nil {
		return 0, fmt.Errorf("stopping dropp: %w", err)
	}

	fmt.Printf("\n== %s: %d checks failed\n", o.name, len(r.failed))
	for _, f := range r.failed {
		fmt.Printf("  FAIL  %s\n", f)
	}
	return len(r.failed), nil
}
