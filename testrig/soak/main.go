//go:build linux

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
	s, err := startSoak(o)
	if err != nil {
		return 0, err
	}
	defer func() { s.p.kill() }()
	s.loadPhase()
	if o.mongo.pidFile != "" {
		if err := s.faultPhase(); err != nil {
			return 0, err
		}
	}
	s.shutdownPhase()
	if err := s.ledgerPhase(); err != nil {
		return 0, err
	}
	fmt.Printf("\n== %s: %d checks failed\n", o.name, len(s.r.failed))
	for _, f := range s.r.failed {
		fmt.Printf("  FAIL  %s\n", f)
	}
	return len(s.r.failed), nil
}

// soak is one run's state across its phases.
type soak struct {
	o       options
	r       *report
	logPath string
	p       *droppProc
	token   string
	t       *target
	cpu     cpuWatch
	ledger  []*fileRecord // every file created, in every phase
}

// startSoak starts dropp and signs in.
func startSoak(o options) (*soak, error) {
	s := &soak{o: o, r: &report{name: o.name}, logPath: filepath.Join(filepath.Dir(o.data), o.name+"-dropp.log")}
	var err error
	if s.p, err = startDropp(o.dropp, o.data, s.logPath); err != nil {
		return nil, err
	}
	if s.token, err = signInLocal(s.p.base); err != nil {
		s.p.kill()
		return nil, err
	}
	s.t = newTarget(s.p.base, s.token, o.conns)
	s.cpu = cpuWatch{droppPID: func() int { return s.p.cmd.Process.Pid }, servers: o.servers}
	return s, nil
}

// loadPhase is the plain load: figures, and 0 errors and 0 5xx.
func (s *soak) loadPhase() {
	s.r.phase("load, %d connections, %v, dropp at %s", s.o.conns, s.o.duration, s.p.base)
	begin, meter := time.Now(), s.cpu.start()
	samples, files := startLoad(s.t, s.o.conns, s.o.duration).wait()
	s.ledger = append(s.ledger, files...)
	s.r.throughput(samples, time.Since(begin))
	s.r.cpu(meter)
	s.r.errorsCheck("load: 0 errors and 0 5xx", samples, func(sample) bool { return false })
}

// faultPhase is the load while MongoDB is killed and hung.
func (s *soak) faultPhase() error {
	s.r.phase("faults under the same load: MongoDB SIGKILL at 5 s, restarted at 10 s; SIGSTOP at 30 s, SIGCONT at 35 s")
	meter := s.cpu.start()
	samples, files, outages, elapsed, err := runFaults(s.t, s.o.conns, s.o.mongo, meter)
	s.ledger = append(s.ledger, files...)
	if err != nil {
		return err
	}
	s.r.throughput(samples, elapsed)
	s.r.cpu(meter)
	for i, o := range outages {
		next := time.Now() // the end of the phase
		if i+1 < len(outages) {
			next = outages[i+1].start
		}
		s.r.checkOutage(o, next, samples)
	}
	s.r.errorsCheck("faults: no 500 and no error other than 503 during an outage", samples, excuses(outages))
	return nil
}

// shutdownPhase sends dropp SIGTERM under load.
func (s *soak) shutdownPhase() {
	s.r.phase("SIGTERM to dropp under load, with %d slow requests in flight", slowRequests)
	res := runShutdown(s.p, s.t, s.o.conns, os.Getenv("AWS_S3_BUCKET") == "")
	s.ledger = append(s.ledger, res.files...)
	s.r.checkShutdown(res)
}

// ledgerPhase restarts dropp on the same data and checks the ledger.
func (s *soak) ledgerPhase() error {
	s.r.phase("dropp restarted on the same data: acknowledged writes of every phase")
	var err error
	if s.p, err = startDropp(s.o.dropp, s.o.data, s.logPath); err != nil {
		return err
	}
	s.t = newTarget(s.p.base, s.token, s.o.conns)
	s.r.ledgerCheck("no acknowledged write lost", checkLedger(s.t, s.ledger, s.o.conns))
	if _, err := s.p.terminate(30 * time.Second); err != nil {
		return fmt.Errorf("stopping dropp: %w", err)
	}
	return nil
}
