package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/internal/freeport"
)

// freePort is a free loopback port below the ephemeral range, where no
// outgoing connection can take it before redis-server binds it.
func freePort() (string, error) {
	p, err := freeport.Pick(0)
	return strconv.Itoa(p), err
}

// startRedis runs redis-server on a free loopback port with nothing
// persisted, on the server CPU, and waits for PING.
func startRedis(ctx context.Context, pin pinning, dir string) (*process, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", fmt.Errorf("redis-server not found (Debian: apt-get install -y redis-server): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	p, err := startProcess("redis-server", pin.command(bin, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log")))
	if err != nil {
		return nil, "", err
	}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	err = eventually(ctx, 10*time.Second, func() error {
		if done, err := p.exited(); done {
			return fmt.Errorf("redis-server exited: %v", err)
		}
		return c.Ping(ctx).Err()
	})
	if err != nil {
		p.stop()
		return nil, "", fmt.Errorf("redis-server on %s: %w", addr, err)
	}
	return p, addr, nil
}

// eventually calls f until it succeeds, at most d.
func eventually(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", d, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
