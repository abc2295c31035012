// Command resource-server is an API behind jwtd: an Echo route guarded by
// jwtd's Go verifier, which checks tokens offline (keys from the JWKS,
// revocations from a mirror of jwtd's feed). docs/integrations/go.md shows
// it; cmd/jwtd/resource_example_test.go runs it against jwtd.
//
//	JWTD_URL=http://localhost:8080 AUDIENCE=api CLIENT_ID=dev-backend \
//	CLIENT_SECRET=... ADDR=127.0.0.1:8081 go run ./examples/resource-server
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/resource"
	"github.com/jwtd/jwtd/resource/resourceecho"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "resource-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	// The keys and the revocation mirror follow jwtd until ctx ends.
	v, err := resource.New(ctx, resource.Config{
		Issuer:       os.Getenv("JWTD_URL"),
		Audiences:    []string{os.Getenv("AUDIENCE")},
		ClientID:     os.Getenv("CLIENT_ID"), // a client with the introspect grant
		ClientSecret: os.Getenv("CLIENT_SECRET"),
	})
	if err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/hello", func(c echo.Context) error {
		claims, _ := resourceecho.Claims(c)
		return c.JSON(http.StatusOK, map[string]string{"hello": claims.Subject})
	}, resourceecho.Middleware(v, "read"))
	e.POST("/notes", func(c echo.Context) error {
		return c.NoContent(http.StatusCreated)
	}, resourceecho.Middleware(v, "write"))

	ln, err := net.Listen("tcp", cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8081"))
	if err != nil {
		return err
	}
	fmt.Println("listening on", ln.Addr())
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan error, 1)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-stopped
}
