package stack

import (
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, 100 on every Linux the bench runs on.
const clockTicks = 100

// CPUSeconds returns the user+system CPU time a process has used, from /proc/<pid>/stat.
func CPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after ')' are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// PostgresCPU returns the CPU seconds used so far by every process named
// postgres (all backends, other users' of the same server included), by pid.
func PostgresCPU() map[int]float64 {
	out := map[int]float64{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		out[pid] = CPUSeconds(pid)
	}
	return out
}

// PostgresBenchCPU is PostgresCPU without the backends of databases that
// are not the bench's (other users' work on a shared server): it keeps the
// backends of databases named prefix… and the server's own processes
// (postmaster, WAL writer, checkpointer, background writer), whose work
// the bench's commits cause with everybody else's.
func PostgresBenchCPU(prefix string) map[int]float64 {
	out := PostgresCPU()
	for pid := range out {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue
		}
		if db, ok := backendDB(strings.ReplaceAll(string(b), "\x00", " ")); ok && !strings.HasPrefix(db, prefix) {
			delete(out, pid)
		}
	}
	return out
}

// backendDB returns the database of a Postgres client backend from its
// process title ("postgres: [cluster: ]user database host(port) activity",
// host "[local]" for a Unix socket); ok is false for the server's own
// processes (e.g. "postgres: 15/main: walwriter").
func backendDB(title string) (db string, ok bool) {
	f := strings.Fields(title)
	for i := 2; i < len(f); i++ {
		if f[i] == "[local]" || (strings.HasSuffix(f[i], ")") && strings.Contains(f[i], "(")) {
			return f[i-1], true
		}
	}
	return "", false
}

// PostgresCPUDelta is the CPU postgres processes used between two
// PostgresCPU snapshots: processes alive at the end count from their first
// snapshot (or from zero if they started in between); processes that
// exited in between are not counted (an undercount, never negative).
func PostgresCPUDelta(before, after map[int]float64) float64 {
	var sum float64
	for pid, a := range after {
		sum += max(0, a-before[pid])
	}
	return sum
}

// MachineCPU returns busy and total CPU seconds of the whole machine from /proc/stat.
func MachineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy / clockTicks, total / clockTicks
}

// LoadAvg returns /proc/loadavg's first three fields.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
