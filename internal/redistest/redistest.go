// Package redistest starts real redis-server processes for tests: single
// servers and a Redis Cluster, on free loopback ports, never 6379. Each
// process is stopped when its test ends; a test can kill and restart one.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtd/jwtd/internal/freeport"
)

// Server is one redis-server process.
type Server struct {
	Addr  string
	dir   string
	extra []string
	cmd   *exec.Cmd
	done  chan struct{}
}

func binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: ./test.sh installs it (Debian: apt-get install -y redis-server)", name)
	}
	return p
}

// Start runs a redis-server with nothing persisted, and waits for PING.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	s := &Server{dir: t.TempDir(), extra: extra}
	span := 0
	if slices.Contains(extra, "--cluster-enabled") {
		span = 10000 // the cluster bus
	}
	port := freeport.Get(t, span)
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	t.Cleanup(s.Kill) // before start: a start that fails must not leak the process
	s.start(t)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log")}, s.extra...)
	s.cmd = exec.Command(binary(t, "redis-server"), args...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	up := func() error {
		err := c.Ping(context.Background()).Err()
		if err != nil && strings.HasPrefix(err.Error(), "NOAUTH") {
			return nil // it answers; it wants a password
		}
		return err
	}
	if err := Eventually(10*time.Second, up); err != nil {
		s.Kill()
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		t.Fatalf("redis-server on %s did not answer PING: %v\n%s", s.Addr, err, log)
	}
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same address, empty.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	s.start(t)
}

// Client returns a client for the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	Addrs []string
	Nodes []*Server
}

// StartCluster starts n masters with cluster mode on, joins them with
// redis-cli --cluster create, and waits until every node says cluster_state:ok.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for i := 0; i < n; i++ {
		s := Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(binary(t, "redis-cli"), args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: s.Addr})
		err := Eventually(30*time.Second, func() error {
			info, err := cl.ClusterInfo(context.Background()).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return errors.New("cluster_state is not ok")
			}
			return nil
		})
		cl.Close()
		if err != nil {
			t.Fatalf("cluster node %s: %v", s.Addr, err)
		}
	}
	return c
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { cl.Close() })
	if err := Eventually(30*time.Second, func() error {
		return cl.ForEachShard(context.Background(), func(ctx context.Context, s *redis.Client) error {
			return s.Ping(ctx).Err()
		})
	}); err != nil {
		t.Fatalf("cluster client: %v", err)
	}
	return cl
}

// Eventually retries f every 20ms until it succeeds or d has passed.
func Eventually(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Sentinel is a master watched by one Sentinel process.
type Sentinel struct {
	Master     *Server
	Addr       string // the sentinel's address
	MasterName string
}

// StartSentinel starts a master and a redis-server --sentinel that
// monitors it as "mymaster", and waits until the sentinel names it.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	master := Start(t)
	host, port, _ := net.SplitHostPort(master.Addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor mymaster %s %s 1\nsentinel down-after-milliseconds mymaster 5000\n", host, port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{dir: dir}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freeport.Get(t, 0)))
	_, sp, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command(binary(t, "redis-server"), conf, "--sentinel", "--port", sp, "--bind", "127.0.0.1",
		"--logfile", filepath.Join(dir, "sentinel.log"))
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	t.Cleanup(s.Kill)
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sc.Close()
	if err := Eventually(10*time.Second, func() error {
		addr, err := sc.GetMasterAddrByName(context.Background(), "mymaster").Result()
		if err != nil {
			return err
		}
		if net.JoinHostPort(addr[0], addr[1]) != master.Addr {
			return fmt.Errorf("sentinel names %v", addr)
		}
		return nil
	}); err != nil {
		t.Fatalf("sentinel on %s: %v", s.Addr, err)
	}
	return &Sentinel{Master: master, Addr: s.Addr, MasterName: "mymaster"}
}

// Client returns a Sentinel-backed (failover) client, closed when the test ends.
func (s *Sentinel) Client(t testing.TB) *redis.Client {
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: []string{s.Addr}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}
