package main

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// devSecretHash is the hash of the development client's secret that
// config.yaml ships with; its secret is printed in the README, so a server
// that accepts it must say so loudly.
const devSecretHash = "sha256:b830d44f1f92e88d7ba70c8b2ee0a9a6ce02f7f2fa270523026d822077e1cf40"

// checkDevClients refuses the development secret anywhere but on a
// loopback listener: it is printed in the README, so on any other address
// anyone who can reach jwtd can open sessions for any subject. The Docker
// image listens on 0.0.0.0, so a config.yaml copied into it without a new
// secret stops here. A host name other than localhost counts as public: it
// may resolve to anything.
func checkDevClients(cfg Config) error {
	host, _, _ := net.SplitHostPort(cfg.Server.Listen) // Validate checked it
	if isLoopback(host) {
		return nil
	}
	for i, c := range cfg.Clients {
		if c.SecretHash == devSecretHash {
			return keyErr(fmt.Sprintf("clients[%d].secret_hash", i),
				"is the development secret printed in the README, and server.listen %s is not a loopback address; make a secret with `jwtd client secret`", cfg.Server.Listen)
		}
	}
	return nil
}

// isLoopback reports whether host is a loopback IP or localhost.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// serve runs the server until ctx is done, then shuts down gracefully:
// newApp builds it, run serves, close stops it whichever way run ended.
func serve(ctx context.Context, e *env) error {
	cfg, warnings, err := e.config()
	if err != nil {
		return err
	}
	if err := checkDevClients(cfg); err != nil {
		return err
	}
	log := e.logger()
	for _, w := range warnings {
		log.Warn(w)
	}
	for _, c := range cfg.Clients {
		if c.SecretHash == devSecretHash {
			log.Warn("DEVELOPMENT CLIENT ENABLED: client " + c.ID + " uses the secret published in the README; anyone can open sessions. Never deploy this config.yaml.")
		}
	}
	a, err := newApp(ctx, cfg, e)
	if err != nil {
		return err
	}
	runErr := a.run(ctx)
	return errors.Join(runErr, a.close(ctx))
}
