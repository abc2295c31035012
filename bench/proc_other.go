//go:build !linux

package main

import (
	"os/exec"
	"time"
)

func setDeathSignal(*exec.Cmd) {}

func cpuTime(int) (time.Duration, error) { return 0, errNoCPUTime }

func stolen() (map[string]time.Duration, error) { return nil, errNoCPUTime }
