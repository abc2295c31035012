// Command spa serves the example SPA on its own origin, with the
// browser client at /jwtd.js and a login backend at /api/login that opens
// a session with jwtd for the page's PKCE challenge ("delivery": "code").
//
// With jwtd on the shipped config.yaml (development clients), from the
// repository root:
//
//	JWTD_CORS_ALLOWED_ORIGINS=http://localhost:3000 jwtd serve
//	EXAMPLE_BACKEND_SECRET=<dev-backend's secret> go run ./examples/spa
//
// and open http://localhost:3000 (localhost, not 127.0.0.1: the refresh
// cookie is SameSite=Strict, and localhost:3000 and localhost:8080 are one
// site). The backend here signs in anyone by name; a real one checks a
// password first.
package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

//go:embed index.html app.js
var static embed.FS

func main() {
	listen := flag.String("listen", "127.0.0.1:3000", "address to serve the SPA on")
	jwtd := flag.String("jwtd", "http://localhost:8080", "jwtd's base URL (its issuer)")
	module := flag.String("module", "browser/jwtd.js", "path of the browser client module")
	clientID := flag.String("backend-client", "dev-backend", "jwtd client the backend authenticates as (secret: $EXAMPLE_BACKEND_SECRET)")
	appID := flag.String("app-client", "dev-app", "public jwtd client the sessions are for")
	flag.Parse()
	secret := os.Getenv("EXAMPLE_BACKEND_SECRET")
	if secret == "" {
		log.Fatal("spa: EXAMPLE_BACKEND_SECRET is not set (the secret of -backend-client)")
	}
	if _, err := os.Stat(*module); err != nil {
		log.Fatalf("spa: -module: %v (run from the repository root)", err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /jwtd.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, *module)
	})
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"jwtd": *jwtd})
	})
	mux.HandleFunc("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ User, Challenge string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil || in.User == "" {
			http.Error(w, "want {user, challenge}", http.StatusBadRequest)
			return
		}
		body, _ := json.Marshal(map[string]string{"sub": in.User, "client_id": *appID, "scope": "read",
			"delivery": "code", "code_challenge": in.Challenge, "code_challenge_method": "S256"})
		req, _ := http.NewRequestWithContext(r.Context(), "POST", *jwtd+"/v1/sessions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(*clientID, secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, "jwtd unreachable", http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(os.Stderr, "spa: serving on http://%s (open it as http://localhost:<port>), jwtd at %s\n", *listen, *jwtd)
	log.Fatal(srv.ListenAndServe())
}
