package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// The CPUs of the pinned layout: the servers on one, the load generator on
// the other (a 2-core machine has exactly these).
const (
	serverCPU    = "1"
	generatorCPU = "0"
)

// pinning says whether the benchmark pins, and with which taskset.
type pinning struct {
	taskset string // empty: no pinning
}

// choosePinning pins when asked, taskset is on the PATH and there are at
// least two CPUs; the reason comes back when it does not.
func choosePinning(want bool) (pinning, string) {
	if !want {
		return pinning{}, "pinning off (-pin=false)"
	}
	if runtime.NumCPU() < 2 {
		return pinning{}, "not pinned: fewer than 2 CPUs"
	}
	p, err := exec.LookPath("taskset")
	if err != nil {
		return pinning{}, "not pinned: taskset not found (util-linux)"
	}
	return pinning{taskset: p}, "servers pinned to CPU " + serverCPU + ", load generator to CPU " + generatorCPU + " (taskset)"
}

// command is name args, on the server CPU when pinning.
func (p pinning) command(name string, args ...string) *exec.Cmd {
	if p.taskset == "" {
		return exec.Command(name, args...)
	}
	return exec.Command(p.taskset, append([]string{"-c", serverCPU, name}, args...)...)
}

// pinSelf moves every thread of this process to the generator CPU, and
// GOMAXPROCS to one.
func (p pinning) pinSelf() error {
	if p.taskset == "" {
		return nil
	}
	out, err := exec.Command(p.taskset, "-a", "-p", "-c", generatorCPU, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -p %s: %v: %s", generatorCPU, err, bytes.TrimSpace(out))
	}
	runtime.GOMAXPROCS(1)
	return nil
}

// process is a child the benchmark started and stops.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	tail tailBuffer // the end of its stderr, for errors
	err  error      // from Wait
}

// startProcess starts cmd, keeping the last of its stderr, and kills it
// when the benchmark dies (see setDeathSignal).
func startProcess(name string, cmd *exec.Cmd) (*process, error) {
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	if cmd.Stderr == nil {
		cmd.Stderr = &p.tail
	}
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// stop kills the process and waits for it.
func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// pid is the process id (taskset execs the program, so it is the
// program's).
func (p *process) pid() int { return p.cmd.Process.Pid }

// tailBuffer keeps the last tailSize bytes written to it: a child's log
// is drained at any volume (jwtd writes one access-log line per request)
// without keeping it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 16 << 10

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > tailSize {
		b = b[len(b)-tailSize:]
	}
	return string(b)
}

// errNoCPUTime is returned where a process's CPU time cannot be read.
var errNoCPUTime = errors.New("bench: process CPU time not available on this system")
