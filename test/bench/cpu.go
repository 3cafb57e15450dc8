package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cpuUse is CPU time (user + system) consumed by each part of the run.
type cpuUse struct {
	pg     time.Duration // PostgreSQL: its server processes and this run's backends
	svc    time.Duration // the service process; 0 when none is measured
	client time.Duration // this process: the committers, and the push service
}

// measureCPU samples the CPU used so far; the returned func gives what was
// used since. svcPid 0 leaves the service out (none runs).
func measureCPU(svcPid int) (func() (cpuUse, error), error) {
	before, err := sampleCPU(svcPid)
	if err != nil {
		return nil, err
	}
	return func() (cpuUse, error) {
		after, err := sampleCPU(svcPid)
		return cpuUse{
			pg:     after.pg - before.pg,
			svc:    after.svc - before.svc,
			client: after.client - before.client,
		}, err
	}, nil
}

func sampleCPU(svcPid int) (cpuUse, error) {
	var u cpuUse
	var err error
	if u.pg, err = postgresCPU(); err != nil {
		return u, err
	}
	if svcPid != 0 {
		if _, u.svc, err = procStat(strconv.Itoa(svcPid)); err != nil {
			return u, err
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return u, err
	}
	u.client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return u, nil
}

// postgresCPU sums the CPU time of the processes whose command name starts
// with "postgres", but for client backends of other databases: other work
// on a shared server is not this run's. A backend that exits between two
// samples is missed; the harness and the service keep their connections.
func postgresCPU() (time.Duration, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, dir := range dirs {
		comm, cpu, err := procStat(filepath.Base(dir))
		if err != nil || !strings.HasPrefix(comm, "postgres") {
			continue // gone meanwhile, or not PostgreSQL
		}
		title, err := os.ReadFile(dir + "/cmdline")
		if err != nil || otherDatabase(string(title)) {
			continue
		}
		total += cpu
	}
	return total, nil
}

// otherDatabase reports whether a PostgreSQL process title is that of a
// client backend of a database other than this run's. A backend's title is
// "postgres: [cluster: ]user database host(port) activity", host being
// "[local]" for a Unix socket; the server's own processes have no host.
func otherDatabase(title string) bool {
	f := strings.Fields(strings.ReplaceAll(title, "\x00", " "))
	for i := 1; i < len(f); i++ {
		if f[i] == "[local]" || strings.Contains(f[i], "(") && strings.HasSuffix(f[i], ")") {
			return f[i-1] != *dbName
		}
	}
	return false
}

// procStat reads a process's command name and CPU time (utime + stime) from
// /proc/<pid>/stat.
func procStat(pid string) (comm string, cpu time.Duration, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", 0, err
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses, so
	// the fields are counted from the last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[end+1:])) // f[0] is field 3, state
	if open < 0 || end < open || len(f) < 13 {
		return "", 0, fmt.Errorf("/proc/%s/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return "", 0, fmt.Errorf("/proc/%s/stat: %w", pid, err)
	}
	return string(b[open+1 : end]), time.Duration(utime+stime) * clockTick(), nil
}

// clockTick is the unit of /proc's CPU times: 1/`getconf CLK_TCK` seconds
// (100 per second on nearly every Linux, the fallback).
var clockTick = sync.OnceValue(func() time.Duration {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if hz, perr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && perr == nil && hz > 0 {
		return time.Second / time.Duration(hz)
	}
	return time.Second / 100
})

// msPer is d in milliseconds per one of n things.
func msPer(d time.Duration, n float64) float64 {
	return float64(d) / float64(time.Millisecond) / n
}
