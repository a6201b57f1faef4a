//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The machine may be shared, so each phase says where the CPU went: dropp,
// each watched server (with its child processes, e.g. PostgreSQL's
// backends), this driver, and the whole machine.

// clockTicks is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTicks = 100

// cpuWatch names the processes to account for.
type cpuWatch struct {
	droppPID func() int
	servers  []namedPIDFile
}

// namedPIDFile is a server whose process id is kept in a file (it may be
// restarted under a new one).
type namedPIDFile struct{ name, path string }

// cpuSnapshot is the CPU time used so far, in seconds, and the process id,
// by name.
type cpuSnapshot map[string]cpuUse

type cpuUse struct {
	pid     int
	seconds float64
}

// snapshot reads the CPU times now. Missing processes count as zero.
func (c cpuWatch) snapshot() cpuSnapshot {
	procs := readProcs()
	pid := c.droppPID()
	s := cpuSnapshot{"dropp": {pid, procs.treeSeconds(pid)}}
	for _, srv := range c.servers {
		raw, _ := os.ReadFile(srv.path)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
		s[srv.name] = cpuUse{pid, procs.treeSeconds(pid)}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s["driver"] = cpuUse{os.Getpid(), time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()}
	s["machine"] = cpuUse{0, machineBusySeconds()}
	return s
}

// cpuMeter adds up CPU seconds over a phase across restarts: a process
// found under a new id counts from its start, so a mark just before a
// process is killed keeps what it used.
type cpuMeter struct {
	watch cpuWatch
	begin time.Time
	last  cpuSnapshot
	total map[string]float64
}

func (c cpuWatch) start() *cpuMeter {
	return &cpuMeter{watch: c, begin: time.Now(), last: c.snapshot(), total: map[string]float64{}}
}

// mark adds the CPU time used since the last mark.
func (m *cpuMeter) mark() {
	now := m.watch.snapshot()
	for name, u := range now {
		if prev := m.last[name]; prev.pid == u.pid {
			m.total[name] += u.seconds - prev.seconds
		} else {
			m.total[name] += u.seconds
		}
	}
	m.last = now
}

// cpu prints the CPU seconds a meter counted, up to now.
func (r *report) cpu(m *cpuMeter) {
	m.mark()
	elapsed := time.Since(m.begin)
	parts := []string{fmt.Sprintf("dropp %.1f", m.total["dropp"])}
	for _, srv := range m.watch.servers {
		parts = append(parts, fmt.Sprintf("%s %.1f", srv.name, m.total[srv.name]))
	}
	parts = append(parts, fmt.Sprintf("this driver %.1f", m.total["driver"]))
	r.info("CPU seconds: %s; whole machine %.1f busy of %.1f (%d cores x %.1f s)", strings.Join(parts, ", "),
		m.total["machine"], elapsed.Seconds()*float64(cores()), cores(), elapsed.Seconds())
}

// procInfo is one process's parent and CPU ticks (its own plus its
// waited-for children's).
type procInfo struct {
	ppid  int
	ticks int64
}

// procTable is every process by id.
type procTable map[int]procInfo

func readProcs() procTable {
	t := procTable{}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// Fields after the ")" closing the command name: state ppid ...;
		// utime, stime, cutime, cstime are fields 14-17 of the whole line.
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 15 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		ppid, _ := strconv.Atoi(f[1])
		var ticks int64
		for _, v := range f[11:15] {
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks += n
		}
		t[pid] = procInfo{ppid, ticks}
	}
	return t
}

// treeSeconds is the CPU seconds of pid and all its descendants.
func (t procTable) treeSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	var ticks int64
	for p, info := range t {
		for q := p; q > 1; q = t[q].ppid {
			if q == pid {
				ticks += info.ticks
				break
			}
		}
	}
	return float64(ticks) / clockTicks
}

// machineBusySeconds is the whole machine's non-idle CPU time since boot.
func machineBusySeconds() float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	var busy int64
	for i, v := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch i {
		case 0, 1, 2, 5, 6, 7: // user nice system, irq softirq steal; not idle, iowait, or guest (inside user)
			busy += n
		}
	}
	return float64(busy) / clockTicks
}

// cores is the number of CPUs the machine has.
func cores() int {
	raw, _ := os.ReadFile("/proc/stat")
	n := 0
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "cpu") && !strings.HasPrefix(l, "cpu ") {
			n++
		}
	}
	return max(n, 1)
}
