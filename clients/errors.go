package clients

import "errors"

// Each reason a caller handles differently has its own sentinel.
var (
	// ErrSecretHash is returned by ParseSecretHash for any form it does not take.
	ErrSecretHash = errors.New("clients: secret_hash must be sha256:<64 lowercase hex>, a bcrypt ($2a$, $2b$, $2y$) or an argon2id ($argon2id$) PHC string")
	// ErrSecretHashParams is returned by ParseSecretHash for a bcrypt or
	// argon2id hash whose parameters are outside jwtd's bounds.
	ErrSecretHashParams = errors.New("clients: secret_hash parameters out of bounds")
	// ErrBusy refuses a secret check when every slow-hash slot stayed
	// taken for the registry's wait: the limit is the server's capacity,
	// not the caller's rate.
	ErrBusy = errors.New("clients: too many slow secret checks in progress")

	// ErrScopeSyntax refuses a scope that is not a space-separated list
	// of RFC 6749 §3.3 scope tokens.
	ErrScopeSyntax = errors.New("clients: scope is not a list of scope tokens")
	// ErrScopeExceeds refuses a scope token the client may not ask for.
	ErrScopeExceeds = errors.New("clients: scope exceeds what the client may ask for")
	// ErrAudienceExceeds refuses an audience the client may not ask for.
	ErrAudienceExceeds = errors.New("clients: audience exceeds what the client may ask for")
	// ErrNoAudienceLeft refuses a session none of whose audiences its
	// client may have any more.
	ErrNoAudienceLeft = errors.New("clients: the client may no longer have any of the session's audiences")
)

// HashError is ParseSecretHash's error. It wraps ErrSecretHash or
// ErrSecretHashParams, and Problem says what is wrong in words that follow
// the config key's name, so a caller can name the key without cutting up
// this package's error text.
type HashError struct {
	Err    error  // ErrSecretHash or ErrSecretHashParams
	Detail string // for ErrSecretHashParams: the parameter and its bounds
}

// problems are the fixed texts of HashError.Problem, by sentinel.
var problems = map[error]string{
	ErrSecretHash:       "must be sha256:<64 lowercase hex>, a bcrypt ($2a$, $2b$, $2y$) or an argon2id ($argon2id$) PHC string",
	ErrSecretHashParams: "parameters out of bounds",
}

func (e *HashError) Error() string {
	if e.Detail == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Detail
}

func (e *HashError) Unwrap() error { return e.Err }

// Problem is what is wrong with the secret_hash, e.g. "parameters out of
// bounds: bcrypt cost 9, want 10 to 13".
func (e *HashError) Problem() string {
	if e.Detail == "" {
		return problems[e.Err]
	}
	return problems[e.Err] + ": " + e.Detail
}
