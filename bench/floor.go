package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
)

// floorEnv, when set in the environment, makes the benchmark binary serve
// the floors instead of running the benchmark; its value is the Redis
// address the Redis refresh floor pings (empty: no Redis).
const floorEnv = "JWTDBENCH_FLOOR_REDIS"

// The floors, by name. Each is an Echo instance on its own port.
const (
	floorFixed        = "fixed JSON"
	floorVerify       = "verify"
	floorSign1        = "1 signature"
	floorSign2        = "2 signatures"
	floorRefresh      = "verify + 2 signatures"
	floorRefreshRedis = "verify + 2 signatures + PING"
)

// floorPath is the path each floor answers, the same as the jwtd endpoint
// it stands for (any method).
var floorPath = map[string]string{
	floorFixed:        "/.well-known/jwks.json",
	floorVerify:       "/v1/session",
	floorSign1:        "/oauth/token",
	floorSign2:        "/v1/sessions",
	floorRefresh:      "/v1/refresh",
	floorRefreshRedis: "/v1/refresh",
}

// floorHello is the one line the floor process writes on stdout once every
// floor listens: the address of each, the control address (GET /mallocs),
// and a bearer token the verifying floors accept.
type floorHello struct {
	Addrs   map[string]string `json:"addrs"`
	Control string            `json:"control"`
	Token   string            `json:"token"`
}

