package handlers

import (
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
)

// jwks serves the public keys with an entity tag, so verifiers revalidate
// cheaply (RFC 9110 §13.1.2), and a max-age shorter than publish_ahead, so
// every cache has seen a key before it signs.
func (s *Server) jwks(c echo.Context) error {
	body, tag := s.opts.AccessKeys.JWKS()
	h := c.Response().Header()
	h["Cache-Control"] = s.publicCache // shared, never modified
	h["Etag"] = s.etagValue(tag)       // ETag, canonical
	publicCORS(h)
	if etagMatches(header(c.Request().Header, "If-None-Match"), tag) {
		return c.NoContent(http.StatusNotModified)
	}
	return writeJSON(c, body)
}

// etagValue is the ETag header value of tag, made once per key set rather
// than on every request.
func (s *Server) etagValue(tag string) []string {
	if v := s.jwksETag.Load(); v != nil && (*v)[0] == tag {
		return *v
	}
	v := []string{tag}
	s.jwksETag.Store(&v)
	return v
}

// writeJSON answers 200 with body, JSON already encoded, as c.Blob
// would, without its Get and Set of the Content-Type.
func writeJSON(c echo.Context, body []byte) error {
	res := c.Response()
	res.Header()[echo.HeaderContentType] = jsonType
	res.WriteHeader(http.StatusOK)
	_, err := res.Write(body)
	return err
}

// Header values shared by every answer that sets them: net/http copies a
// handler's header before it writes, and nothing in jwtd or Echo changes a
// value in place (Add appends to a full slice, which copies it).
var (
	anyOrigin   = []string{"*"}
	jsonType    = []string{echo.MIMEApplicationJSON}
	noStoreVals = []string{"no-store"}
	noCacheVals = []string{"no-cache"}
)

// publicCORS lets any page read a public document, unless the CORS
// middleware already answered a configured origin (with credentials, where
// "*" is not allowed).
func publicCORS(h http.Header) {
	if len(h[echo.HeaderAccessControlAllowOrigin]) == 0 {
		h[echo.HeaderAccessControlAllowOrigin] = anyOrigin
	}
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 §13.1.2).
func etagMatches(header, tag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

// metadata is RFC 8414 authorization server metadata, also served as the
// OpenID Connect discovery document so libraries that discover jwks_uri
// from the issuer configure themselves.
type metadataDoc struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	RevocationEndpoint               string   `json:"revocation_endpoint"`
	IntrospectionEndpoint            string   `json:"introspection_endpoint"`
	GrantTypesSupported              []string `json:"grant_types_supported"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	TokenEndpointAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	ScopesSupported                  []string `json:"scopes_supported,omitempty"`
	ServiceDocumentation             string   `json:"service_documentation,omitempty"`
}

func (s *Server) metadata(c echo.Context) error {
	iss := strings.TrimSuffix(s.opts.Tokens.Issuer, "/")
	doc := metadataDoc{
		Issuer:                           s.opts.Tokens.Issuer,
		JWKSURI:                          iss + "/.well-known/jwks.json",
		TokenEndpoint:                    iss + "/oauth/token",
		RevocationEndpoint:               iss + "/oauth/revoke",
		IntrospectionEndpoint:            iss + "/oauth/introspect",
		GrantTypesSupported:              []string{"refresh_token", "client_credentials"},
		ResponseTypesSupported:           []string{},
		TokenEndpointAuthMethods:         []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethods:    []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethods: []string{"client_secret_basic", "client_secret_post"},
		IDTokenSigningAlgValuesSupported: s.algorithms(),
		SubjectTypesSupported:            []string{"public"},
		ScopesSupported:                  s.scopes(),
	}
	h := c.Response().Header()
	h["Cache-Control"] = s.publicCache // shared, never modified
	publicCORS(h)
	return c.JSON(http.StatusOK, doc)
}

// algorithms lists the algorithms of the published keys: an algorithm
// change leaves older keys verifying until they are gone.
func (s *Server) algorithms() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range s.opts.AccessKeys.List() {
		if !seen[k.Algorithm] {
			seen[k.Algorithm] = true
			out = append(out, k.Algorithm)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) scopes() []string {
	seen := map[string]bool{}
	var out []string
	for _, cl := range s.opts.Clients {
		for _, sc := range cl.Scopes {
			if !seen[sc] {
				seen[sc] = true
				out = append(out, sc)
			}
		}
	}
	sort.Strings(out)
	return out
}
