package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/keys"
	"github.com/jwtd/jwtd/token"
)

func configCheck(e *env) error {
	cfg, warnings, err := e.config()
	if err != nil {
		return err
	}
	if err := checkDevClients(cfg); err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(e.stderr, "jwtd: warning: "+w)
	}
	out, err := yaml.Marshal(encodeNode(reflect.ValueOf(cfg.masked())))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "# configuration is valid; effective values, secrets masked")
	_, err = e.stdout.Write(out)
	return err
}

// encodeNode renders a config value as YAML, durations as Go durations.
func encodeNode(v reflect.Value) *yaml.Node {
	switch {
	case v.Type() == durationType:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: fmtDuration(time.Duration(v.Int()))}
	case v.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < v.NumField(); i++ {
			n.Content = append(n.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Value: v.Type().Field(i).Tag.Get("yaml")},
				encodeNode(v.Field(i)))
		}
		return n
	case v.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Type().Elem().Kind() == reflect.String {
			n.Style = yaml.FlowStyle
		}
		for i := 0; i < v.Len(); i++ {
			n.Content = append(n.Content, encodeNode(v.Index(i)))
		}
		return n
	}
	var n yaml.Node
	_ = n.Encode(v.Interface())
	return &n
}

// fmtDuration prints 15m rather than 15m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func clientSecret(e *env) error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	fmt.Fprintf(e.stdout, "secret:      %s\nsecret_hash: %s\n", secret, clients.SHA256Hash(secret))
	return nil
}

// openRings opens the configured key store and its two rings, writing
// nothing.
func openRings(ctx context.Context, cfg Config, environ []string) (access, refresh *keys.Ring, err error) {
	// The process exits after one command: its Redis client needs no Close.
	store, err := openKeyStore(cfg, environ, func() redis.UniversalClient { return redisClient(cfg, environ) })
	if err != nil {
		return nil, nil, err
	}
	if access, err = keys.NewRing(ctx, store, ringOptions(cfg, keys.Access)); err != nil {
		return nil, nil, err
	}
	if refresh, err = keys.NewRing(ctx, store, ringOptions(cfg, keys.Refresh)); err != nil {
		return nil, nil, err
	}
	return access, refresh, nil
}

