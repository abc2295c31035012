package clients

import (
	"slices"
	"strings"
)

// NarrowScope parses an RFC 6749 §3.3 scope and checks that every token is
// in allowed. It returns the scope normalised: deduplicated, in request
// order. ErrScopeSyntax refuses a malformed scope, ErrScopeExceeds a token
// not in allowed.
func NarrowScope(requested string, allowed []string) (string, error) {
	if requested == "" {
		return "", nil
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, sc := range strings.Split(requested, " ") {
		if !isScopeToken(sc) {
			return "", ErrScopeSyntax
		}
		if !ok[sc] {
			return "", ErrScopeExceeds
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return strings.Join(out, " "), nil
}

// isScopeToken checks scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

// KeepScope returns the tokens of the scope granted that are in allowed.
func KeepScope(granted string, allowed []string) string {
	var out []string
	for _, sc := range strings.Fields(granted) {
		if slices.Contains(allowed, sc) {
			out = append(out, sc)
		}
	}
	return strings.Join(out, " ")
}

// allowedAudiences is what c may ask for: its audiences, or
// defaultAudience (tokens.default_audience) for a client without its own.
func (c *Client) allowedAudiences(defaultAudience []string) []string {
	if len(c.Audiences) == 0 {
		return defaultAudience
	}
	return c.Audiences
}

// Audience picks the access token's audience at login: the requested one,
// inside what c may ask for (ErrAudienceExceeds beyond it); when none is
// requested, defaultAudience if c may have it, else c's own audiences.
func (c *Client) Audience(requested, defaultAudience []string) ([]string, error) {
	allowed := c.allowedAudiences(defaultAudience)
	if len(requested) == 0 {
		if subset(defaultAudience, allowed) {
			return defaultAudience, nil
		}
		return allowed, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range requested {
		if a == "" || !subset([]string{a}, allowed) {
			return nil, ErrAudienceExceeds
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

func subset(a, of []string) bool {
	for _, x := range a {
		if !slices.Contains(of, x) {
			return false
		}
	}
	return true
}

// Narrow cuts a session's scope and access audience down to what c may
// have now: its scopes, and its audiences (defaultAudience for a client
// without its own). A client narrowed in the config narrows its sessions
// at their next refresh, and the new refresh token carries the narrowed
// set, so nothing a client lost survives a refresh (RFC 6749 §6: the new
// scope must not exceed the original grant, nor, here, the client's). A
// session left with no audience is ErrNoAudienceLeft.
func (c *Client) Narrow(granted string, audience, defaultAudience []string) (scope string, aud []string, err error) {
	allowed := c.allowedAudiences(defaultAudience)
	for _, a := range audience {
		if slices.Contains(allowed, a) {
			aud = append(aud, a)
		}
	}
	if len(aud) == 0 {
		return "", nil, ErrNoAudienceLeft
	}
	return KeepScope(granted, c.Scopes), aud, nil
}
