package jwks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// metadataPaths are where Discover looks, in order: RFC 8414 authorization
// server metadata, then OpenID Connect Discovery 1.0 §4. Both are appended
// to the issuer, as jwtd serves them.
var metadataPaths = []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}

// Discover reads the issuer's metadata and returns its jwks_uri. It tries
// issuer + "/.well-known/oauth-authorization-server" and, if that answers
// anything but 200, issuer + "/.well-known/openid-configuration". The
// metadata's issuer must equal issuer exactly (RFC 8414 §3.3): otherwise a
// server could hand out another issuer's keys as its own. The issuer and
// the jwks_uri must be https, or http on a loopback host. client nil: a
// client with a 10 s timeout.
func Discover(ctx context.Context, client *http.Client, issuer string) (jwksURI string, err error) {
	if _, err := checkURL(issuer); err != nil {
		return "", fmt.Errorf("issuer: %w", err)
	}
	if client == nil {
		var tr *http.Transport
		client, tr = defaultClient()
		defer tr.CloseIdleConnections()
	}
	base := strings.TrimSuffix(issuer, "/") // OpenID Connect Discovery 1.0 §4.1
	var answers []string
	for _, path := range metadataPaths {
		res, body, err := get(ctx, client, base+path, "application/json", "")
		if err != nil {
			return "", fmt.Errorf("metadata %s: %w", path, err)
		}
		if res.StatusCode != http.StatusOK {
			answers = append(answers, fmt.Sprintf("%s: status %d", path, res.StatusCode))
			continue
		}
		jwksURI, err := jwksURIOf(body, issuer)
		if err != nil {
			return "", fmt.Errorf("metadata %s: %w", path, err)
		}
		return jwksURI, nil
	}
	return "", fmt.Errorf("%w: no metadata (%s)", ErrFetch, strings.Join(answers, "; "))
}

// jwksURIOf reads the issuer and jwks_uri members of a metadata document.
// Member names are matched exactly, not case-folded as encoding/json does
// for struct fields.
func jwksURIOf(body []byte, issuer string) (string, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var got, uri string
	if raw, ok := doc["issuer"]; !ok || json.Unmarshal(raw, &got) != nil {
		return "", fmt.Errorf("%w: no string issuer", ErrMalformed)
	}
	if got != issuer {
		return "", fmt.Errorf("%w: %q, want %q", ErrIssuerMismatch, got, issuer)
	}
	if raw, ok := doc["jwks_uri"]; !ok || json.Unmarshal(raw, &uri) != nil {
		return "", fmt.Errorf("%w: no string jwks_uri", ErrMalformed)
	}
	if _, err := checkURL(uri); err != nil {
		return "", fmt.Errorf("jwks_uri: %w", err)
	}
	return uri, nil
}