func keysCommand(e *env) *cobra.Command {
	list := &cobra.Command{Use: "list", Short: "show the key set", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := e.config()
			if err != nil {
				return err
			}
			if cfg.Keys.Store == "memory" {
				return errors.New("keys.store is memory: the keys live inside the server process only")
			}
			access, refresh, err := openRings(cmd.Context(), cfg, e.environ)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KID\tPURPOSE\tALG\tSTATE\tPUBLISHED\tACTIVATES\tRETIRED\tGONE")
			for _, r := range []*keys.Ring{access, refresh} {
				for _, k := range r.List() {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Purpose, k.Algorithm, k.State,
						fmtTime(k.PublishedAt), fmtTime(k.ActivatesAt), fmtTime(k.RetiredAt), fmtTime(k.GoneAt))
				}
			}
			return w.Flush()
		}}
	var (
		revoke  bool
		purpose string
	)
	rotate := &cobra.Command{Use: "rotate", Short: "rotate now: the next key becomes active", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("purpose") && !revoke {
				return usageError{errors.New("--purpose goes with --revoke-current only")}
			}
			revokes := map[string][]keys.Purpose{"access": {keys.Access}, "refresh": {keys.Refresh}, "all": {keys.Access, keys.Refresh}}[purpose]
			if revokes == nil {
				return usageError{errors.New("--purpose must be access, refresh or all")}
			}
			cfg, _, err := e.config()
			if err != nil {
				return err
			}
			if cfg.Keys.Store == "memory" {
				return errors.New("keys.store is memory: rotate through POST /v1/admin/keys/rotate")
			}
			access, refresh, err := openRings(cmd.Context(), cfg, e.environ)
			if err != nil {
				return err
			}
			// Both rings rotate; --revoke-current deletes the active key of
			// the rings --purpose names.
			var revoked []string
			for _, r := range []struct {
				p    keys.Purpose
				ring *keys.Ring
			}{{keys.Access, access}, {keys.Refresh, refresh}} {
				kill := revoke && slices.Contains(revokes, r.p)
				old, _, _, _ := r.ring.SigningKey()
				kid, err := r.ring.Rotate(cmd.Context(), kill)
				if err != nil {
					return err
				}
				if r.p == keys.Access {
					fmt.Fprintf(e.stdout, "active access key: %s\n", kid)
				}
				if kill && old != "" {
					revoked = append(revoked, fmt.Sprintf("revoked %s key: %s", r.p, old))
				}
			}
			for _, line := range revoked {
				fmt.Fprintln(e.stdout, line)
			}
			return nil
		}}
	rotate.Flags().BoolVar(&revoke, "revoke-current", false, "delete the key that was active (a compromised key): its tokens stop verifying")
	rotate.Flags().StringVar(&purpose, "purpose", "access", "with --revoke-current: whose active key is deleted: access, refresh (every refresh token and handoff code it signed stops verifying: those sessions must log in again) or all")
	return group("keys", "key commands", list, rotate)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func tokenInspect(ctx context.Context, e *env, args []string) error {
	raw := "-"
	if len(args) == 1 {
		raw = args[0]
	}
	if raw == "-" {
		b, err := io.ReadAll(io.LimitReader(bufio.NewReader(e.stdin), token.MaxTokenBytes+1))
		if err != nil {
			return err
		}
		raw = strings.TrimSpace(string(b))
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return errors.New("not a JWS compact token (three dot-separated parts)")
	}
	var header map[string]any
	for i, dst := range []*map[string]any{&header, nil} {
		seg, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return fmt.Errorf("part %d is not base64url", i+1)
		}
		var v map[string]any
		if err := json.Unmarshal(seg, &v); err != nil {
			return fmt.Errorf("part %d is not a JSON object", i+1)
		}
		pretty, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintf(e.stdout, "%s (unverified):\n%s\n", []string{"header", "claims"}[i], pretty)
		if dst != nil {
			*dst = v
		}
	}
	cfg, _, err := e.config()
	if err != nil {
		return err
	}
	if cfg.Keys.Store == "memory" {
		return errors.New("keys.store is memory: no keys to verify against outside the server")
	}
	access, refresh, err := openRings(ctx, cfg, e.environ)
	if err != nil {
		return err
	}
	v := token.NewVerifier(tokenOptions(cfg, nil), access, refresh)
	typ, _ := header["typ"].(string)
	kind := "access"
	if strings.EqualFold(strings.TrimPrefix(strings.ToLower(typ), "application/"), token.TypeRefresh) {
		kind = "refresh"
		_, err = v.Refresh(ctx, raw)
	} else {
		_, err = v.Access(ctx, raw)
	}
	if err != nil {
		return fmt.Errorf("does not verify as an %s token: %w", kind, err)
	}
	fmt.Fprintf(e.stdout, "verifies: yes, as an %s token (signature, typ, iss, aud and times; the denylist is not consulted)\n", kind)
	return nil
}

func healthCommand(e *env) *cobra.Command {
	var (
		target   string
		insecure bool
	)
	c := &cobra.Command{Use: "health", Short: "exit 0 when /healthz answers 200 (for container health checks)", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				cfg, _, err := e.config()
				if err != nil {
					return err
				}
				target = defaultHealthURL(cfg)
				// The derived URL is loopback: the certificate names the
				// public host, not 127.0.0.1.
				insecure = cfg.Server.TLS.enabled()
			}
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageError{fmt.Errorf("--url: %q is not an http or https URL", target)}
			}
			if insecure && !isLoopback(u.Hostname()) {
				return usageError{errors.New("--insecure is for a loopback --url only: verify any other host's certificate")}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return usageError{fmt.Errorf("--url: %v", err)}
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
				MinVersion: tls.VersionTLS12,
				// Only for loopback (checked above): a health check asks its
				// own process and sends nothing secret.
				InsecureSkipVerify: insecure,
			}}}
			res, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("health: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("health: %s answered %d", target, res.StatusCode)
			}
			return nil
		}}
	c.Flags().StringVar(&target, "url", "", "health URL (default: /healthz on server.listen via loopback, https when server.tls is set, which implies --insecure)")
	c.Flags().BoolVar(&insecure, "insecure", false, "do not verify the server certificate; only for a loopback URL")
	return c
}

// defaultHealthURL reaches the listener of the server in the same
// container: a wildcard listen address is asked on loopback.
func defaultHealthURL(cfg Config) string {
	addr := cfg.Server.Listen
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
	}
	if cfg.Server.TLS.enabled() {
		return "https://" + addr + "/healthz"
	}
	return "http://" + addr + "/healthz"
}
