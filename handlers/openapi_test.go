package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"go.yaml.in/yaml/v3"

	"github.com/jwtd/jwtd/handlers"
)

// contractPath is the OpenAPI document every handler test is checked against.
const contractPath = "../docs/openapi.yaml"

var contract struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// loadContract loads and validates docs/openapi.yaml once per test binary.
func loadContract(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	contract.once.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(contractPath)
		if err != nil {
			contract.err = fmt.Errorf("load %s: %w", contractPath, err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			contract.err = fmt.Errorf("validate %s: %w", contractPath, err)
			return
		}
		// The document's server is the issuer's host; the tests send their
		// requests to httptest's, so routes are matched on the path alone.
		routed := *doc
		routed.Servers = nil
		// kin-openapi's OpenAPI 3.1 path compiles a JSON Schema 2020-12
		// validator on every call (about 4 ms, ten times that under -race),
		// too slow for the thousands of exchanges the handler tests make,
		// some from 50 goroutines at once against Redis timeouts. Its 3.0
		// validator is fast and enforces every keyword the document uses;
		// TestOpenAPIKeywords keeps the document to those keywords.
		routed.OpenAPI = "3.0.3"
		router, err := gorillamux.NewRouter(&routed)
		if err != nil {
			contract.err = fmt.Errorf("route %s: %w", contractPath, err)
			return
		}
		contract.doc, contract.router = &routed, router
	})
	if contract.err != nil {
		t.Fatal(contract.err)
	}
	return contract.doc, contract.router
}

// checkOne runs one contract check at a time. The check costs CPU, and
// TestConcurrentRefreshOnRedis races 50 refreshes against a 300 ms Redis
// deadline on a 2-core machine: one at a time, the checks never take more
// than one core from the handlers still in flight.
var checkOne sync.Mutex

// validateExchange checks one request and its answer against the document.
//
// The answer is always checked: its status must be documented for the
// operation (an undocumented one fails, 304 included), and its headers and
// body must match that response.
//
// The request is checked only when jwtd accepted it (a status below 400):
// the document may never refuse what jwtd accepts. A refused request is
// often refused on purpose (hostile bodies, wrong content types, missing
// fields), and then its 4xx answer, not the request, is what must match.
func validateExchange(t testing.TB, hr *http.Request, body string, status int, header http.Header, resBody []byte) error {
	t.Helper()
	doc, router := loadContract(t)
	ctx := context.Background()
	r := hr.Clone(ctx)
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
	opts := &openapi3filter.Options{AuthenticationFunc: credentialPresent, IncludeResponseStatus: true, MultiError: true}

	if r.Method == http.MethodOptions {
		// The CORS layer answers every OPTIONS request, on any path, as a
		// preflight; the document lists no OPTIONS operation.
		if status != http.StatusNoContent || len(resBody) != 0 {
			return fmt.Errorf("OPTIONS answered %d with %d body bytes, want 204 and no body", status, len(resBody))
		}
		return nil
	}
	route, params, err := router.FindRoute(r)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return validateGeneric(ctx, doc, r, opts, "NotFound", http.StatusNotFound, status, header, resBody)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return validateGeneric(ctx, doc, r, opts, "MethodNotAllowed", http.StatusMethodNotAllowed, status, header, resBody)
	case err != nil:
		return fmt.Errorf("find route: %w", err)
	}

	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
	if status < 400 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("jwtd accepted a request the document refuses: %w", err)
		}
	}
	return validateResponse(ctx, in, status, header, resBody)
}

// validateGeneric checks an answer for a path or method the document does
// not list against one of its shared responses: the 404 or 405 named, or the
// 413 that the body limit, which runs before routing, gives any request.
func validateGeneric(ctx context.Context, doc *openapi3.T, r *http.Request, opts *openapi3filter.Options, name string, want, status int, header http.Header, resBody []byte) error {
	if status != want && status != http.StatusRequestEntityTooLarge {
		return fmt.Errorf("%s %s is not in the document, so it must be %d (or 413), got %d", r.Method, r.URL.Path, want, status)
	}
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(openapi3.WithStatus(want, doc.Components.Responses[name]),
		openapi3.WithStatus(http.StatusRequestEntityTooLarge, doc.Components.Responses["PayloadTooLarge"]))
	route := &routers.Route{Spec: doc, PathItem: &openapi3.PathItem{}, Method: r.Method, Operation: op}
	in := &openapi3filter.RequestValidationInput{Request: r, Route: route, Options: opts}
	return validateResponse(ctx, in, status, header, resBody)
}

