package clients

// The grants a client can hold: what it may do, not an OAuth grant type.
const (
	GrantSessions          = "sessions"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantIntrospect        = "introspect"
	GrantAdmin             = "admin"
)

// Grants lists every grant, for configuration validation.
var Grants = []string{GrantSessions, GrantRefreshToken, GrantClientCredentials, GrantIntrospect, GrantAdmin}

// Client is a configured caller. A nil Secret makes it public.
type Client struct {
	ID        string
	Secret    *SecretHash
	Grants    []string
	Scopes    []string
	Audiences []string
}

// Confidential reports whether c has a secret.
func (c *Client) Confidential() bool { return c.Secret != nil }

// Has reports whether c holds grant.
func (c *Client) Has(grant string) bool {
	for _, g := range c.Grants {
		if g == grant {
			return true
		}
	}
	return false
}
