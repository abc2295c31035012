package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// setDeathSignal makes the kernel kill the child when the benchmark dies,
// so an interrupted run leaves no server behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times; it is 100 on
// every Linux the kernel ABI allows user space to see.
const clockTick = 100

// cpuTime is the user plus system CPU time pid has used so far, from
// /proc/<pid>/stat (fields 14 and 15, counted after the command name,
// which may hold spaces and parentheses).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errNoCPUTime, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: /proc/%d/stat has no command name", errNoCPUTime, pid)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: /proc/%d/stat is short", errNoCPUTime, pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: /proc/%d/stat: %v", errNoCPUTime, pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// stolen is the steal time of each CPU so far (the eighth figure of its
// cpuN line in /proc/stat): time the hypervisor ran something else while
// that virtual CPU had work. A server whose CPU is stolen from serves
// less, and a request waiting out the steal adds to the tail.
func stolen() (map[string]time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) < 9 || !bytes.HasPrefix(f[0], []byte("cpu")) || len(f[0]) == 3 {
			continue
		}
		n, err := strconv.ParseInt(string(f[8]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/stat: %v", err)
		}
		out[string(f[0][3:])] = time.Duration(n) * time.Second / clockTick
	}
	return out, nil
}