func validateResponse(ctx context.Context, in *openapi3filter.RequestValidationInput, status int, header http.Header, resBody []byte) error {
	ref := in.Route.Operation.Responses.Status(status)
	if ref == nil {
		return fmt.Errorf("status %d is not documented for %s %s", status, in.Route.Method, in.Route.Path)
	}
	if len(ref.Value.Content) == 0 && len(resBody) != 0 {
		return fmt.Errorf("status %d is documented without a body, got %d bytes", status, len(resBody))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: in.Options}
	out.SetBodyBytes(resBody)
	return openapi3filter.ValidateResponse(ctx, out)
}

// credentialPresent is the AuthenticationFunc: it accepts any credential
// (the handlers decide authentication) but requires the one a security
// requirement names to be there, so an accepted request shows that the
// document lists the way it authenticated.
func credentialPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r, s := in.RequestValidationInput.Request, in.SecurityScheme
	switch {
	case s.Type == "http":
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, s.Scheme) {
			return fmt.Errorf("no %s Authorization for %s", s.Scheme, in.SecuritySchemeName)
		}
	case s.Type == "apiKey" && s.In == "cookie":
		if _, err := r.Cookie(s.Name); err != nil {
			return fmt.Errorf("no cookie %s for %s", s.Name, in.SecuritySchemeName)
		}
	default:
		return fmt.Errorf("security scheme %s of type %s is not checked by this test", in.SecuritySchemeName, s.Type)
	}
	return nil
}

// keywordsOutside30 are JSON Schema keywords OpenAPI 3.1 allows that
// kin-openapi's 3.0 validator, which the tests use, would silently ignore.
var keywordsOutside30 = map[string]bool{
	"const": true, "if": true, "then": true, "else": true, "prefixItems": true, "contains": true,
	"minContains": true, "maxContains": true, "patternProperties": true, "dependentSchemas": true,
	"dependentRequired": true, "propertyNames": true, "unevaluatedItems": true, "unevaluatedProperties": true,
	"$defs": true, "$dynamicRef": true, "$anchor": true, "contentSchema": true,
}

// TestOpenAPIKeywords fails when the document uses a schema keyword the
// contract checks would not enforce (see loadContract), or a type list.
func TestOpenAPIKeywords(t *testing.T) {
	loadContract(t) // loads and validates it as OpenAPI 3.1
	raw, err := os.ReadFile(contractPath)
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatalf("yaml.Unmarshal(%s): %v", contractPath, err)
	}
	var walk func(path string, node any, names bool)
	walk = func(path string, node any, names bool) {
		switch n := node.(type) {
		case map[string]any:
			for k, v := range n {
				if !names && keywordsOutside30[k] {
					t.Errorf("%s: %s%s uses %q, which the contract checks do not enforce", contractPath, path, "/"+k, k)
				}
				if !names && k == "type" {
					if _, ok := v.(string); !ok {
						t.Errorf("%s: %s/type is %v, want a single type name", contractPath, path, v)
					}
				}
				// The keys of properties, headers, responses, paths … are names, not keywords.
				walk(path+"/"+k, v, !names && nameMaps[k])
			}
		case []any:
			for i, v := range n {
				walk(fmt.Sprintf("%s/%d", path, i), v, false)
			}
		}
	}
	walk("", root, false)
}

// nameMaps are the document's maps whose keys are names chosen by the
// document (a property called "contains" is not the keyword).
var nameMaps = map[string]bool{
	"paths": true, "properties": true, "headers": true, "responses": true, "schemas": true, "parameters": true,
	"securitySchemes": true, "content": true, "variables": true, "encoding": true,
}