// floorClaims has the shape of a jwtd access token's claims, so that the
// floors sign and parse as much JSON as jwtd does.
type floorClaims struct {
	jwt.RegisteredClaims
	ClientID string           `json:"client_id"`
	SID      string           `json:"sid,omitempty"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	Scope    string           `json:"scope,omitempty"`
}

const (
	floorIssuer = "http://127.0.0.1"
	floorKID    = "floor-key"
)

// floorSigner signs and verifies with one fixed ES256 key.
type floorSigner struct {
	key    *ecdsa.PrivateKey
	parser *jwt.Parser
}

func newFloorSigner() (*floorSigner, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &floorSigner{key: key, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(floorIssuer), jwt.WithAudience("api"),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second),
	)}, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sign mints one token of a jwtd access token's size and shape.
func (s *floorSigner) sign(typ string, ttl time.Duration) (string, error) {
	now := time.Now()
	c := floorClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: floorIssuer, Subject: "alice", Audience: jwt.ClaimStrings{"api"},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)), NotBefore: jwt.NewNumericDate(now),
			IssuedAt: jwt.NewNumericDate(now), ID: randomID(),
		},
		ClientID: "bench-app", SID: randomID(), AuthTime: jwt.NewNumericDate(now), Scope: "read",
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = floorKID
	t.Header["typ"] = typ
	return t.SignedString(s.key)
}

var (
	errFloorToken = errors.New("bench: floor token refused")
	errNoRedis    = errors.New("bench: the floors were started without Redis")
)

// verify parses and verifies a bearer token with the fixed key.
func (s *floorSigner) verify(authz string) (*floorClaims, error) {
	raw, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok {
		return nil, errFloorToken
	}
	var c floorClaims
	_, err := s.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if t.Header["kid"] != floorKID || t.Header["typ"] != "at+jwt" {
			return nil, errFloorToken
		}
		return &s.key.PublicKey, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFloorToken, err)
	}
	return &c, nil
}

// floorJWKS is a JWKS of two P-256 keys, the size of jwtd's (the next key
// and the active one), returned as fixed bytes.
func floorJWKS() ([]byte, error) {
	type jwk struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	for range 2 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		pub, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jwk{Kty: "EC", Kid: randomID() + randomID()[:11], Alg: "ES256", Use: "sig", Crv: "P-256",
			X: base64.RawURLEncoding.EncodeToString(pub[1:33]), Y: base64.RawURLEncoding.EncodeToString(pub[33:])})
	}
	return json.Marshal(set)
}

// floorHandlers builds the handler of each floor. ping is the Redis round
// trip of the Redis refresh floor.
func floorHandlers(s *floorSigner, jwks []byte, ping func(context.Context) error) map[string]echo.HandlerFunc {
	// tokens answers like jwtd's token response: an access token, and a
	// refresh token when two are asked for.
	tokens := func(c echo.Context, n int) error {
		out := map[string]any{"token_type": "Bearer", "expires_in": 900}
		kinds := []struct{ field, typ string }{{"access_token", "at+jwt"}, {"refresh_token", "rt+jwt"}}
		for _, k := range kinds[:n] {
			t, err := s.sign(k.typ, 15*time.Minute)
			if err != nil {
				return err
			}
			out[k.field] = t
		}
		return c.JSON(http.StatusOK, out)
	}
	refresh := func(withPing bool) echo.HandlerFunc {
		return func(c echo.Context) error {
			if _, err := s.verify(c.Request().Header.Get("Authorization")); err != nil {
				return echo.NewHTTPError(http.StatusUnauthorized)
			}
			if withPing {
				if err := ping(c.Request().Context()); err != nil {
					return echo.NewHTTPError(http.StatusServiceUnavailable)
				}
			}
			return tokens(c, 2)
		}
	}
	return map[string]echo.HandlerFunc{
		floorFixed: func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, jwks) },
		floorVerify: func(c echo.Context) error {
			claims, err := s.verify(c.Request().Header.Get("Authorization"))
			if err != nil {
				return echo.NewHTTPError(http.StatusUnauthorized)
			}
			return c.JSON(http.StatusOK, claims)
		},
		floorSign1:        func(c echo.Context) error { return tokens(c, 1) },
		floorSign2:        func(c echo.Context) error { return tokens(c, 2) },
		floorRefresh:      refresh(false),
		floorRefreshRedis: refresh(true),
	}
}

// floorServer is the http.Server of every floor: the timeouts and header
// bound of jwtd's own (newHTTPServer in cmd/jwtd/app.go), which every
// deployed server needs. Each timeout is a deadline net/http sets on the
// connection for every request, 4 to 5 µs of CPU a request together on
// the development machine, and a floor without them would count that as
// jwtd's overhead.
func floorServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
}

// serveFloors is the floor process: every floor on its own loopback port,
// the hello line on stdout, then serve until stdin closes (the benchmark
// holds it open and exits, or closes it, to stop the floors).
func serveFloors(redisAddr string, stdin io.Reader, stdout io.Writer) error {
	s, err := newFloorSigner()
	if err != nil {
		return err
	}
	jwks, err := floorJWKS()
	if err != nil {
		return err
	}
	ping := func(context.Context) error { return errNoRedis }
	if redisAddr != "" {
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr, ContextTimeoutEnabled: true})
		defer rdb.Close()
		ping = func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			return rdb.Ping(ctx).Err()
		}
	}
	hello := floorHello{Addrs: map[string]string{}}
	// The verifying floors' bearer token outlives any run.
	if hello.Token, err = s.sign("at+jwt", 7*24*time.Hour); err != nil {
		return err
	}
	var servers []*http.Server
	serve := func(h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		srv := floorServer(h)
		servers = append(servers, srv)
		go func() { _ = srv.Serve(ln) }()
		return ln.Addr().String(), nil
	}
	for name, h := range floorHandlers(s, jwks, ping) {
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		e.Any(floorPath[name], h)
		if hello.Addrs[name], err = serve(e); err != nil {
			return err
		}
	}
	control := http.NewServeMux()
	control.HandleFunc("GET /mallocs", func(w http.ResponseWriter, _ *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		_, _ = io.WriteString(w, strconv.FormatUint(m.Mallocs, 10))
	})
	if hello.Control, err = serve(control); err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(hello); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, stdin)
	for _, srv := range servers {
		_ = srv.Close()
	}
	return nil
}

// floorMain runs the floor process when the benchmark re-executes itself
// with floorEnv set, and reports whether it did.
func floorMain() bool {
	addr, ok := os.LookupEnv(floorEnv)
	if !ok {
		return false
	}
	if err := serveFloors(addr, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench floors:", err)
		os.Exit(1)
	}
	return true
}