// echoParam matches an Echo path parameter, ":sub".
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestOpenAPIRoutes fails when a route jwtd serves is missing from the
// document, or the document describes one jwtd does not serve.
func TestOpenAPIRoutes(t *testing.T) {
	doc, _ := loadContract(t)
	h := newHarness(t, func(_ *harness, o *handlers.Options) { o.MetricsHandler = http.NotFoundHandler() })
	served := map[string]bool{}
	for _, rt := range h.srv.Routes() {
		method, path, _ := strings.Cut(rt, " ")
		served[method+" "+echoParam.ReplaceAllString(path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, rt := range sortedKeys(served) {
		if !documented[rt] {
			t.Errorf("Routes(): %s is served, want it in %s", rt, contractPath)
		}
	}
	for _, rt := range sortedKeys(documented) {
		if !served[rt] {
			t.Errorf("%s describes %s, want it among Routes() %v", contractPath, rt, sortedKeys(served))
		}
	}
	if len(served) == 0 {
		t.Fatalf("Routes(): none")
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIValidatorCatches shows the hook can fail: each row is an
// exchange that contradicts the document.
func TestOpenAPIValidatorCatches(t *testing.T) {
	jsonHeader := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"abc"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	const tokenBody = `{"access_token":"a","token_type":"Bearer","expires_in":900}`
	tests := []struct {
		name      string
		method    string
		path      string
		reqHeader map[string]string
		reqBody   string
		status    int
		header    http.Header
		body      string
	}{
		{name: "undocumented status", method: "GET", path: "/healthz", status: 418, header: jsonHeader(), body: `{"status":"ok"}`},
		{name: "undocumented 304", method: "GET", path: "/.well-known/openid-configuration", status: 304, header: http.Header{"X-Request-Id": {"abc"}}},
		{name: "body off schema", method: "GET", path: "/healthz", status: 200, header: jsonHeader(), body: `{"status":"fine"}`},
		{name: "missing Cache-Control on a token response", method: "POST", path: "/v1/refresh", reqHeader: map[string]string{"Content-Type": "application/json"},
			reqBody: `{"refresh_token":"x"}`, status: 200, header: jsonHeader("Pragma", "no-cache"), body: tokenBody},
		{name: "missing X-Request-Id", method: "GET", path: "/healthz", status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: `{"status":"ok"}`},
		{name: "error body with an extra field", method: "POST", path: "/v1/refresh", status: 400, header: jsonHeader("Cache-Control", "no-store"),
			body: `{"error":"invalid_grant","error_description":"x","token":"y"}`},
		{name: "error code not documented for the route", method: "POST", path: "/v1/refresh", status: 400, header: jsonHeader("Cache-Control", "no-store"),
			body: `{"error":"invalid_scope","error_description":"x"}`},
		{name: "401 without a challenge", method: "GET", path: "/v1/session", status: 401, header: jsonHeader("Cache-Control", "no-store"),
			body: `{"error":"invalid_token","error_description":"token expired"}`},
		{name: "503 without Retry-After", method: "GET", path: "/v1/session", status: 503, header: jsonHeader("Cache-Control", "no-store"),
			body: `{"error":"temporarily_unavailable","error_description":"x"}`},
		{name: "body on a 204", method: "POST", path: "/v1/logout/all", reqHeader: map[string]string{"Authorization": "Bearer x"}, status: 204,
			header: http.Header{"Cache-Control": {"no-store"}, "Set-Cookie": {"a=; Max-Age=0"}, "X-Request-Id": {"abc"}}, body: `{}`},
		{name: "accepted request the document refuses", method: "POST", path: "/v1/refresh", reqHeader: map[string]string{"Content-Type": "application/json"},
			reqBody: `{"refresh_token":"x","extra":1}`, status: 200, header: jsonHeader("Cache-Control", "no-store", "Pragma", "no-cache"), body: tokenBody},
		{name: "accepted without the documented credential", method: "GET", path: "/v1/session", status: 200,
			header: jsonHeader("Cache-Control", "no-store", "Pragma", "no-cache"),
			body:   `{"active":true,"sub":"a","client_id":"c","aud":["api"],"exp":1,"iat":1,"auth_time":1,"claims":{}}`},
		{name: "unknown path answered 200", method: "GET", path: "/nope", status: 200, header: jsonHeader(), body: `{}`},
		{name: "OPTIONS answered with a body", method: "OPTIONS", path: "/v1/refresh", status: 200, header: jsonHeader(), body: `{}`},
		{name: "wrong method answered 404", method: "GET", path: "/v1/sessions", status: 404, header: jsonHeader("Cache-Control", "no-store"),
			body: `{"error":"invalid_request","error_description":"no such endpoint"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.reqBody))
			for k, v := range tt.reqHeader {
				r.Header.Set(k, v)
			}
			err := validateExchange(t, r, tt.reqBody, tt.status, tt.header, []byte(tt.body))
			if err == nil {
				t.Fatalf("validateExchange(%s %s, %d %s): no error, want a mismatch", tt.method, tt.path, tt.status, tt.body)
			}
			t.Logf("caught: %v", err)
		})
	}

	// And a matching exchange passes, so the rows above fail for their reason.
	r := httptest.NewRequest("GET", "/healthz", nil)
	if err := validateExchange(t, r, "", 200, jsonHeader(), []byte(`{"status":"ok"}`)); err != nil {
		t.Fatalf("validateExchange(GET /healthz, 200 ok): %v", err)
	}
}
